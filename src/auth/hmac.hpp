// HMAC-SHA256 with a reusable per-thread OpenSSL context, for the MACs the server puts in what it
// hands out and must recognise later: nonces (nonce.hpp) and flow tokens (proxy/flow_token.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace sipwarden::auth {

using Sha256Mac = std::array<std::uint8_t, 32>;

/// HMAC-SHA256(key, data). False when OpenSSL fails: callers then fail closed. Thread-safe (one
/// context per thread; the one-shot HMAC() of OpenSSL 3 fetches and allocates on every call).
bool hmacSha256(std::span<const std::uint8_t> key, const void* data, std::size_t size, Sha256Mac& mac);

}  // namespace sipwarden::auth
