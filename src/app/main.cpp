// The sipwarden command line (CLI11): serve, check-config, user, registrations, pki, cert, parse,
// version.
// Errors name what is wrong and how to fix it, and exit non-zero (2 for usage and configuration).
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.hpp"
#include "config/config.hpp"
#include "server/server.hpp"
#include "storage/sqlite_store.hpp"

using namespace sipwarden;

int main(int argc, char** argv) {
  CLI::App app{"sipwarden " SIPWARDEN_VERSION " — a secure SIP registrar and proxy", "sipwarden"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");

  // serve
  auto* serve = app.add_subcommand("serve", "run the server (embedded defaults without a config file)");
  std::optional<std::string> configFile, dataDir, logLevel, logFormat;
  std::vector<std::string> listen, domains;
  unsigned workers = 0;
  bool demoUser = false;
  serve->add_option("--config,-c", configFile, "TOML configuration file")->check(CLI::ExistingFile);
  serve->add_option("--data-dir", dataDir, "data directory (default ./data)");
  serve->add_option("--listen,-l", listen, "listener, repeatable: udp:127.0.0.1:5060, tcp:[::]:5060, udp:5060");
  serve->add_option("--domain,-d", domains, "served domain, repeatable (default: the host name)");
  serve->add_option("--log-level", logLevel, "trace, debug, info, warn, error, critical, off");
  serve->add_option("--log-format", logFormat, "text or json");
  serve->add_option("--workers", workers, "worker threads (default: number of cores)");
  serve->add_flag("--demo-user", demoUser, "create (on first run) and print a demo user and its password");

  // check-config
  auto* check = app.add_subcommand("check-config", "validate a configuration file");
  std::string checkFile;
  check->add_option("file", checkFile, "TOML configuration file")->required();

  // user
  app::AdminContext admin;
  auto addAdminOptions = [&](CLI::App* cmd) {
    cmd->add_option("--config,-c", admin.configFile, "TOML configuration file (for data_dir and realms)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--data-dir", admin.dataDir, "data directory (default ./data)");
    cmd->add_option("--domain,-d", admin.domains, "served domain, repeatable (as for serve)");
  };
  auto* user = app.add_subcommand("user", "manage users (passwords are kept only as HA1 hashes)");
  user->require_subcommand(1);
  app::UserOptions uo;
  auto userCmd = [&](const char* name, const char* help, bool needsPassword) {
    auto* c = user->add_subcommand(name, help);
    c->add_option("address", uo.address, "user@domain")->required();
    if (needsPassword) {
      c->add_flag("--password-stdin", uo.passwordStdin, "read the password from the first line of standard input");
      c->add_option("--password", uo.password, "the password (visible in the process list; prefer --password-stdin)");
      c->add_option("--realm", uo.realm, "digest realm (default: the domain's realm)");
    }
    addAdminOptions(c);
    return c;
  };
  auto* userAdd = userCmd("add", "add a user", true);
  auto* userPasswd = userCmd("passwd", "change a user's password", true);
  auto* userRemove = userCmd("remove", "remove a user and its registrations", false);
  auto* userImport = user->add_subcommand("import", "add many users: FILE has \"user@domain password\" lines");
  std::string importFile;
  userImport->add_option("file", importFile, "file ('-' reads standard input)")->required();
  addAdminOptions(userImport);
  auto* userList = user->add_subcommand("list", "list users");
  bool json = false;
  userList->add_flag("--json", json, "JSON output");
  addAdminOptions(userList);

  // registrations
  auto* regs = app.add_subcommand("registrations", "list current registrations (bindings)");
  std::optional<std::string> aor;
  regs->add_flag("--json", json, "JSON output");
  regs->add_option("--aor", aor, "only this address-of-record (user@domain)");
  addAdminOptions(regs);

  // pki: a small CA (src/tls/pki.hpp)
  auto* pki = app.add_subcommand("pki", "a small CA: root and intermediate CAs, server and client certificates, CRL");
  pki->require_subcommand(1);
  auto addValidity = [](CLI::App* cmd, app::ValidityArgs& v, const char* days) {
    cmd->add_option("--days", v.days, days);
    cmd->add_option("--not-before", v.notBefore, "start of validity, ISO 8601 UTC: 2026-03-01T12:00:00Z or 2026-03-01");
    cmd->add_option("--not-after", v.notAfter, "end of validity, ISO 8601 UTC (instead of --days)");
  };
  app::PkiInitArgs pkiInitArgs;
  auto* pkiInit = pki->add_subcommand("init", "create a root CA, an intermediate CA and a server certificate");
  pkiInit->add_option("--domain,-d", pkiInitArgs.domains,
                      "name of the server certificate (DNS name or IP address), repeatable; the first is its CN")
      ->required();
  pkiInit->add_option("--out,-o", pkiInitArgs.outDir, "directory for the files (created if missing)")->required();
  addValidity(pkiInit, pkiInitArgs.validity,
              "server certificate validity in days (default 365; negative: already expired, for tests)");
  pkiInit->add_flag("--force", pkiInitArgs.force, "replace existing files (a new CA: certificates it issued before are no longer trusted)");
  app::PkiClientArgs pkiClientArgs;
  auto* pkiClient = pki->add_subcommand("client", "issue a client certificate (TLS clientAuth) from the intermediate CA");
  pkiClient->add_option("name", pkiClientArgs.name, "the certificate's CN; names the files NAME.crt, NAME-chain.crt, NAME.key")
      ->required();
  pkiClient->add_option("--ca-dir", pkiClientArgs.caDir, "directory made by `pki init`")->required();
  pkiClient->add_option("--out,-o", pkiClientArgs.outDir, "directory for the files (default: the CA directory)");
  addValidity(pkiClient, pkiClientArgs.validity, "validity in days (default 365; negative: already expired, for tests)");
  pkiClient->add_option("--email", pkiClientArgs.emails, "subjectAltName email address, repeatable");
  pkiClient->add_option("--sip-uri", pkiClientArgs.sipUris, "subjectAltName URI, e.g. sip:alice@example.com, repeatable");
  pkiClient->add_flag("--force", pkiClientArgs.force, "replace existing files");
  std::string revokeWhat, pkiCaDir;
  auto* pkiRevoke = pki->add_subcommand("revoke", "add a certificate to the intermediate CA's CRL (intermediate-ca.crl)");
  pkiRevoke->add_option("certificate", revokeWhat, "NAME (the CA directory's NAME.crt) or a certificate file")->required();
  pkiRevoke->add_option("--ca-dir", pkiCaDir, "directory made by `pki init`")->required();
  auto* pkiCrl = pki->add_subcommand("crl", "re-issue intermediate-ca.crl with a new next update (every < 30 days)");
  pkiCrl->add_option("--ca-dir", pkiCaDir, "directory made by `pki init`")->required();

  // cert status
  auto* cert = app.add_subcommand("cert", "the server's TLS certificates");
  cert->require_subcommand(1);
  auto* certStatus = cert->add_subcommand(
      "status", "show the certificates the server would present and their expiry (exit 1: expiring, expired or unusable)");
  certStatus->add_flag("--json", json, "JSON output");
  addAdminOptions(certStatus);

  // parse
  auto* parse = app.add_subcommand("parse", "parse SIP messages and show how they are understood");
  std::vector<std::string> files;
  bool stream = false, wire = false;
  parse->add_option("files", files, "files ('-' reads standard input)")->required();
  parse->add_flag("--stream", stream, "frame the input as a TCP/TLS byte stream");
  parse->add_flag("--wire", wire, "also print each message re-serialized");

  app.add_subcommand("version", "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  try {
    if (app.got_subcommand("version")) {
      std::cout << "sipwarden " << SIPWARDEN_VERSION << "\n";
      return 0;
    }
    if (parse->parsed()) return app::cmdParse(files, stream, wire);
    if (check->parsed()) return app::cmdCheckConfig(checkFile);
    if (userAdd->parsed()) return app::cmdUserAdd(admin, uo);
    if (userImport->parsed()) return app::cmdUserImport(admin, importFile);
    if (userPasswd->parsed()) return app::cmdUserPasswd(admin, uo);
    if (userRemove->parsed()) return app::cmdUserRemove(admin, uo);
    if (userList->parsed()) return app::cmdUserList(admin, json);
    if (regs->parsed()) return app::cmdRegistrations(admin, json, aor);
    if (pkiInit->parsed()) return app::cmdPkiInit(pkiInitArgs);
    if (pkiClient->parsed()) return app::cmdPkiClient(pkiClientArgs);
    if (pkiRevoke->parsed()) return app::cmdPkiRevoke(revokeWhat, pkiCaDir);
    if (pkiCrl->parsed()) return app::cmdPkiCrl(pkiCaDir);
    if (certStatus->parsed()) return app::cmdCertStatus(admin, json);
    if (serve->parsed()) {
      server::ServeOptions o;
      if (configFile) {
        o.config = config::loadConfigFile(*configFile);
        o.configFile = *configFile;
      }
      if (dataDir) o.config.dataDir = *dataDir;
      if (logLevel) {
        static const std::vector<std::string> kLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};
        if (std::find(kLevels.begin(), kLevels.end(), *logLevel) == kLevels.end()) {
          throw config::ConfigError("--log-level \"" + *logLevel +
                                    "\": expected trace, debug, info, warn, error, critical or off");
        }
        o.config.logLevel = *logLevel;
      }
      if (logFormat) {
        if (*logFormat != "text" && *logFormat != "json") {
          throw config::ConfigError("--log-format \"" + *logFormat + "\": expected text or json");
        }
        o.config.logFormat = *logFormat;
      }
      if (workers != 0) o.config.workers = workers;
      if (!listen.empty()) {
        o.config.listeners.clear();
        for (const std::string& l : listen) {
          for (auto& spec : config::parseListen(l, "--listen")) o.config.listeners.push_back(spec);
        }
      }
      if (!domains.empty()) {
        o.config.domains.clear();
        for (const std::string& d : domains) o.config.domains.push_back({config::lowerCase(d), config::lowerCase(d)});
      }
      o.demoUser = demoUser;
      return server::runServer(std::move(o));
    }
  } catch (const config::ConfigError& e) {
    std::cerr << "sipwarden: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const storage::StoreError& e) {
    std::cerr << "sipwarden: store error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sipwarden: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
