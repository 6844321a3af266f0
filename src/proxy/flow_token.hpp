// Flow tokens (RFC 5626 §5.2): the proxy writes the flow a request came on, or the flow it sent
// it out on, into the user part of its Record-Route URI. An in-dialog request that routes through
// that URI later goes back over the same flow: the same TCP connection, or the same UDP address
// and socket, even when the user agent's Contact is not reachable (NAT, a TCP connection that it
// opened itself).
//
//   token = hex( kind(1) | listener(1) | port(2) | address(4 or 16) | connection(8) | mac(8) )
//   mac   = HMAC-SHA256(secret, everything before it), first 8 bytes
//
// The MAC stops anyone from forging a Route that sends through somebody else's connection.
// Thread-safety: immutable after construction.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/hmac.hpp"
#include "transport/peer.hpp"

namespace sipwarden::proxy {

class FlowTokens {
 public:
  /// `secret` keys the MAC (copied; at least 16 bytes, else std::invalid_argument).
  explicit FlowTokens(std::span<const std::uint8_t> secret);

  /// The token of `flow` (lower-case hex, 48 characters for IPv4, 72 for IPv6).
  [[nodiscard]] std::string encode(const transport::Peer& flow) const;
  /// The flow of a token this server made; nullopt for anything else (wrong length, not hex,
  /// bad MAC, unknown transport).
  [[nodiscard]] std::optional<transport::Peer> decode(std::string_view token) const;
  /// The MAC keyed with the server secret, for the other things this server signs (its Via
  /// branches, proxy.hpp); each keeps its inputs apart with its own prefix.
  [[nodiscard]] const auth::HmacSha256& mac() const { return mac_; }

 private:
  std::vector<std::uint8_t> secret_;
  auth::HmacSha256 mac_;  ///< keyed with secret_
};

}  // namespace sipwarden::proxy
