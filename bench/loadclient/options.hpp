// Command line of sipwarden-load, the project's own SIP load client (issue 5): what to send, over
// which transport, at which rate, for how long. Every limit the client obeys is here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sipwarden::loadclient {

enum class Mode : std::uint8_t {
  Register,  ///< REGISTER -> 401 -> REGISTER with credentials -> 200
  Message,   ///< MESSAGE -> 407 -> MESSAGE with credentials -> 200 (from a UAS)
  Invite,    ///< INVITE -> 407 -> ACK -> INVITE with credentials -> 1xx/200 -> ACK -> BYE -> 200
  Options,   ///< OPTIONS -> 200 (no authentication; a probe)
  Uas,       ///< registers its users, then answers MESSAGE, INVITE, BYE until told to stop
  Idle,      ///< opens N connections, one request on each, holds them open
  Hold,      ///< N clients, each on its own connection, registered and refreshing for a while
};

/// Ws/Wss: SIP over WebSocket (RFC 7118), one SIP message per text frame; Wss over TLS.
enum class Transport : std::uint8_t { Udp, Tcp, Tls, Ws, Wss };

inline bool usesTls(Transport t) { return t == Transport::Tls || t == Transport::Wss; }
inline bool isWebSocket(Transport t) { return t == Transport::Ws || t == Transport::Wss; }

const char* modeName(Mode m);
const char* transportName(Transport t);      ///< "udp", "tcp", "tls"
const char* transportViaName(Transport t);   ///< "UDP", "TCP", "TLS", "WS", "WSS"
/// The Contact's transport parameter: "udp", "tcp", "tls"; "ws" for both WebSocket transports
/// (RFC 7118 §5.2: a SIP URI has no "wss" transport).
const char* contactTransportName(Transport t);

struct User {
  std::string name;
  std::string password;
  std::string callee;  ///< empty: from the callee range
};

struct Options {
  Mode mode = Mode::Register;
  Transport transport = Transport::Udp;

  std::string serverIp = "127.0.0.1";
  std::uint16_t serverPort = 0;  ///< 0: 5060, or 5061 for TLS
  std::string localIp = "127.0.0.1";
  std::uint16_t localPort = 0;  ///< UDP source port of a client; the listening port of a UAS (5080)
  std::string domain = "example.test";

  // Users: a range (user N, password <prefix>N, as the Kamailio harness) or a CSV file.
  std::uint32_t usersFirst = 1000, usersLast = 10999;
  std::string passwordPrefix = "pw-";
  std::string userPrefix;     ///< user N is named <userPrefix><N zero-padded to userWidth>
  std::uint32_t userWidth = 0;
  std::string usersCsv;
  std::uint32_t calleesFirst = 0, calleesLast = 0;  ///< 0/0: the users' range
  std::int64_t calleeOffset = -1;                   ///< -1: half the callees (the harness's pairing)
  std::string contact = "127.0.0.1:5080";           ///< register mode: the Contact's host:port
  std::uint32_t expires = 3600;

  // Load.
  double rate = 100;           ///< calls (or connections) per second
  std::uint64_t calls = 0;     ///< 0: rate x duration
  double duration = 10;        ///< seconds of offered load
  std::uint32_t maxOutstanding = 0;  ///< 0: automatic
  double callTimeout = 10;     ///< seconds from a call's start to its end before it fails
  std::uint32_t connections = 1;
  bool connectionPerCall = false;
  unsigned threads = 1;
  /// Pacing: new calls start at most this often, in bursts of rate x tick. 10 ms as SIPp's default
  /// -timer_resol: a server's CPU per call depends on how bursty arrivals are (wake-ups, group
  /// commits), and the cross-check against SIPp needs the same pattern (bench/RESULTS.md).
  double tickMs = 10;
  /// Streams: gather what is sent in one turn of the event loop into one write (one TLS record);
  /// false writes every message on its own, as SIPp does.
  bool coalesce = false;

  // Search for the highest passing rate.
  bool search = false;
  double searchStart = 0, searchMax = 0, searchFactor = 1.5;
  int searchRefine = 3;
  double searchPause = 2;
  double searchStep = 0;  ///< bisection stops when hi - lo is below this (0: 5% of lo)

  // Authentication and TLS.
  std::string algorithm = "auto";  ///< auto (first supported challenge), MD5, SHA-256
  std::string tlsVersion = "1.2";  ///< 1.2, 1.3 or any
  std::string tlsCa;               ///< verify the server's certificate against this CA file
  std::string tlsServerName;       ///< SNI and the name checked; default: the domain
  std::string tlsCert, tlsKey;     ///< uas: the listener's certificate; others: a client certificate

  // idle and uas.
  double hold = 10;                       ///< idle: seconds to hold; uas: longest lifetime
  std::string idleRequest = "register";   ///< register (authenticated) or options
  double registerRate = 2000;             ///< uas: REGISTERs per second while registering its users
  std::string readyFile;                  ///< written once connections are up / users registered

  // WebSocket (ws, wss).
  std::string wsPath = "/";   ///< the request target of the upgrade
  std::string wsHost;         ///< Host header [server IP:port]
  std::string wsOrigin;       ///< Origin header, as a browser sends it ["": none]

  // hold.
  std::vector<std::string> localIps;  ///< source addresses, connection k from localIps[k % size]
  double refreshAt = 0.5;             ///< refresh when this fraction of the granted expiry has passed
  std::vector<std::uint64_t> milestones;  ///< pause the ramp at these counts of clients to sample memory
  double settle = 5;                  ///< seconds between the ramp's pause and the memory sample
  std::vector<int> watchPids;         ///< processes whose memory is sampled (the server's)
  double progress = 10;               ///< seconds between progress lines on stderr (0: none)

  // Output.
  std::string jsonFile;  ///< append JSON lines here as well as to stdout
  std::string label;
  bool quiet = false;
  double maxWall = 0;  ///< hard bound on the whole run (0: computed from the other limits)
};

/// Parses argv. Throws std::invalid_argument naming the bad option.
Options parseOptions(int argc, char** argv);
std::string usage();

/// The users calls are made as, in order (call k uses users[k % size]).
std::vector<User> loadUsers(const Options& o);
/// The callees, in order: from the range, or the CSV's callee column.
std::vector<std::string> loadCallees(const Options& o);

}  // namespace sipwarden::loadclient
