// Stateless server nonces (RFC 7616 §3.3 and §5.4, "nonce" and "stale"): the server keeps no table
// of issued nonces; a nonce carries its issue time and a MAC that proves the server made it.
//
//   nonce = base64url-without-padding( issued(8, big-endian unix seconds) | epoch(4) | serial(8) | mac(12) )
//   mac   = HMAC-SHA256(secret, issued | epoch | serial), first 12 bytes
//
// `serial` numbers the nonces this service issues (from a random start, modulo 2^64): it makes
// every nonce unique and is where NonceCounter keeps the nonce's count. Replay within the lifetime
// is NonceCounter's job (nc), not this class's. That table lives in this process's memory, so a
// nonce is Valid only for the service that issued it: `epoch` is random per NonceService (per
// start of the server). A nonce of an earlier start, or of another server with the same secret,
// has a good MAC but counts the server never saw: it is Stale, and the client is asked again
// (stale=true) instead of a captured request being replayed once more.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/hmac.hpp"

namespace sipwarden::auth {

using WallClock = std::chrono::system_clock;

/// Thread-safety: immutable after construction; every const member may be called concurrently.
class NonceService {
 public:
  /// Length of an issued nonce in characters (32 bytes in base64url without padding).
  static constexpr std::size_t kNonceLength = 43;
  /// How far in the future an issue time may lie (clock steps between workers/instances).
  static constexpr std::chrono::seconds kMaxClockSkew{5};

  /// `secret` (copied) keys the MAC; it must be at least 16 bytes, else std::invalid_argument.
  /// `lifetime` must be positive. A random epoch marks this service's nonces (see above).
  NonceService(std::span<const std::uint8_t> secret, std::chrono::seconds lifetime);

  /// 32 bytes from OpenSSL's RAND_bytes; throws std::runtime_error when the RNG fails (start-up).
  static std::vector<std::uint8_t> randomSecret();

  /// A fresh nonce issued at `now`, with the next serial.
  std::string issue(WallClock::time_point now) const;
  /// issue() into `out` (replacing its content, reusing its storage).
  void issue(WallClock::time_point now, std::string& out) const;

  enum class Verdict { Valid, Stale, Invalid };

  /// Valid: ours and now < issue time + lifetime. Stale: ours but expired (RFC 7616 §3.3 stale=true),
  /// or made with this secret by another service (another start, another server).
  /// Invalid: not ours, tampered, malformed (only canonical base64url of the exact length), or
  /// issued more than kMaxClockSkew after `now`.
  Verdict check(std::string_view nonce, WallClock::time_point now) const;

  struct Inspection {
    Verdict verdict = Verdict::Invalid;
    WallClock::time_point issuedAt{};   ///< meaningful unless Invalid
    WallClock::time_point expiresAt{};  ///< issuedAt + lifetime; unless Invalid
    std::uint64_t serial = 0;           ///< meaningful unless Invalid
  };
  /// check() plus the times the nonce carries (for NonceCounter's expiry).
  Inspection inspect(std::string_view nonce, WallClock::time_point now) const;

  /// The opaque parameter (RFC 7616 §3.3): fixed per secret, hex of the first 16 bytes of
  /// HMAC-SHA256(secret, "opaque").
  const std::string& opaque() const { return opaque_; }
  std::chrono::seconds lifetime() const { return lifetime_; }

 private:
  std::vector<std::uint8_t> secret_;
  HmacSha256 mac_;  ///< keyed with secret_
  std::chrono::seconds lifetime_;
  std::string opaque_;
  std::array<std::uint8_t, 4> epoch_{};  ///< random per service: its nonces' bytes 8..11
  mutable std::atomic<std::uint64_t> serial_{0};  ///< the next nonce's bytes 12..19
};

}  // namespace sipwarden::auth
