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

}  // namespace sipwarden::app
