// `sipwarden user ...`, `sipwarden registrations` and `sipwarden check-config`: they open the
// same SQLite file as the server (WAL lets both work at once); a running server notices user
// changes within a second.
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "auth/digest.hpp"
#include "server/wall_clock.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "storage/sqlite_store.hpp"

namespace sipwarden::app {

namespace {

/// Splits "alice@example.com" (an optional "sip:" in front is accepted).
bool splitAddress(std::string_view text, std::string& user, std::string& domain) {
  if (text.substr(0, 4) == "sip:") text.remove_prefix(4);
  std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) return false;
  user = std::string(text.substr(0, at));
  domain = config::lowerCase(text.substr(at + 1));
  sip::HostKind kind;
  if (sip::parseHost(domain, kind) != nullptr) return false;
  for (char c : user) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '@' || c == ':' || c == '"' || c == 0x7f) return false;
  }
  return true;
}

std::unique_ptr<storage::SqliteStore> openStore(const config::Config& c) {
  std::error_code ec;
  std::filesystem::create_directories(c.dataDir, ec);
  if (ec) throw storage::StoreError("data directory " + c.dataDir.string() + ": cannot create: " + ec.message());
  return std::make_unique<storage::SqliteStore>(c.dataDir / "sipwarden.db");
}

/// Reads the password from the options or standard input; empty on error (reported).
std::optional<std::string> readPassword(const UserOptions& o, const char* cmd) {
  if (o.password && o.passwordStdin) {
    std::cerr << "sipwarden " << cmd << ": give --password or --password-stdin, not both\n";
    return std::nullopt;
  }
  std::string pw;
  if (o.password) {
    pw = *o.password;
  } else if (o.passwordStdin) {
    std::getline(std::cin, pw);
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  } else {
    std::cerr << "sipwarden " << cmd << ": a password is needed: --password-stdin (preferred) or --password\n";
    return std::nullopt;
  }
  if (pw.empty()) {
    std::cerr << "sipwarden " << cmd << ": the password is empty\n";
    return std::nullopt;
  }
  return pw;
}

std::string realmFor(const config::Config& c, const std::string& domain, const UserOptions& o) {
  if (o.realm) return *o.realm;
  if (const config::DomainConfig* d = c.findDomain(domain)) return d->realm;
  return domain;
}

void warnIfNotServed(const config::Config& c, const std::string& domain) {
  if (c.findDomain(domain) == nullptr) {
    std::cerr << "warning: domain " << domain << " is not among the served domains (";
    for (std::size_t i = 0; i < c.domains.size(); ++i) std::cerr << (i ? ", " : "") << c.domains[i].name;
    std::cerr << "); add it with --domain " << domain << " or [[domain]] name = \"" << domain << "\"\n";
  }
}

}  // namespace

config::Config AdminContext::load() const {
  config::Config c = configFile ? config::loadConfigFile(*configFile) : config::Config{};
  if (dataDir) c.dataDir = *dataDir;
  if (!domains.empty()) {
    c.domains.clear();
    for (const std::string& d : domains) c.domains.push_back({config::lowerCase(d), config::lowerCase(d)});
  }
  config::applyDefaults(c);
  return c;
}

int cmdUserAdd(const AdminContext& ctx, const UserOptions& o) {
  config::Config c = ctx.load();
  storage::UserRecord u;
  if (!splitAddress(o.address, u.user, u.domain)) {
    std::cerr << "sipwarden user add: \"" << o.address << "\" is not an address like alice@example.com\n";
    return 2;
  }
  auto pw = readPassword(o, "user add");
  if (!pw) return 2;
  warnIfNotServed(c, u.domain);
  u.realm = realmFor(c, u.domain, o);
  auth::Ha1Set h = auth::computeHa1Set(u.user, u.realm, *pw);
  u.ha1Md5 = h.md5;
  u.ha1Sha256 = h.sha256;
  u.ha1Sha512_256 = h.sha512_256;
  u.createdAt = u.updatedAt = server::unixSeconds();
  auto store = openStore(c);
  if (!store->addUser(u)) {
    std::cerr << "sipwarden user add: " << u.user << "@" << u.domain
              << " exists already; use `sipwarden user passwd` to change its password\n";
    return 1;
  }
  std::cout << "added " << u.user << "@" << u.domain << " (realm \"" << u.realm << "\")\n";
  return 0;
}

int cmdUserImport(const AdminContext& ctx, const std::string& file) {
  config::Config c = ctx.load();
  std::ifstream in;
  std::istream* src = &std::cin;
  if (file != "-") {
    in.open(file);
    if (!in) {
      std::cerr << "sipwarden user import: cannot read " << file << "\n";
      return 2;
    }
    src = &in;
  }
  std::vector<storage::UserRecord> users;
  std::string line;
  std::size_t lineNo = 0;
  std::int64_t now = server::unixSeconds();
  while (std::getline(*src, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    std::size_t sep = line.find_first_of(" \t", start);
    storage::UserRecord u;
    std::string password = sep == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", sep));
    if (!splitAddress(line.substr(start, sep - start), u.user, u.domain) || password.empty()) {
      std::cerr << "sipwarden user import: " << file << ":" << lineNo
                << ": expected \"user@domain password\" (nothing imported)\n";
      return 2;
    }
    u.realm = realmFor(c, u.domain, UserOptions{});
    auth::Ha1Set h = auth::computeHa1Set(u.user, u.realm, password);
    u.ha1Md5 = h.md5;
    u.ha1Sha256 = h.sha256;
    u.ha1Sha512_256 = h.sha512_256;
    u.createdAt = u.updatedAt = now;
    users.push_back(std::move(u));
  }
  auto store = openStore(c);
  std::size_t added = store->addUsers(users);
  std::cout << "imported " << added << " user(s)";
  if (added != users.size()) std::cout << "; " << users.size() - added << " existed already and were left as they are";
  std::cout << "\n";
  return 0;
}

int cmdUserPasswd(const AdminContext& ctx, const UserOptions& o) {
  config::Config c = ctx.load();
  std::string user, domain;
  if (!splitAddress(o.address, user, domain)) {
    std::cerr << "sipwarden user passwd: \"" << o.address << "\" is not an address like alice@example.com\n";
    return 2;
  }
  auto pw = readPassword(o, "user passwd");
  if (!pw) return 2;
  auto store = openStore(c);
  auto u = store->findUser(user, domain);
  if (!u) {
    std::cerr << "sipwarden user passwd: no user " << user << "@" << domain << "\n";
    return 1;
  }
  if (o.realm) u->realm = *o.realm;
  auth::Ha1Set h = auth::computeHa1Set(u->user, u->realm, *pw);
  u->ha1Md5 = h.md5;
  u->ha1Sha256 = h.sha256;
  u->ha1Sha512_256 = h.sha512_256;
  u->updatedAt = server::unixSeconds();
  store->updateUser(*u);
  std::cout << "password changed for " << user << "@" << domain << "\n";
  return 0;
}

int cmdUserRemove(const AdminContext& ctx, const UserOptions& o) {
  config::Config c = ctx.load();
  std::string user, domain;
  if (!splitAddress(o.address, user, domain)) {
    std::cerr << "sipwarden user remove: \"" << o.address << "\" is not an address like alice@example.com\n";
    return 2;
  }
  auto store = openStore(c);
  if (!store->removeUser(user, domain)) {
    std::cerr << "sipwarden user remove: no user " << user << "@" << domain << "\n";
    return 1;
  }
  std::cout << "removed " << user << "@" << domain << "\n";
  return 0;
}

int cmdUserList(const AdminContext& ctx, bool json) {
  config::Config c = ctx.load();
  auto store = openStore(c);
  auto users = store->listUsers();
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& u : users) {
      arr.push_back({{"user", u.user},
                     {"domain", u.domain},
                     {"realm", u.realm},
                     {"created_at", u.createdAt},
                     {"updated_at", u.updatedAt}});
    }
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  if (users.empty()) {
    std::cout << "no users; add one with: sipwarden user add alice@" << c.domains.front().name << " --password-stdin\n";
    return 0;
  }
  for (const auto& u : users) std::cout << u.user << "@" << u.domain << "  realm \"" << u.realm << "\"\n";
  return 0;
}

int cmdRegistrations(const AdminContext& ctx, bool json, const std::optional<std::string>& aor) {
  config::Config c = ctx.load();
  auto store = openStore(c);
  std::int64_t now = server::unixSeconds();
  auto bindings = store->loadBindings(now);
  if (aor) {
    std::string want = config::lowerCase(*aor);
    if (want.substr(0, 4) == "sip:") want = want.substr(4);
    std::erase_if(bindings, [&](const registrar::Binding& b) { return config::lowerCase(b.aor) != want; });
  }
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& b : bindings) {
      nlohmann::json j = {{"aor", b.aor},
                          {"contact", b.contact},
                          {"expires_in", b.expiresAt - now},
                          {"expires_at", b.expiresAt},
                          {"call_id", b.callId},
                          {"cseq", b.cseq},
                          {"received", b.received.toString()},
                          {"user_agent", b.userAgent}};
      if (b.q >= 0) j["q"] = b.q / 1000.0;
      if (!b.path.empty()) j["path"] = b.path;
      if (!b.instance.empty()) j["instance"] = b.instance;
      if (b.regId != 0) j["reg_id"] = b.regId;
      arr.push_back(j);
    }
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  if (bindings.empty()) {
    std::cout << "no registrations\n";
    return 0;
  }
  for (const auto& b : bindings) {
    std::cout << b.aor << "  " << b.contact << "  expires in " << (b.expiresAt - now) << " s  via "
              << b.received.toString();
    if (!b.userAgent.empty()) std::cout << "  \"" << b.userAgent << "\"";
    std::cout << "\n";
  }
  return 0;
}

int cmdCheckConfig(const std::string& file) {
  config::Config c = config::loadConfigFile(file);
  config::applyDefaults(c);
  std::cout << file << ": OK\n";
  std::cout << "  data_dir  " << c.dataDir.string() << "\n  workers   " << c.workers << "\n";
  for (const auto& l : c.listeners) std::cout << "  listen    " << l.toString() << "\n";
  for (const auto& d : c.domains) std::cout << "  domain    " << d.name << " (realm \"" << d.realm << "\")\n";
  return 0;
}

}  // namespace sipwarden::app
