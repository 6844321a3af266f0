#include "transport/peer.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "sip/text.hpp"

namespace sipwarden::transport {

std::string_view transportName(TransportKind k) {
  switch (k) {
    case TransportKind::Udp: return "UDP";
    case TransportKind::Tcp: return "TCP";
    case TransportKind::Tls: return "TLS";
    case TransportKind::Ws: return "WS";
    case TransportKind::Wss: return "WSS";
  }
  return "UDP";
}

bool parseTransportName(std::string_view text, TransportKind& out) {
  static constexpr TransportKind kAll[] = {TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls,
                                           TransportKind::Ws, TransportKind::Wss};
  for (TransportKind k : kAll) {
    if (sip::iequals(text, transportName(k))) {
      out = k;
      return true;
    }
  }
  return false;
}

std::string IpAddress::toString() const {
  if (!v6) {
    // The dotted quad by hand: inet_ntop goes through sprintf, and this runs for most requests
    // (Via received=, the stored binding's address).
    char quad[16];
    std::size_t n = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      if (i != 0) quad[n++] = '.';
      unsigned v = bytes[i];
      if (v >= 100) quad[n++] = static_cast<char>('0' + v / 100);
      if (v >= 10) quad[n++] = static_cast<char>('0' + v / 10 % 10);
      quad[n++] = static_cast<char>('0' + v % 10);
    }
    return std::string(quad, n);
  }
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf) == nullptr) return {};
  return buf;
}

bool IpAddress::parse(std::string_view text, IpAddress& out) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
    a.v6 = false;
  } else if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    a.v6 = true;
  } else {
    return false;
  }
  out = a;
  return true;
}

std::string Peer::hostPort() const {
  std::string s = address.v6 ? "[" + address.toString() + "]" : address.toString();
  s += ':';
  s += std::to_string(port);
  return s;
}

std::string Peer::toString() const {
  std::string s;
  for (char c : transportName(transport)) s += static_cast<char>(c | 0x20);
  s += ':';
  s += hostPort();
  if (connectionId != 0) {
    s += '#';
    s += std::to_string(connectionId);
  }
  return s;
}

}  // namespace sipwarden::transport
