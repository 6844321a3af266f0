// The subcommands of the sipwarden binary. Each returns the process exit code: 0 on success,
// 1 when the command ran and found a problem, 2 on a usage or configuration error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace sipwarden::app {

int cmdParse(const std::vector<std::string>& files, bool stream, bool wire);

/// Where the data directory and domains come from for the admin commands: --config, then
/// --data-dir / --domain flags, then the defaults (the same rules as `serve`).
struct AdminContext {
  std::optional<std::string> configFile;
  std::optional<std::string> dataDir;
  std::vector<std::string> domains;
  /// Loads the config (throws config::ConfigError).
  config::Config load() const;
};

struct UserOptions {
  std::string address;  ///< user@domain
  std::optional<std::string> password;
  bool passwordStdin = false;
  std::optional<std::string> realm;
  bool json = false;
};

int cmdUserAdd(const AdminContext& ctx, const UserOptions& o);
/// FILE ("-": standard input): one "user@domain password" per line; # comments. One transaction.
int cmdUserImport(const AdminContext& ctx, const std::string& file);
int cmdUserPasswd(const AdminContext& ctx, const UserOptions& o);
int cmdUserRemove(const AdminContext& ctx, const UserOptions& o);
int cmdUserList(const AdminContext& ctx, bool json);
int cmdRegistrations(const AdminContext& ctx, bool json, const std::optional<std::string>& aor);
int cmdCheckConfig(const std::string& file);

/// Validity options shared by the pki commands: --days N (negative: already expired), or
/// --not-before / --not-after as ISO 8601 UTC ("2026-03-01T12:00:00Z" or "2026-03-01").
struct ValidityArgs {
  std::optional<int> days;
  std::optional<std::string> notBefore, notAfter;
};

struct PkiInitArgs {
  std::vector<std::string> domains;
  std::string outDir;
  ValidityArgs validity;  ///< of the server certificate (default 365 days)
  bool force = false;
};

struct PkiClientArgs {
  std::string name;
  std::string caDir;
  std::optional<std::string> outDir;  ///< default: caDir
  ValidityArgs validity;
  std::vector<std::string> emails, sipUris;
  bool force = false;
};

/// `sipwarden pki init`: root CA, intermediate CA, server certificate (src/tls/pki.hpp).
int cmdPkiInit(const PkiInitArgs& a);
/// `sipwarden pki client NAME`: a client certificate from the intermediate CA in --ca-dir.
int cmdPkiClient(const PkiClientArgs& a);
/// `sipwarden pki revoke NAME|FILE`: adds the certificate to --ca-dir's intermediate-ca.crl.
int cmdPkiRevoke(const std::string& certificate, const std::string& caDir);
/// `sipwarden pki crl`: re-issues intermediate-ca.crl with a fresh nextUpdate.
int cmdPkiCrl(const std::string& caDir);
/// `sipwarden cert status`: which certificates the server would present and their expiry
/// status. 0: all valid and outside the warning window; 1: one expires within it, has expired, or
/// nothing configured is usable; 2: configuration error.
int cmdCertStatus(const AdminContext& ctx, bool json);

}  // namespace sipwarden::app
