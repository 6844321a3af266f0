#include "transport/dns_resolver.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>

namespace sipwarden::transport {

namespace {

/// One res_state per lookup (res_n* functions are reentrant with their own state).
class Query {
 public:
  explicit Query(const DnsSettings& s) : settings_(s) {
    std::memset(&state_, 0, sizeof state_);
    ok_ = res_ninit(&state_) == 0;
    if (!ok_) return;
    state_.retrans = static_cast<int>(s.timeout.count());
    state_.retry = s.attempts;
    if (!s.servers.empty()) {
      int n = 0;
      for (const auto& [addr, port] : s.servers) {
        if (addr.v6 || n >= MAXNS) continue;
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        std::memcpy(&sin.sin_addr, addr.bytes.data(), 4);
        state_.nsaddr_list[n++] = sin;
      }
      state_.nscount = n;
    }
  }
  ~Query() {
    if (ok_) res_nclose(&state_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  /// The answer records of type `type` for `name` (raw message kept for name expansion).
  bool run(const std::string& name, int type) {
    if (!ok_) return false;
    int n = res_nquery(&state_, name.c_str(), ns_c_in, type, answer_, sizeof answer_);
    if (n <= 0) return false;
    length_ = n;
    return ns_initparse(answer_, n, &msg_) == 0;
  }
  int count() { return ns_msg_count(msg_, ns_s_an); }
  bool record(int i, ns_rr& rr) { return ns_parserr(&msg_, ns_s_an, i, &rr) == 0; }
  /// A domain name inside rdata at `p`.
  bool expand(const unsigned char* p, std::string& out) {
    char buf[NS_MAXDNAME];
    if (dn_expand(answer_, answer_ + length_, p, buf, sizeof buf) < 0) return false;
    out = buf;
    return true;
  }
  const unsigned char* end() const { return answer_ + length_; }
  bool customServers() const { return !settings_.servers.empty(); }

 private:
  const DnsSettings& settings_;
  struct __res_state state_;
  bool ok_ = false;
  unsigned char answer_[8192];
  int length_ = 0;
  ns_msg msg_{};
};

struct Srv {
  int priority, weight;
  std::uint16_t port;
  std::string target;
};

std::vector<IpAddress> addresses(Query& q, const std::string& host) {
  std::vector<IpAddress> out;
  IpAddress literal;
  if (IpAddress::parse(host, literal)) return {literal};
  if (q.customServers()) {
    for (int type : {ns_t_a, ns_t_aaaa}) {
      if (!q.run(host, type)) continue;
      for (int i = 0; i < q.count(); ++i) {
        ns_rr rr;
        if (!q.record(i, rr) || ns_rr_type(rr) != type) continue;
        IpAddress a;
        a.v6 = type == ns_t_aaaa;
        std::size_t len = a.v6 ? 16 : 4;
        if (ns_rr_rdlen(rr) != len) continue;
        std::memcpy(a.bytes.data(), ns_rr_rdata(rr), len);
        out.push_back(a);
      }
    }
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    IpAddress ip;
    if (a->ai_family == AF_INET) {
      std::memcpy(ip.bytes.data(), &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, 4);
    } else if (a->ai_family == AF_INET6) {
      ip.v6 = true;
      std::memcpy(ip.bytes.data(), &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
  }
  freeaddrinfo(res);
  return out;
}

std::vector<Srv> srv(Query& q, const std::string& name) {
  std::vector<Srv> out;
  if (!q.run(name, ns_t_srv)) return out;
  for (int i = 0; i < q.count(); ++i) {
    ns_rr rr;
    if (!q.record(i, rr) || ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7) continue;
    const unsigned char* p = ns_rr_rdata(rr);
    Srv s{static_cast<int>(ns_get16(p)), static_cast<int>(ns_get16(p + 2)), static_cast<std::uint16_t>(ns_get16(p + 4)), {}};
    if (!q.expand(p + 6, s.target) || s.target.empty() || s.target == ".") continue;  // "." : service absent
    out.push_back(std::move(s));
  }
  // RFC 2782: lowest priority first; among equals, the heavier first (a stable order rather than
  // the weighted random draw: a proxy retries the next one on failure anyway).
  std::stable_sort(out.begin(), out.end(), [](const Srv& a, const Srv& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.weight > b.weight;
  });
  return out;
}

const char* srvPrefix(TransportKind t) {
  switch (t) {
    case TransportKind::Udp: return "_sip._udp.";
    case TransportKind::Tcp: return "_sip._tcp.";
    case TransportKind::Tls: return "_sips._tcp.";
    default: return nullptr;
  }
}

std::uint16_t defaultPort(TransportKind t) { return t == TransportKind::Tls || t == TransportKind::Wss ? 5061 : 5060; }

void addFromSrv(Query& q, const std::string& host, TransportKind t, std::vector<DnsTarget>& out) {
  const char* prefix = srvPrefix(t);
  if (prefix == nullptr) return;
  for (const Srv& s : srv(q, prefix + host)) {
    for (const IpAddress& a : addresses(q, s.target)) out.push_back({t, a, s.port});
  }
}

}  // namespace

DnsResolver::DnsResolver(DnsSettings settings) : settings_(std::move(settings)) {
  boost::asio::post(pool_, [] { ::pthread_setname_np(::pthread_self(), "sw-dns"); });
}

DnsResolver::~DnsResolver() { stop(); }

void DnsResolver::stop() {
  if (stopped_) return;
  stopped_ = true;
  pool_.stop();
  pool_.join();
}

bool DnsResolver::resolve(SipLookup lookup, boost::asio::io_context& io,
                          std::function<void(std::vector<DnsTarget>)> done) {
  if (pending_.fetch_add(1) >= kMaxPending) {
    pending_.fetch_sub(1);
    return false;
  }
  boost::asio::post(pool_, [this, lookup = std::move(lookup), &io, done = std::move(done)]() mutable {
    std::vector<DnsTarget> result = resolveNow(lookup);
    pending_.fetch_sub(1);
    boost::asio::post(io, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
  return true;
}

std::vector<DnsTarget> DnsResolver::resolveNow(const SipLookup& l) {
  Query q(settings_);
  std::vector<DnsTarget> out;
  auto supported = [&](TransportKind t) {
    return std::find(l.supported.begin(), l.supported.end(), t) != l.supported.end() &&
           (!l.sips || t == TransportKind::Tls);
  };
  IpAddress literal;
  const bool numeric = IpAddress::parse(l.host, literal);
  // §4.1/§4.2: a transport parameter, or a port, or a numeric host fix what NAPTR would decide.
  if (l.transport || l.port || numeric) {
    TransportKind t = l.transport.value_or(l.sips ? TransportKind::Tls : TransportKind::Udp);
    if (l.sips && t == TransportKind::Tcp) t = TransportKind::Tls;
    if (!l.port && !numeric) addFromSrv(q, l.host, t, out);
    if (out.empty()) {
      for (const IpAddress& a : addresses(q, l.host)) out.push_back({t, a, l.port.value_or(defaultPort(t))});
    }
    return out;
  }
  // §4.1: NAPTR records name the transports the domain offers, in its order of preference.
  struct Naptr {
    int order, preference;
    TransportKind transport;
    std::string replacement;
  };
  std::vector<Naptr> naptrs;
  if (q.run(l.host, ns_t_naptr)) {
    for (int i = 0; i < q.count(); ++i) {
      ns_rr rr;
      if (!q.record(i, rr) || ns_rr_type(rr) != ns_t_naptr) continue;
      const unsigned char* p = ns_rr_rdata(rr);
      const unsigned char* end = p + ns_rr_rdlen(rr);
      if (end - p < 4) continue;
      Naptr n{static_cast<int>(ns_get16(p)), static_cast<int>(ns_get16(p + 2)), TransportKind::Udp, {}};
      p += 4;
      std::string fields[3];  // flags, services, regexp (character-strings)
      bool bad = false;
      for (std::string& f : fields) {
        if (p >= end || p + 1 + *p > end) {
          bad = true;
          break;
        }
        f.assign(reinterpret_cast<const char*>(p + 1), *p);
        p += 1 + *p;
      }
      if (bad || !q.expand(p, n.replacement)) continue;
      std::string services = fields[1];
      for (char& c : services) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (services == "SIP+D2U") {
        n.transport = TransportKind::Udp;
      } else if (services == "SIP+D2T") {
        n.transport = TransportKind::Tcp;
      } else if (services == "SIPS+D2T") {
        n.transport = TransportKind::Tls;
      } else {
        continue;  // another service (or SCTP): not ours
      }
      if (fields[0] != "s" && fields[0] != "S") continue;  // §4.1: only "s" (SRV) terminal records
      if (supported(n.transport)) naptrs.push_back(std::move(n));
    }
  }
  std::stable_sort(naptrs.begin(), naptrs.end(), [](const Naptr& a, const Naptr& b) {
    return a.order != b.order ? a.order < b.order : a.preference < b.preference;
  });
  for (const Naptr& n : naptrs) {
    for (const Srv& s : srv(q, n.replacement)) {
      for (const IpAddress& a : addresses(q, s.target)) out.push_back({n.transport, a, s.port});
    }
  }
  if (!out.empty()) return out;
  // §4.1: no NAPTR: SRV for each transport we support, in our order.
  for (TransportKind t : l.supported) {
    if (supported(t)) addFromSrv(q, l.host, t, out);
  }
  if (!out.empty()) return out;
  // No SRV either: the host's addresses, UDP (TLS for sips) on the default port.
  TransportKind t = l.sips ? TransportKind::Tls : TransportKind::Udp;
  for (const IpAddress& a : addresses(q, l.host)) out.push_back({t, a, defaultPort(t)});
  return out;
}

}  // namespace sipwarden::transport
