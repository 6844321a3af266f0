// The server's configuration: a TOML file (toml++) plus command-line overrides, validated into a
// plain struct. Only the wiring layer (src/server, src/app) reads it; every module gets its own
// Settings struct built from it (STYLE.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "transport/peer.hpp"

namespace sipwarden::config {

/// A configuration mistake. what() names the file, the key, the bad value and what is expected,
/// e.g. `sipwarden.toml: registrar.min_expires = -5: expected an integer from 1 to 86400`.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Whether a TLS/WSS listener asks for a client certificate: `none`, `optional` (requested and
/// verified when sent) or `required` (mutual TLS: a handshake without one fails).
enum class ClientCertificates { None, Optional, Required };

struct ListenerConfig {
  transport::TransportKind transport = transport::TransportKind::Udp;
  std::string address;  ///< numeric IPv4 or IPv6 (without brackets)
  std::uint16_t port = 5060;
  bool v6 = false;
  /// TLS listeners: unset = the [tls] client_certificates default.
  std::optional<ClientCertificates> clientCertificates;
  /// TCP/TLS listeners behind a load balancer: each connection starts with a PROXY protocol
  /// (v1 or v2) header naming the client; connections without one are refused.
  bool proxyProtocol = false;
  /// "udp:0.0.0.0:5060" / "tcp:[::1]:5060", the same syntax as --listen.
  [[nodiscard]] std::string toString() const;
};

/// Parses "udp:127.0.0.1:5060", "tcp:[::]:5070", "udp:5060" (all IPv4 and IPv6 addresses: two
/// listeners). Throws ConfigError naming `where` (a key or a flag) on a bad value.
std::vector<ListenerConfig> parseListen(std::string_view text, std::string_view where);

struct DomainConfig {
  std::string name;   ///< lower-case
  std::string realm;  ///< digest realm; defaults to the name
  /// "unsecured", "sip-secured" or "secured" (the Exchange dial plan's VoIP security).
  std::string security = "unsecured";
};

/// A peer gateway or trunk admitted over mutual TLS by the name in its certificate (which must
/// chain to the [tls] ca_file / ca_dir trust anchors).
struct GatewayConfig {
  std::string name;  ///< host name matched against the certificate's subjectAltName (or CN)
};

struct Config {
  std::filesystem::path dataDir = "data";
  unsigned workers = 0;  ///< 0 = number of cores
  std::vector<ListenerConfig> listeners;
  std::vector<DomainConfig> domains;
  std::string logLevel = "info";   ///< trace, debug, info, warn, error, critical, off
  std::string logFormat = "text";  ///< text or json

  struct Registrar {
    std::uint32_t minExpires = 60;
    std::uint32_t maxExpires = 3600;
    std::uint32_t defaultExpires = 3600;
    std::uint32_t maxContacts = 10;
  } registrar;

  struct Auth {
    std::chrono::seconds nonceLifetime{300};
    std::vector<std::string> algorithms{"SHA-256", "MD5"};
  } auth;

  struct Transport {
    std::chrono::seconds tcpIdleTimeout{600};
    std::uint32_t maxConnectionsPerAddress = 256;
    std::uint32_t maxMessageSize = 65535;
    std::uint32_t udpMtu = 1500;  ///< §18.1.1: larger requests than this less 200 go over TCP; 0: never
  } transport;

  struct Timers {
    std::chrono::milliseconds t1{500};
    std::chrono::milliseconds t2{4000};
    std::chrono::milliseconds t4{5000};
  } timers;

  struct Proxy {
    /// An INVITE nobody answers within this time is cancelled and answered 480 (Timer C).
    std::chrono::seconds ringTimeout{120};
    /// Forward requests for domains this server does not serve (else 403 Relaying Denied).
    bool relay = false;
  } proxy;

  struct Messages {
    /// Offline MESSAGEs kept per user (0: none are stored; the sender gets 480).
    std::uint32_t offlineMaxPerUser = 100;
    std::chrono::seconds offlineExpiry{7 * 24 * 3600};
    /// Largest MESSAGE body over TCP; over UDP RFC 3428 §7 allows 1300 bytes of message.
    std::uint32_t maxBody = 65000;
  } messages;

  struct Store {
    /// SQLite's synchronous setting for the data directory's database: "full" syncs every commit
    /// (an acknowledged binding or offline MESSAGE survives a power loss); "normal" syncs the WAL
    /// only at checkpoints (it survives a crash or kill -9 of the server, not of the machine).
    std::string synchronous = "full";
  } store;

  struct Tls {
    /// One certificate chain (leaf first, then intermediates) and its key, PEM.
    std::string certificate;
    std::string privateKey;
    /// A directory of PEM certificates with their keys (same file, or NAME.key beside NAME.crt /
    /// NAME.pem): candidates for selection, one per domain by SNI.
    std::string certificatesDir;
    /// Trust anchors for client certificates and for the servers we connect to.
    std::string caFile;
    std::string caDir;
    std::string crlFile;  ///< certificate revocation lists (PEM); checked for the leaf when set
    std::uint32_t verifyDepth = 4;
    bool partialChain = false;       ///< accept a chain ending at a trusted intermediate
    std::string minVersion = "1.2";  ///< "1.2" or "1.3"
    std::string ciphers;             ///< TLS 1.2 cipher list (OpenSSL syntax); empty: a modern default
    std::string ciphersuites;        ///< TLS 1.3 suites; empty: OpenSSL's default
    ClientCertificates clientCertificates = ClientCertificates::None;
    /// Outgoing TLS: check the server's name (RFC 5922). Off only for testing.
    bool verifyServerName = true;
    std::uint32_t expiryWarningDays = 30;
    /// Seconds between checks of the certificate, key, CA and CRL files for changes (0: SIGHUP only).
    std::uint32_t reloadCheckInterval = 5;
    /// A verified client certificate authenticates the user it names: "none", "san" (SIP URI or
    /// email in subjectAltName), "cn" (subject CN as the user name), "san-or-cn".
    std::string identity = "none";
  } tls;

  std::vector<GatewayConfig> gateways;

  struct WebSocket {
    /// Origins allowed to open a SIP WebSocket: "*", "null", a full origin
    /// ("https://app.example.com:8443") or a host name (any scheme and port). Empty: the
    /// server's own names (domains, host name, listener addresses, localhost).
    std::vector<std::string> allowedOrigins;
    /// A WebSocket silent this long is closed; a ping goes out after half of it.
    std::chrono::seconds idleTimeout{60};
  } websocket;

  struct Web {
    /// Serve the web softphone (static files) on the WS/WSS listeners.
    bool enabled = true;
    /// Directory of the files; empty: the bundled web/public.
    std::string root;
  } web;

  struct Dns {
    /// Name servers for RFC 3263 lookups ("192.0.2.53" or "192.0.2.53:5353"; IPv4); empty: the
    /// system's (/etc/resolv.conf, and /etc/hosts for addresses).
    std::vector<std::string> servers;
    std::uint32_t timeout = 2;  ///< seconds per query attempt
    std::uint32_t attempts = 2;
  } dns;

  std::chrono::seconds shutdownGrace{5};

  /// Domains served: the realm of `domain` (lower-case), or nullptr.
  [[nodiscard]] const DomainConfig* findDomain(std::string_view domain) const;
};

/// Reads and validates a TOML file. Unknown keys are errors (a typo must not be ignored).
Config loadConfigFile(const std::filesystem::path& file);

/// Fills what the file and flags left out: listeners (UDP and TCP on 5060, IPv4 and IPv6),
/// a domain named after the host, workers = cores. Validates cross-field rules.
void applyDefaults(Config& c);

/// ASCII lower case (domain names, transport names).
std::string lowerCase(std::string_view s);

/// The host name, lower-case ("localhost" when it cannot be read).
std::string hostName();

}  // namespace sipwarden::config
