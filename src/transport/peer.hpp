// Where a message came from or goes to: the transport, the remote address and, for connection
// transports, the connection it belongs to. A plain value (no Asio) so that the transaction layer
// and the registrar can keep it without knowing about sockets.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sipwarden::transport {

enum class TransportKind : std::uint8_t { Udp, Tcp, Tls, Ws, Wss };

/// "UDP", "TCP", "TLS", "WS", "WSS" (as in a Via header).
std::string_view transportName(TransportKind k);
/// Parses a Via transport token or a listener scheme, case-insensitively ("udp", "TCP"...).
bool parseTransportName(std::string_view text, TransportKind& out);
/// RFC 3261 §18: TCP, TLS, WS and WSS are reliable; no retransmission timers on them.
constexpr bool isReliable(TransportKind k) { return k != TransportKind::Udp; }

/// An IPv4 or IPv6 address in network byte order. IPv4 uses the first 4 bytes.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = false;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  /// "192.0.2.1" or "2001:db8::1" (without brackets).
  [[nodiscard]] std::string toString() const;
  /// Parses a dotted IPv4 or an IPv6 literal (brackets allowed).
  static bool parse(std::string_view text, IpAddress& out);
};

struct Peer {
  TransportKind transport = TransportKind::Udp;
  IpAddress address;
  std::uint16_t port = 0;
  /// The connection a message came on (TCP/TLS/WS/WSS); 0 for UDP or "open a new one".
  std::uint64_t connectionId = 0;
  /// Index of the local listener that received it (selects the UDP socket to answer from).
  std::uint32_t listener = 0;

  friend bool operator==(const Peer&, const Peer&) = default;
  /// "udp:192.0.2.1:5060", "tcp:[2001:db8::1]:5060#17" (connection id after '#').
  [[nodiscard]] std::string toString() const;
  /// "192.0.2.1:5060" or "[2001:db8::1]:5060".
  [[nodiscard]] std::string hostPort() const;
};

}  // namespace sipwarden::transport
