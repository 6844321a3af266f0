// The PROXY protocol header (HAProxy's "PROXY protocol" versions 1 and 2) that a load balancer puts
// in front of a TCP or TLS stream to say where the client really connected from. Pure parsing: the
// transport peeks at the first bytes of a connection, asks parseProxyHeader() how long the header
// is and what it says, then consumes exactly that many bytes (the rest is SIP or a TLS handshake).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "transport/peer.hpp"

namespace sipwarden::transport {

struct ProxyHeader {
  enum class Status : std::uint8_t {
    NeedMore,  ///< not enough bytes yet to decide
    Invalid,   ///< not a PROXY header (or a malformed one): the connection must be refused
    Ok,
  };
  Status status = Status::NeedMore;
  std::size_t length = 0;  ///< bytes of the header (Ok)
  /// The connection was made by the balancer itself (v2 LOCAL, v1 UNKNOWN, or a family other
  /// than TCP over IPv4/IPv6): keep the real peer address.
  bool local = false;
  IpAddress source;  ///< the client's address (Ok and !local)
  std::uint16_t sourcePort = 0;
  const char* error = "";  ///< why, when Invalid
};

/// The longest header accepted: v1 is at most 107 bytes; v2 is 16 bytes plus its address block
/// and TLVs, which we cap (a balancer sends a few dozen bytes of TLVs at most).
inline constexpr std::size_t kMaxProxyHeader = 16 + 512;

/// Parses the start of a connection's bytes. Detects the version by its signature.
ProxyHeader parseProxyHeader(std::string_view bytes);

}  // namespace sipwarden::transport
