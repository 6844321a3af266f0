// HMAC-SHA256 with a reusable per-thread OpenSSL context, for the MACs the server puts in what it
// hands out and must recognise later: nonces (nonce.hpp) and flow tokens (proxy/flow_token.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace sipwarden::auth {

using Sha256Mac = std::array<std::uint8_t, 32>;

/// HMAC-SHA256(key, data). False when OpenSSL fails: callers then fail closed. Thread-safe (RFC 2104 over a
/// per-thread SHA-256 context; OpenSSL 3.0's HMAC, one-shot or EVP_MAC, allocates on every call).
bool hmacSha256(std::span<const std::uint8_t> key, const void* data, std::size_t size, Sha256Mac& mac);

}  // namespace sipwarden::auth
