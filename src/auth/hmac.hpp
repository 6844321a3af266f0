// HMAC-SHA256 for the MACs the server puts in what it hands out and must recognise later: nonces
// (nonce.hpp) and flow tokens (proxy/flow_token.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace sipwarden::auth {

using Sha256Mac = std::array<std::uint8_t, 32>;

/// HMAC-SHA256 under one key (RFC 2104), with the key's two padded blocks hashed once: a MAC of a
/// message under 56 bytes then costs two SHA-256 compressions instead of four, allocates nothing
/// (OpenSSL 3.0's EVP_MAC copies digest contexts on every init and final), and compute() is const,
/// so one key serves every thread.
class HmacSha256 {
 public:
  explicit HmacSha256(std::span<const std::uint8_t> key);
  /// HMAC-SHA256(key, data). False when OpenSSL fails: callers then fail closed.
  bool compute(const void* data, std::size_t size, Sha256Mac& mac) const;

 private:
  // SHA256_CTX states (OpenSSL's plain struct, copied by value) after K0 ^ ipad and K0 ^ opad.
  static constexpr std::size_t kStateBytes = 128;
  alignas(16) std::array<unsigned char, kStateBytes> inner_{};
  alignas(16) std::array<unsigned char, kStateBytes> outer_{};
  bool ok_ = false;
};

/// HMAC-SHA256(key, data) for a one-off key (prepares the key each call: hold an HmacSha256 for
/// a key used more than once). False when OpenSSL fails.
bool hmacSha256(std::span<const std::uint8_t> key, const void* data, std::size_t size, Sha256Mac& mac);

}  // namespace sipwarden::auth
