#include "config/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>
#include <thread>

#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "transport/websocket_policy.hpp"

namespace sipwarden::config {
std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = sip::chars::toLower(c);
  return out;
}

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) { throw ConfigError(where + ": " + what); }

std::string describe(const toml::node& n) {
  std::ostringstream os;
  if (n.is_string()) {
    os << '"' << n.as_string()->get() << '"';
  } else if (n.is_integer()) {
    os << n.as_integer()->get();
  } else if (n.is_boolean()) {
    os << (n.as_boolean()->get() ? "true" : "false");
  } else if (n.is_floating_point()) {
    os << n.as_floating_point()->get();
  } else if (n.is_array()) {
    os << "an array";
  } else if (n.is_table()) {
    os << "a table";
  } else {
    os << "a value";
  }
  return os.str();
}

// Reads tables while remembering which keys were used, so unknown keys can be reported.
class Reader {
 public:
  Reader(std::string file) : file_(std::move(file)) {}

  void checkKeys(const toml::table& t, std::string_view prefix, std::initializer_list<std::string_view> allowed) {
    for (auto&& [k, v] : t) {
      (void)v;
      if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(key(prefix, k.str()), "unknown key; expected one of: " + list);
      }
    }
  }

  std::string key(std::string_view prefix, std::string_view name) const {
    std::string k = file_ + ": ";
    if (!prefix.empty()) k += std::string(prefix) + ".";
    return k + std::string(name);
  }

  template <typename Int>
  void integer(const toml::table& t, std::string_view prefix, std::string_view name, Int& out, std::int64_t lo,
               std::int64_t hi) {
    const toml::node* n = t.get(name);
    if (n == nullptr) return;
    std::string k = key(prefix, name);
    if (!n->is_integer() || n->as_integer()->get() < lo || n->as_integer()->get() > hi) {
      fail(k + " = " + describe(*n), "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    out = static_cast<Int>(n->as_integer()->get());
  }

  void string(const toml::table& t, std::string_view prefix, std::string_view name, std::string& out,
              std::initializer_list<std::string_view> choices = {}) {
    const toml::node* n = t.get(name);
    if (n == nullptr) return;
    std::string k = key(prefix, name);
    std::string list;
    for (std::string_view c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
    if (!n->is_string())
      fail(k + " = " + describe(*n), choices.size() ? "expected one of " + list : "expected a string");
    std::string v = n->as_string()->get();
    if (choices.size() && std::find(choices.begin(), choices.end(), v) == choices.end()) {
      fail(k + " = \"" + v + "\"", "expected one of " + list);
    }
    out = v;
  }

  std::vector<std::string> strings(const toml::table& t, std::string_view prefix, std::string_view name) {
    std::vector<std::string> out;
    const toml::node* n = t.get(name);
    if (n == nullptr) return out;
    std::string k = key(prefix, name);
    const toml::array* a = n->as_array();
    if (a == nullptr) fail(k + " = " + describe(*n), "expected an array of strings, e.g. [\"udp:0.0.0.0:5060\"]");
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if (!e.is_string()) fail(k + "[" + std::to_string(i) + "] = " + describe(e), "expected a string");
      out.push_back(e.as_string()->get());
    }
    return out;
  }

  void boolean(const toml::table& t, std::string_view prefix, std::string_view name, bool& out) {
    const toml::node* n = t.get(name);
    if (n == nullptr) return;
    if (!n->is_boolean()) fail(key(prefix, name) + " = " + describe(*n), "expected true or false");
    out = n->as_boolean()->get();
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

bool validDomainName(std::string_view d) {
  sip::HostKind kind;
  return !d.empty() && sip::parseHost(d, kind) == nullptr;
}

}  // namespace

std::string ListenerConfig::toString() const {
  std::string s = lowerCase(transport::transportName(transport));
  s += ':';
  s += v6 ? "[" + address + "]" : address;
  s += ':';
  s += std::to_string(port);
  return s;
}

std::vector<ListenerConfig> parseListen(std::string_view text, std::string_view where) {
  const std::string bad = std::string(where) + " = \"" + std::string(text) + "\"";
  const std::string expected =
      "expected TRANSPORT:ADDRESS:PORT or TRANSPORT:PORT (udp, tcp, tls, ws, wss), e.g. udp:0.0.0.0:5060, tcp:[::1]:5060, "
      "wss:8443";
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) throw ConfigError(bad + ": " + expected);
  ListenerConfig l;
  if (!transport::parseTransportName(text.substr(0, colon), l.transport)) {
    throw ConfigError(bad + ": unknown transport \"" + std::string(text.substr(0, colon)) + "\"; " + expected);
  }
  std::string_view rest = text.substr(colon + 1);
  std::string_view addr;
  std::string_view portText;
  if (!rest.empty() && rest.front() == '[') {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      throw ConfigError(bad + ": " + expected);
    }
    addr = rest.substr(1, close - 1);
    portText = rest.substr(close + 2);
  } else {
    std::size_t last = rest.rfind(':');
    if (last == std::string_view::npos) {
      portText = rest;
    } else {
      addr = rest.substr(0, last);
      portText = rest.substr(last + 1);
    }
  }
  unsigned port = 0;
  auto [p, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (ec != std::errc() || p != portText.data() + portText.size() || port > 65535 || portText.empty()) {
    throw ConfigError(bad + ": port \"" + std::string(portText) + "\" is not a number from 0 to 65535");
  }
  l.port = static_cast<std::uint16_t>(port);
  std::vector<ListenerConfig> out;
  if (addr.empty()) {
    ListenerConfig v4 = l;
    v4.address = "0.0.0.0";
    ListenerConfig v6 = l;
    v6.address = "::";
    v6.v6 = true;
    out = {v4, v6};
    return out;
  }
  transport::IpAddress ip;
  if (!transport::IpAddress::parse(addr, ip)) {
    throw ConfigError(bad + ": \"" + std::string(addr) + "\" is not a numeric IPv4 or IPv6 address");
  }
  l.address = ip.toString();
  l.v6 = ip.v6;
  out.push_back(l);
  return out;
}

const DomainConfig* Config::findDomain(std::string_view domain) const {
  for (const DomainConfig& d : domains) {
    if (sip::iequals(d.name, domain)) return &d;
  }
  return nullptr;
}

Config loadConfigFile(const std::filesystem::path& file) {
  toml::table root;
  const std::string name = file.string();
  try {
    root = toml::parse_file(name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw ConfigError(os.str());
  }
  Reader r(name);
  Config c;
  r.checkKeys(root, "",
              {"data_dir", "workers", "listen", "listener", "domain", "gateway", "dns", "log", "registrar", "auth",
               "transport", "tls", "timers", "proxy", "messages", "store", "shutdown_grace", "websocket", "web"});
  if (const toml::node* n = root.get("data_dir")) {
    if (!n->is_string() || n->as_string()->get().empty()) {
      fail(r.key("", "data_dir") + " = " + describe(*n), "expected a directory path string");
    }
    c.dataDir = n->as_string()->get();
  }
  r.integer(root, "", "workers", c.workers, 0, 256);
  std::int64_t grace = c.shutdownGrace.count();
  r.integer(root, "", "shutdown_grace", grace, 0, 600);
  c.shutdownGrace = std::chrono::seconds(grace);
  std::vector<std::string> listen = r.strings(root, "", "listen");
  for (std::size_t i = 0; i < listen.size(); ++i) {
    for (ListenerConfig& l : parseListen(listen[i], r.key("", "listen[" + std::to_string(i) + "]"))) {
      c.listeners.push_back(l);
    }
  }
  if (const toml::node* n = root.get("listener")) {
    const toml::array* a = n->as_array();
    if (a == nullptr)
      fail(r.key("", "listener"), "expected [[listener]] tables, e.g. [[listener]] listen = \"tls:0.0.0.0:5061\"");
    for (std::size_t i = 0; i < a->size(); ++i) {
      std::string prefix = "listener[" + std::to_string(i) + "]";
      const toml::table* t = a->get(i)->as_table();
      if (t == nullptr) fail(r.key("", prefix), "expected a table with listen = \"tls:0.0.0.0:5061\"");
      r.checkKeys(*t, prefix, {"listen", "client_certificates", "proxy_protocol"});
      bool proxyProtocol = false;
      r.boolean(*t, prefix, "proxy_protocol", proxyProtocol);
      std::string spec;
      r.string(*t, prefix, "listen", spec);
      if (spec.empty()) fail(r.key(prefix, "listen"), "missing; every [[listener]] needs listen = \"tls:0.0.0.0:5061\"");
      std::optional<ClientCertificates> clientCerts;
      if (t->get("client_certificates") != nullptr) {
        std::string v;
        r.string(*t, prefix, "client_certificates", v, {"none", "optional", "required"});
        clientCerts = v == "none" ? ClientCertificates::None
                      : v == "optional" ? ClientCertificates::Optional
                                        : ClientCertificates::Required;
      }
      for (ListenerConfig& l : parseListen(spec, r.key(prefix, "listen"))) {
        if (clientCerts && l.transport != transport::TransportKind::Tls && l.transport != transport::TransportKind::Wss) {
          fail(r.key(prefix, "client_certificates"),
               "only TLS and WSS listeners ask for client certificates; remove it from " + l.toString());
        }
        if (proxyProtocol && l.transport != transport::TransportKind::Tcp && l.transport != transport::TransportKind::Tls) {
          fail(r.key(prefix, "proxy_protocol"), "the PROXY protocol is for TCP and TLS listeners; remove it from " +
                                                    l.toString());
        }
        l.clientCertificates = clientCerts;
        l.proxyProtocol = proxyProtocol;
        c.listeners.push_back(l);
      }
    }
  }
  if (const toml::node* n = root.get("gateway")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) fail(r.key("", "gateway"), "expected [[gateway]] tables, e.g. [[gateway]] name = \"gw.example.net\"");
    for (std::size_t i = 0; i < a->size(); ++i) {
      std::string prefix = "gateway[" + std::to_string(i) + "]";
      const toml::table* t = a->get(i)->as_table();
      if (t == nullptr) fail(r.key("", prefix), "expected a table with name = \"gw.example.net\"");
      r.checkKeys(*t, prefix, {"name"});
      GatewayConfig g;
      r.string(*t, prefix, "name", g.name);
      if (g.name.empty()) fail(r.key(prefix, "name"), "missing; every [[gateway]] needs name = \"gw.example.net\"");
      std::string_view host = g.name;
      if (host.starts_with("*.")) host.remove_prefix(2);
      if (!validDomainName(host))
        fail(r.key(prefix, "name") + " = \"" + g.name + "\"", "expected a host name such as gw.example.net or *.example.net");
      g.name = lowerCase(g.name);
      c.gateways.push_back(g);
    }
  }
  if (const toml::node* n = root.get("dns")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "dns"), "expected a table [dns]");
    r.checkKeys(*t, "dns", {"servers", "timeout", "attempts"});
    c.dns.servers = r.strings(*t, "dns", "servers");
    for (std::size_t i = 0; i < c.dns.servers.size(); ++i) {
      std::string_view v = c.dns.servers[i];
      std::size_t colon = v.find(':');
      transport::IpAddress ip;
      unsigned port = 53;
      bool ok = transport::IpAddress::parse(v.substr(0, colon), ip) && !ip.v6;
      if (ok && colon != std::string_view::npos) {
        std::string_view p = v.substr(colon + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
        ok = ec == std::errc() && end == p.data() + p.size() && port >= 1 && port <= 65535;
      }
      if (!ok) {
        fail(r.key("dns", "servers[" + std::to_string(i) + "]") + " = \"" + std::string(v) + "\"",
             "expected an IPv4 address with an optional port, e.g. \"192.0.2.53\" or \"127.0.0.1:5353\"");
      }
    }
    r.integer(*t, "dns", "timeout", c.dns.timeout, 1, 30);
    r.integer(*t, "dns", "attempts", c.dns.attempts, 1, 5);
  }
  if (const toml::node* n = root.get("tls")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "tls"), "expected a table [tls]");
    r.checkKeys(*t, "tls",
                {"certificate", "private_key", "certificates_dir", "ca_file", "ca_dir", "crl_file", "verify_depth",
                 "partial_chain", "min_version", "ciphers", "ciphersuites", "client_certificates",
                 "verify_server_name", "expiry_warning_days", "reload_check_interval", "identity"});
    r.string(*t, "tls", "certificate", c.tls.certificate);
    r.string(*t, "tls", "private_key", c.tls.privateKey);
    r.string(*t, "tls", "certificates_dir", c.tls.certificatesDir);
    r.string(*t, "tls", "ca_file", c.tls.caFile);
    r.string(*t, "tls", "ca_dir", c.tls.caDir);
    r.string(*t, "tls", "crl_file", c.tls.crlFile);
    r.integer(*t, "tls", "verify_depth", c.tls.verifyDepth, 1, 16);
    r.boolean(*t, "tls", "partial_chain", c.tls.partialChain);
    r.string(*t, "tls", "min_version", c.tls.minVersion, {"1.2", "1.3"});
    r.string(*t, "tls", "ciphers", c.tls.ciphers);
    r.string(*t, "tls", "ciphersuites", c.tls.ciphersuites);
    std::string cc = "none";
    r.string(*t, "tls", "client_certificates", cc, {"none", "optional", "required"});
    c.tls.clientCertificates = cc == "none"       ? ClientCertificates::None
                               : cc == "optional" ? ClientCertificates::Optional
                                                  : ClientCertificates::Required;
    r.boolean(*t, "tls", "verify_server_name", c.tls.verifyServerName);
    r.integer(*t, "tls", "expiry_warning_days", c.tls.expiryWarningDays, 1, 365);
    r.integer(*t, "tls", "reload_check_interval", c.tls.reloadCheckInterval, 0, 86400);
    r.string(*t, "tls", "identity", c.tls.identity, {"none", "san", "cn", "san-or-cn"});
    if (c.tls.certificate.empty() != c.tls.privateKey.empty()) {
      fail(r.key("tls", c.tls.certificate.empty() ? "private_key" : "certificate"),
           "tls.certificate and tls.private_key go together; set both (or neither, to use certificates_dir or a "
           "generated self-signed certificate)");
    }
  }
  if (const toml::node* n = root.get("domain")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) fail(r.key("", "domain"), "expected [[domain]] tables, e.g. [[domain]] name = \"example.com\"");
    for (std::size_t i = 0; i < a->size(); ++i) {
      std::string prefix = "domain[" + std::to_string(i) + "]";
      const toml::table* t = a->get(i)->as_table();
      if (t == nullptr) fail(r.key("", prefix), "expected a table with name = \"example.com\"");
      r.checkKeys(*t, prefix, {"name", "realm", "security"});
      DomainConfig d;
      r.string(*t, prefix, "name", d.name);
      if (d.name.empty()) fail(r.key(prefix, "name"), "missing; every [[domain]] needs name = \"example.com\"");
      if (!validDomainName(d.name))
        fail(r.key(prefix, "name") + " = \"" + d.name + "\"", "expected a host name or IP address");
      d.name = lowerCase(d.name);
      r.string(*t, prefix, "realm", d.realm);
      if (d.realm.empty()) d.realm = d.name;
      r.string(*t, prefix, "security", d.security, {"unsecured", "sip-secured", "secured"});
      c.domains.push_back(d);
    }
  }
  if (const toml::node* n = root.get("log")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "log"), "expected a table [log]");
    r.checkKeys(*t, "log", {"level", "format"});
    r.string(*t, "log", "level", c.logLevel, {"trace", "debug", "info", "warn", "error", "critical", "off"});
    r.string(*t, "log", "format", c.logFormat, {"text", "json"});
  }
  if (const toml::node* n = root.get("registrar")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "registrar"), "expected a table [registrar]");
    r.checkKeys(*t, "registrar", {"min_expires", "max_expires", "default_expires", "max_contacts"});
    r.integer(*t, "registrar", "min_expires", c.registrar.minExpires, 1, 86400);
    r.integer(*t, "registrar", "max_expires", c.registrar.maxExpires, 1, 31536000);
    r.integer(*t, "registrar", "default_expires", c.registrar.defaultExpires, 1, 31536000);
    r.integer(*t, "registrar", "max_contacts", c.registrar.maxContacts, 1, 1000);
  }
  if (const toml::node* n = root.get("auth")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "auth"), "expected a table [auth]");
    r.checkKeys(*t, "auth", {"nonce_lifetime", "algorithms"});
    std::int64_t life = c.auth.nonceLifetime.count();
    r.integer(*t, "auth", "nonce_lifetime", life, 1, 86400);
    c.auth.nonceLifetime = std::chrono::seconds(life);
    if (t->get("algorithms") != nullptr) {
      c.auth.algorithms = r.strings(*t, "auth", "algorithms");
      if (c.auth.algorithms.empty())
        fail(r.key("auth", "algorithms") + " = []", "expected at least one of \"SHA-256\", \"SHA-512-256\", \"MD5\"");
      for (std::size_t i = 0; i < c.auth.algorithms.size(); ++i) {
        const std::string& a = c.auth.algorithms[i];
        if (a != "SHA-256" && a != "SHA-512-256" && a != "MD5") {
          fail(r.key("auth", "algorithms[" + std::to_string(i) + "]") + " = \"" + a + "\"",
               "expected \"SHA-256\", \"SHA-512-256\" or \"MD5\"");
        }
      }
    }
  }
  if (const toml::node* n = root.get("transport")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "transport"), "expected a table [transport]");
    r.checkKeys(*t, "transport", {"tcp_idle_timeout", "max_connections_per_address", "max_message_size", "udp_mtu"});
    std::int64_t idle = c.transport.tcpIdleTimeout.count();
    r.integer(*t, "transport", "tcp_idle_timeout", idle, 1, 86400);
    c.transport.tcpIdleTimeout = std::chrono::seconds(idle);
    r.integer(*t, "transport", "max_connections_per_address", c.transport.maxConnectionsPerAddress, 1, 1000000);
    r.integer(*t, "transport", "max_message_size", c.transport.maxMessageSize, 1024, 65535);
    r.integer(*t, "transport", "udp_mtu", c.transport.udpMtu, 0, 65535);
    if (c.transport.udpMtu != 0 && c.transport.udpMtu < 576) {
      fail(r.key("transport", "udp_mtu"),
           "is " + std::to_string(c.transport.udpMtu) + ": expected 0 (never switch large requests to TCP) or a path MTU of 576-65535 bytes");
    }
  }
  if (const toml::node* n = root.get("proxy")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "proxy"), "expected a table [proxy]");
    r.checkKeys(*t, "proxy", {"ring_timeout", "relay"});
    std::int64_t ring = c.proxy.ringTimeout.count();
    r.integer(*t, "proxy", "ring_timeout", ring, 5, 3600);
    c.proxy.ringTimeout = std::chrono::seconds(ring);
    r.boolean(*t, "proxy", "relay", c.proxy.relay);
  }
  if (const toml::node* n = root.get("messages")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "messages"), "expected a table [messages]");
    r.checkKeys(*t, "messages", {"offline_max_per_user", "offline_expiry", "max_body"});
    r.integer(*t, "messages", "offline_max_per_user", c.messages.offlineMaxPerUser, 0, 100000);
    std::int64_t expiry = c.messages.offlineExpiry.count();
    r.integer(*t, "messages", "offline_expiry", expiry, 60, 365 * 86400);
    c.messages.offlineExpiry = std::chrono::seconds(expiry);
    r.integer(*t, "messages", "max_body", c.messages.maxBody, 1300, 65000);
  }
  if (const toml::node* n = root.get("store")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "store"), "expected a table [store]");
    r.checkKeys(*t, "store", {"synchronous"});
    r.string(*t, "store", "synchronous", c.store.synchronous, {"full", "normal"});
  }
  if (const toml::node* n = root.get("websocket")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "websocket"), "expected a table [websocket]");
    r.checkKeys(*t, "websocket", {"allowed_origins", "idle_timeout"});
    if (t->get("allowed_origins") != nullptr) {
      c.websocket.allowedOrigins = r.strings(*t, "websocket", "allowed_origins");
      for (std::size_t i = 0; i < c.websocket.allowedOrigins.size(); ++i) {
        const std::string& o = c.websocket.allowedOrigins[i];
        const bool hostOnly = o.find("://") == std::string::npos;
        bool ok = o == "*" || o == "null" || (!hostOnly && transport::parseOrigin(o).has_value());
        if (hostOnly && !o.empty() && o != "*" && o != "null") {
          sip::HostKind kind;
          ok = sip::parseHost(o, kind) == nullptr && o.find(':') == std::string::npos;
        }
        if (!ok) {
          fail(r.key("websocket", "allowed_origins[" + std::to_string(i) + "]") + " = \"" + o + "\"",
               "expected \"*\", an origin such as \"https://app.example.com:8443\", or a host name such as "
               "\"app.example.com\"");
        }
      }
    }
    std::int64_t idle = c.websocket.idleTimeout.count();
    r.integer(*t, "websocket", "idle_timeout", idle, 10, 86400);
    c.websocket.idleTimeout = std::chrono::seconds(idle);
  }
  if (const toml::node* n = root.get("web")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "web"), "expected a table [web]");
    r.checkKeys(*t, "web", {"enabled", "root"});
    r.boolean(*t, "web", "enabled", c.web.enabled);
    r.string(*t, "web", "root", c.web.root);
    if (!c.web.root.empty() && std::filesystem::path(c.web.root).is_relative()) {
      c.web.root = (file.parent_path() / c.web.root).lexically_normal().string();
    }
  }
  // TLS files are named relative to the configuration file (as certificates beside it usually are).
  auto resolve = [&](std::string& path) {
    if (!path.empty() && std::filesystem::path(path).is_relative()) path = (file.parent_path() / path).lexically_normal().string();
  };
  for (std::string* p : {&c.tls.certificate, &c.tls.privateKey, &c.tls.certificatesDir, &c.tls.caFile, &c.tls.caDir,
                         &c.tls.crlFile}) {
    resolve(*p);
  }
  if (const toml::node* n = root.get("timers")) {
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(r.key("", "timers"), "expected a table [timers]");
    r.checkKeys(*t, "timers", {"t1_ms", "t2_ms", "t4_ms"});
    std::int64_t t1 = c.timers.t1.count(), t2 = c.timers.t2.count(), t4 = c.timers.t4.count();
    r.integer(*t, "timers", "t1_ms", t1, 50, 10000);
    r.integer(*t, "timers", "t2_ms", t2, 100, 60000);
    r.integer(*t, "timers", "t4_ms", t4, 100, 60000);
    c.timers.t1 = std::chrono::milliseconds(t1);
    c.timers.t2 = std::chrono::milliseconds(t2);
    c.timers.t4 = std::chrono::milliseconds(t4);
  }
  return c;
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return lowerCase(buf);
}

void applyDefaults(Config& c) {
  if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
  if (c.listeners.empty()) {
    for (const char* spec : {"udp:5060", "tcp:5060", "tls:5061", "wss:8443"}) {
      for (ListenerConfig& l : parseListen(spec, "default")) c.listeners.push_back(l);
    }
  }
  if (c.domains.empty()) {
    std::string h = hostName();
    sip::HostKind kind;
    if (sip::parseHost(h, kind) != nullptr) h = "localhost";
    c.domains.push_back({h, h});
  }
  std::set<std::string> seen;
  for (const DomainConfig& d : c.domains) {
    if (!seen.insert(d.name).second)
      throw ConfigError("domain \"" + d.name + "\" is listed twice; list each domain once");
  }
  std::set<std::string> listen;
  for (const ListenerConfig& l : c.listeners) {
    if (!listen.insert(l.toString()).second) {
      throw ConfigError("listener " + l.toString() + " is listed twice; list each listener once");
    }
  }
  if (c.registrar.minExpires > c.registrar.maxExpires) {
    throw ConfigError("registrar.min_expires (" + std::to_string(c.registrar.minExpires) +
                      ") is above registrar.max_expires (" + std::to_string(c.registrar.maxExpires) +
                      "); expected min_expires <= max_expires");
  }
  if (c.registrar.defaultExpires < c.registrar.minExpires || c.registrar.defaultExpires > c.registrar.maxExpires) {
    throw ConfigError("registrar.default_expires (" + std::to_string(c.registrar.defaultExpires) +
                      ") is outside min_expires..max_expires (" + std::to_string(c.registrar.minExpires) + ".." +
                      std::to_string(c.registrar.maxExpires) + ")");
  }
  const bool anyTls = std::any_of(c.listeners.begin(), c.listeners.end(), [](const ListenerConfig& l) {
    return l.transport == transport::TransportKind::Tls || l.transport == transport::TransportKind::Wss;
  });
  for (const DomainConfig& d : c.domains) {
    if (d.security != "unsecured" && !anyTls) {
      throw ConfigError("domain " + d.name + " has security = \"" + d.security +
                        "\" but there is no TLS listener: add one, e.g. listen = [..., \"tls:5061\"]");
    }
  }
  for (const ListenerConfig& l : c.listeners) {
    ClientCertificates cc = l.clientCertificates.value_or(c.tls.clientCertificates);
    const bool tls = l.transport == transport::TransportKind::Tls || l.transport == transport::TransportKind::Wss;
    if (tls && cc != ClientCertificates::None && c.tls.caFile.empty() &&
        c.tls.caDir.empty()) {
      throw ConfigError("listener " + l.toString() +
                        " asks for client certificates but no CA is configured to verify them: set [tls] ca_file "
                        "or ca_dir");
    }
  }
  if (c.timers.t2 < c.timers.t1) {
    throw ConfigError("timers.t2_ms is below timers.t1_ms; expected t1 <= t2 (RFC 3261 defaults: 500 and 4000)");
  }
}

}  // namespace sipwarden::config
