#include "options.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string_view>

namespace sipwarden::loadclient {

const char* modeName(Mode m) {
  switch (m) {
    case Mode::Register: return "register";
    case Mode::Message: return "message";
    case Mode::Invite: return "invite";
    case Mode::Options: return "options";
    case Mode::Uas: return "uas";
    case Mode::Idle: return "idle";
    case Mode::Hold: return "hold";
  }
  return "?";
}

const char* transportName(Transport t) {
  switch (t) {
    case Transport::Udp: return "udp";
    case Transport::Tcp: return "tcp";
    case Transport::Tls: return "tls";
    case Transport::Ws: return "ws";
    case Transport::Wss: return "wss";
  }
  return "?";
}

const char* transportViaName(Transport t) {
  switch (t) {
    case Transport::Udp: return "UDP";
    case Transport::Tcp: return "TCP";
    case Transport::Tls: return "TLS";
    case Transport::Ws: return "WS";
    case Transport::Wss: return "WSS";
  }
  return "?";
}

const char* contactTransportName(Transport t) { return isWebSocket(t) ? "ws" : transportName(t); }

std::string usage() {
  return R"(usage: sipwarden-load MODE [options]

Modes:
  register   REGISTER -> 401 -> REGISTER with credentials -> 200; each call another user
  message    MESSAGE -> 407 -> MESSAGE with proxy credentials -> 200 from the callee (a uas)
  invite     INVITE -> 407 -> ACK -> INVITE with credentials -> 100/180/200 -> ACK -> BYE -> 200
  options    OPTIONS -> 200 (no authentication)
  uas        registers --users with Contact = this process, then answers MESSAGE 200,
             INVITE 100/180/200, BYE 200 until SIGTERM/SIGINT or --hold seconds
  idle       opens --calls connections (TCP/TLS/WS/WSS) at --rate per second, one request on
             each (--idle-request register|options), holds them --hold seconds, closes them
  hold       --calls clients (one per user, one connection each, TCP/TLS/WS/WSS) connected and
             registered at --rate per second, then kept registered (REGISTER refreshed with a
             fresh digest challenge, as JsSIP does) for --hold seconds, then closed. WS/WSS
             clients look like JsSIP: Via SIP/2.0/WSS <random>.invalid, Contact
             <sip:user@<random>.invalid;transport=ws;ob>;+sip.instance=...;reg-id=1. Reports
             connected, registered, refreshes, drops, ramp time and (--watch-pids) the server's
             memory at 0, at each --milestones count and at the end of the ramp and of the hold

Where (loopback only):
  --transport udp|tcp|tls|ws|wss   [udp]
  --server IP:PORT          [127.0.0.1:5060, TLS 5061, WS 8080, WSS 8443]
  --local-ip IP             [127.0.0.1]
  --local-port N            UDP source port; uas: the listening port [0; uas 5080]
  --domain NAME             [example.test]

Users:
  --users A-B               user N, password <prefix>N [1000-10999]
  --password-prefix TEXT    [pw-] (the password of user NAME is <prefix>NAME)
  --user-prefix TEXT        user N is named <TEXT><N> [""]
  --user-width W            ... with N zero-padded to W digits [0]: --users 0-99999
                            --user-prefix u --user-width 6 gives u000000..u099999
  --users-csv FILE          lines user;password[;callee] (a first line SEQUENTIAL is skipped)
  --callees A-B             message/invite targets [the users' range]
  --callee-offset N         caller k calls callee (k + N) mod count [half the callees]
  --contact HOST:PORT       register: Contact host:port [127.0.0.1:5080]
  --expires S               [3600]

Load (every loop is bounded in count and time):
  --rate R                  calls (idle: connections) per second [100]
  --calls N                 [rate x duration]
  --duration S              [10]
  --call-timeout S          a call not finished this long after it started fails [10]
  --max-outstanding N       calls in progress at most [max(1000, 3 x rate), at most 65536]
  --connections K           persistent connections, calls spread over them [1]
  --connection-per-call     a new connection (TLS: a full handshake) per call, closed after it
  --threads 1|2             io_context threads, each with its own connections [1]
  --tick MS                 new calls start in bursts at most every MS milliseconds [10, as SIPp]
  --coalesce                streams: what one turn of the event loop sends leaves in one write
                            (one TLS record) [each message written on its own, as SIPp]
  --search START,MAX        raise the rate by --search-factor [1.5] from START until a run fails
                            (>= 0.1% failed or achieved < 95%), then bisect --search-refine [3]
                            times; each run lasts --duration; --search-pause S [2] between runs

Authentication and TLS:
  --algorithm auto|MD5|SHA-256   [auto: the first challenge whose algorithm is supported]
  --tls-version 1.2|1.3|any      [1.2]
  --tls-ca FILE             verify the server's certificate (chain and name) [no verification]
  --tls-server-name NAME    SNI and the name verified [the domain]
  --tls-cert FILE --tls-key FILE   uas: the listener's certificate; others: a client certificate

WebSocket (ws, wss; RFC 6455 with Sec-WebSocket-Protocol: sip, RFC 7118):
  --ws-path PATH            [/]
  --ws-host TEXT            Host header [the server's IP:port]
  --ws-origin ORIGIN        Origin header, as a browser sends it [none]

hold:
  --local-ips A-B|A,B,...   source addresses, e.g. 127.0.0.2-127.0.0.9 (an ephemeral port range
                            per address: ~28,000 connections to one server port each) [--local-ip]
  --expires S               the Expires asked for [3600]; --refresh-at F refresh when F of the
                            granted expiry has passed [0.5]
  --milestones K,K,...      pause the ramp when K clients have been started and settled, wait
                            --settle S [5], sample memory, go on [none]
  --watch-pids P,P,...      processes whose VmRSS/VmHWM (/proc/P/status) and Pss
                            (/proc/P/smaps_rollup) are sampled, summed [none]
  --max-outstanding N       connections being set up or registering at once [200]
  --call-timeout S          a connection or REGISTER transaction not done in S fails [30]
  --progress S              a progress line on stderr every S seconds [10; 0: none]

idle / uas / hold:
  --hold S                  idle, hold: seconds to hold the connections; uas: longest lifetime [10]
  --idle-request register|options  [register]
  --register-rate R         uas: REGISTERs per second while registering [2000]
  --ready-file PATH         written when the connections are up / the users registered

Output: one JSON line per run on stdout (and appended to --json FILE), a summary on stderr.
  --label TEXT  --quiet  --max-wall S (hard bound on the whole process)
Exit status: 0 every run passed (< 0.1% failed, achieved >= 95% of offered), 1 a run failed,
2 bad options or the set-up failed.
)";
}

namespace {

double toDouble(std::string_view name, const std::string& v, double lo, double hi) {
  std::size_t pos = 0;
  double d = 0;
  try {
    d = std::stod(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos != v.size() || !std::isfinite(d) || d < lo || d > hi) {
    throw std::invalid_argument(std::string(name) + " " + v + ": expected a number from " + std::to_string(lo) +
                                " to " + std::to_string(hi));
  }
  return d;
}

std::uint64_t toUint(std::string_view name, std::string_view v, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
    throw std::invalid_argument(std::string(name) + " " + std::string(v) + ": expected an integer from " +
                                std::to_string(lo) + " to " + std::to_string(hi));
  }
  return n;
}

void range(std::string_view name, const std::string& v, std::uint32_t& first, std::uint32_t& last) {
  auto dash = v.find('-');
  if (dash == std::string::npos) throw std::invalid_argument(std::string(name) + " " + v + ": expected A-B");
  first = static_cast<std::uint32_t>(toUint(name, std::string_view(v).substr(0, dash), 0, 4000000000u));
  last = static_cast<std::uint32_t>(toUint(name, std::string_view(v).substr(dash + 1), first, 4000000000u));
  if (last - first >= 10000000) throw std::invalid_argument(std::string(name) + ": at most 10,000,000 users");
}

std::vector<std::uint64_t> uintList(std::string_view name, const std::string& v, std::uint64_t lo, std::uint64_t hi) {
  std::vector<std::uint64_t> out;
  std::size_t start = 0;
  while (start <= v.size() && out.size() < 1000) {
    auto comma = v.find(',', start);
    std::string_view item = std::string_view(v).substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    out.push_back(toUint(name, item, lo, hi));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

/// "127.0.0.2-127.0.0.9" (IPv4, at most 256 addresses) or "A,B,...".
void localIps(std::string_view name, const std::string& v, std::vector<std::string>& out) {
  out.clear();
  auto dash = v.find('-');
  if (dash != std::string::npos) {
    in_addr a{}, b{};
    std::string first = v.substr(0, dash), last = v.substr(dash + 1);
    if (inet_pton(AF_INET, first.c_str(), &a) != 1 || inet_pton(AF_INET, last.c_str(), &b) != 1 ||
        ntohl(b.s_addr) < ntohl(a.s_addr) || ntohl(b.s_addr) - ntohl(a.s_addr) >= 256) {
      throw std::invalid_argument(std::string(name) + " " + v + ": expected A-B, IPv4, at most 256 addresses");
    }
    for (std::uint32_t x = ntohl(a.s_addr); x <= ntohl(b.s_addr); ++x) {
      in_addr c{};
      c.s_addr = htonl(x);
      char buf[INET_ADDRSTRLEN];
      out.emplace_back(inet_ntop(AF_INET, &c, buf, sizeof buf));
    }
    return;
  }
  std::size_t start = 0;
  while (out.size() < 256) {
    auto comma = v.find(',', start);
    out.push_back(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

bool isLoopback(const std::string& ip) {
  in_addr a4{};
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return ip == "::1";
}

void hostPort(std::string_view name, const std::string& v, std::string& ip, std::uint16_t& port) {
  auto colon = v.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument(std::string(name) + " " + v + ": expected IP:PORT");
  ip = v.substr(0, colon);
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  port = static_cast<std::uint16_t>(toUint(name, std::string_view(v).substr(colon + 1), 1, 65535));
}

}  // namespace

Options parseOptions(int argc, char** argv) {
  Options o;
  if (argc < 2) throw std::invalid_argument("missing MODE");
  std::string mode = argv[1];
  if (mode == "register") o.mode = Mode::Register;
  else if (mode == "message") o.mode = Mode::Message;
  else if (mode == "invite") o.mode = Mode::Invite;
  else if (mode == "options") o.mode = Mode::Options;
  else if (mode == "uas") o.mode = Mode::Uas;
  else if (mode == "idle") o.mode = Mode::Idle;
  else if (mode == "hold") o.mode = Mode::Hold;
  else throw std::invalid_argument("unknown mode " + mode);

  bool haveLocalPort = false, haveHold = false, haveCallTimeout = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    std::string v;
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto flag = [&](const char* name) { return a == name; };
    auto value = [&]() -> const std::string& {
      if (v.empty()) {
        if (i + 1 >= argc) throw std::invalid_argument(a + ": missing value");
        v = argv[++i];
      }
      return v;
    };
    if (flag("--transport")) {
      value();
      if (v == "udp") o.transport = Transport::Udp;
      else if (v == "tcp") o.transport = Transport::Tcp;
      else if (v == "tls") o.transport = Transport::Tls;
      else if (v == "ws") o.transport = Transport::Ws;
      else if (v == "wss") o.transport = Transport::Wss;
      else throw std::invalid_argument("--transport " + v + ": expected udp, tcp, tls, ws or wss");
    } else if (flag("--server")) {
      hostPort(a, value(), o.serverIp, o.serverPort);
    } else if (flag("--local-ip")) {
      o.localIp = value();
    } else if (flag("--local-port")) {
      o.localPort = static_cast<std::uint16_t>(toUint(a, value(), 0, 65535));
      haveLocalPort = true;
    } else if (flag("--domain")) {
      o.domain = value();
    } else if (flag("--users")) {
      range(a, value(), o.usersFirst, o.usersLast);
    } else if (flag("--password-prefix")) {
      o.passwordPrefix = value();
    } else if (flag("--user-prefix")) {
      o.userPrefix = value();
    } else if (flag("--user-width")) {
      o.userWidth = static_cast<std::uint32_t>(toUint(a, value(), 0, 12));
    } else if (flag("--ws-path")) {
      o.wsPath = value();
      if (o.wsPath.empty() || o.wsPath[0] != '/') throw std::invalid_argument("--ws-path " + v + ": expected /...");
    } else if (flag("--ws-host")) {
      o.wsHost = value();
    } else if (flag("--ws-origin")) {
      o.wsOrigin = value();
    } else if (flag("--local-ips")) {
      localIps(a, value(), o.localIps);
    } else if (flag("--refresh-at")) {
      o.refreshAt = toDouble(a, value(), 0.05, 0.95);
    } else if (flag("--milestones")) {
      o.milestones = uintList(a, value(), 1, 10000000);
    } else if (flag("--settle")) {
      o.settle = toDouble(a, value(), 0, 600);
    } else if (flag("--watch-pids")) {
      for (auto p : uintList(a, value(), 1, 1u << 30)) o.watchPids.push_back(static_cast<int>(p));
    } else if (flag("--progress")) {
      o.progress = toDouble(a, value(), 0, 3600);
    } else if (flag("--users-csv")) {
      o.usersCsv = value();
    } else if (flag("--callees")) {
      range(a, value(), o.calleesFirst, o.calleesLast);
    } else if (flag("--callee-offset")) {
      o.calleeOffset = static_cast<std::int64_t>(toUint(a, value(), 0, 10000000));
    } else if (flag("--contact")) {
      o.contact = value();
    } else if (flag("--expires")) {
      o.expires = static_cast<std::uint32_t>(toUint(a, value(), 0, 86400 * 365));
    } else if (flag("--rate")) {
      o.rate = toDouble(a, value(), 0.1, 1e6);
    } else if (flag("--calls")) {
      o.calls = toUint(a, value(), 1, 100000000);
    } else if (flag("--duration")) {
      o.duration = toDouble(a, value(), 0.1, 3600);
    } else if (flag("--call-timeout")) {
      o.callTimeout = toDouble(a, value(), 0.1, 300);
      haveCallTimeout = true;
    } else if (flag("--max-outstanding")) {
      o.maxOutstanding = static_cast<std::uint32_t>(toUint(a, value(), 1, 1 << 20));
    } else if (flag("--connections")) {
      o.connections = static_cast<std::uint32_t>(toUint(a, value(), 1, 10000));
    } else if (flag("--connection-per-call")) {
      o.connectionPerCall = true;
    } else if (flag("--coalesce")) {
      o.coalesce = true;
    } else if (flag("--tick")) {
      o.tickMs = toDouble(a, value(), 0.1, 100);
    } else if (flag("--threads")) {
      o.threads = static_cast<unsigned>(toUint(a, value(), 1, 2));
    } else if (flag("--search")) {
      value();
      auto comma = v.find(',');
      if (comma == std::string::npos) throw std::invalid_argument("--search " + v + ": expected START,MAX");
      o.search = true;
      o.searchStart = toDouble(a, v.substr(0, comma), 0.1, 1e6);
      o.searchMax = toDouble(a, v.substr(comma + 1), o.searchStart, 1e6);
    } else if (flag("--search-factor")) {
      o.searchFactor = toDouble(a, value(), 1.05, 10);
    } else if (flag("--search-refine")) {
      o.searchRefine = static_cast<int>(toUint(a, value(), 0, 10));
    } else if (flag("--search-pause")) {
      o.searchPause = toDouble(a, value(), 0, 60);
    } else if (flag("--search-step")) {
      o.searchStep = toDouble(a, value(), 0, 1e6);
    } else if (flag("--algorithm")) {
      o.algorithm = value();
      if (o.algorithm != "auto" && o.algorithm != "MD5" && o.algorithm != "SHA-256") {
        throw std::invalid_argument("--algorithm " + v + ": expected auto, MD5 or SHA-256");
      }
    } else if (flag("--tls-version")) {
      o.tlsVersion = value();
      if (o.tlsVersion != "1.2" && o.tlsVersion != "1.3" && o.tlsVersion != "any") {
        throw std::invalid_argument("--tls-version " + v + ": expected 1.2, 1.3 or any");
      }
    } else if (flag("--tls-ca")) {
      o.tlsCa = value();
    } else if (flag("--tls-server-name")) {
      o.tlsServerName = value();
    } else if (flag("--tls-cert")) {
      o.tlsCert = value();
    } else if (flag("--tls-key")) {
      o.tlsKey = value();
    } else if (flag("--hold")) {
      o.hold = toDouble(a, value(), 0, 3600);
      haveHold = true;
    } else if (flag("--idle-request")) {
      o.idleRequest = value();
      if (o.idleRequest != "register" && o.idleRequest != "options") {
        throw std::invalid_argument("--idle-request " + v + ": expected register or options");
      }
    } else if (flag("--register-rate")) {
      o.registerRate = toDouble(a, value(), 1, 1e6);
    } else if (flag("--ready-file")) {
      o.readyFile = value();
    } else if (flag("--json")) {
      o.jsonFile = value();
    } else if (flag("--label")) {
      o.label = value();
    } else if (flag("--quiet")) {
      o.quiet = true;
    } else if (flag("--max-wall")) {
      o.maxWall = toDouble(a, value(), 1, 7200);
    } else if (flag("--help") || flag("-h")) {
      throw std::invalid_argument("");
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }

  if (o.serverPort == 0) {
    o.serverPort = o.transport == Transport::Tls ? 5061 : o.transport == Transport::Ws ? 8080 : o.transport == Transport::Wss ? 8443 : 5060;
  }
  if (o.wsHost.empty()) o.wsHost = (o.serverIp.find(':') != std::string::npos ? "[" + o.serverIp + "]" : o.serverIp) + ":" + std::to_string(o.serverPort);
  for (const auto& ip : o.localIps) {
    if (!isLoopback(ip)) throw std::invalid_argument("--local-ips " + ip + ": loopback addresses only");
  }
  if (o.mode == Mode::Uas && !haveLocalPort) o.localPort = 5080;
  if (o.mode == Mode::Uas && !haveHold) o.hold = 600;
  if (o.tlsServerName.empty()) o.tlsServerName = o.domain;
  // Everything stays on this machine: a load generator must not be pointed elsewhere by mistake.
  if (!isLoopback(o.serverIp)) throw std::invalid_argument("--server " + o.serverIp + ": loopback addresses only");
  if (!isLoopback(o.localIp)) throw std::invalid_argument("--local-ip " + o.localIp + ": loopback addresses only");
  if (o.mode == Mode::Idle) {
    if (o.transport == Transport::Udp) throw std::invalid_argument("idle needs --transport tcp, tls, ws or wss");
    o.connectionPerCall = true;
  }
  if (o.mode == Mode::Uas && o.threads != 1) throw std::invalid_argument("uas runs on one thread");
  if (o.mode == Mode::Uas && isWebSocket(o.transport)) throw std::invalid_argument("uas: no WebSocket listener (udp, tcp or tls)");
  if (o.mode == Mode::Hold) {
    if (o.transport == Transport::Udp) throw std::invalid_argument("hold needs --transport tcp, tls, ws or wss");
    if (o.threads != 1) throw std::invalid_argument("hold runs on one thread");
    if (!haveHold) o.hold = 60;
    if (!haveCallTimeout) o.callTimeout = 30;
    if (o.maxOutstanding == 0) o.maxOutstanding = 200;
  }
  if (o.transport == Transport::Udp && o.connectionPerCall) {
    throw std::invalid_argument("--connection-per-call needs tcp or tls");
  }
  if (o.mode == Mode::Uas && o.transport == Transport::Tls && (o.tlsCert.empty() || o.tlsKey.empty())) {
    throw std::invalid_argument("uas over TLS needs --tls-cert and --tls-key (its listener's certificate)");
  }
  if (o.threads > 1 && o.connections < o.threads && !o.connectionPerCall) o.connections = o.threads;
  if (o.calleesFirst == 0 && o.calleesLast == 0) {
    o.calleesFirst = o.usersFirst;
    o.calleesLast = o.usersLast;
  }
  if (o.calls == 0) o.calls = static_cast<std::uint64_t>(std::llround(std::max(1.0, o.rate * o.duration)));
  if (o.mode == Mode::Hold && o.calls > std::uint64_t{o.usersLast} - o.usersFirst + 1 && o.usersCsv.empty()) {
    throw std::invalid_argument("hold: --calls " + std::to_string(o.calls) + " clients need as many --users");
  }
  return o;
}

std::vector<User> loadUsers(const Options& o) {
  std::vector<User> users;
  if (!o.usersCsv.empty()) {
    std::ifstream in(o.usersCsv);
    if (!in) throw std::invalid_argument("--users-csv " + o.usersCsv + ": cannot be read");
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line) && users.size() < 10000000) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#' || (n == 1 && (line == "SEQUENTIAL" || line == "RANDOM"))) continue;
      User u;
      auto s1 = line.find(';');
      u.name = line.substr(0, s1);
      if (s1 != std::string::npos) {
        auto s2 = line.find(';', s1 + 1);
        u.password = line.substr(s1 + 1, s2 == std::string::npos ? std::string::npos : s2 - s1 - 1);
        if (s2 != std::string::npos) u.callee = line.substr(s2 + 1);
      }
      if (u.name.empty()) throw std::invalid_argument(o.usersCsv + ":" + std::to_string(n) + ": empty user");
      users.push_back(std::move(u));
    }
    if (users.empty()) throw std::invalid_argument("--users-csv " + o.usersCsv + ": no users");
    return users;
  }
  users.reserve(o.usersLast - o.usersFirst + 1);
  for (std::uint64_t n = o.usersFirst; n <= o.usersLast; ++n) {
    User u;
    std::string digits = std::to_string(n);
    if (digits.size() < o.userWidth) digits.insert(0, o.userWidth - digits.size(), '0');
    u.name = o.userPrefix + digits;
    u.password = o.passwordPrefix + u.name;
    users.push_back(std::move(u));
  }
  return users;
}

std::vector<std::string> loadCallees(const Options& o) {
  std::vector<std::string> callees;
  callees.reserve(o.calleesLast - o.calleesFirst + 1);
  for (std::uint64_t n = o.calleesFirst; n <= o.calleesLast; ++n) callees.push_back(std::to_string(n));
  return callees;
}

}  // namespace sipwarden::loadclient
