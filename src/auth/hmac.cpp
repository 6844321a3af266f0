// OpenSSL's SHA256_* functions are deprecated in 3.0 in favour of EVP, but EVP gives no way to copy
// a digest state without allocating (EVP_MD_CTX_copy_ex duplicates the provider context), and a
// keyed HMAC is exactly a copied state. SHA256_CTX is a plain struct: copying it is a memcpy.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "auth/hmac.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace sipwarden::auth {
namespace {

constexpr std::size_t kBlock = 64;  // SHA-256's block size

}  // namespace

static_assert(sizeof(SHA256_CTX) <= 128, "HmacSha256::kStateBytes must hold a SHA256_CTX");

// RFC 2104: HMAC(K, m) = H((K0 ^ opad) | H((K0 ^ ipad) | m)), K0 the key padded with zeros to the
// block size (hashed first when longer than a block).
HmacSha256::HmacSha256(std::span<const std::uint8_t> key) {
  std::array<std::uint8_t, kBlock> k0{};
  if (key.size() > kBlock) {
    if (SHA256(key.data(), key.size(), k0.data()) == nullptr) return;
  } else {
    std::copy(key.begin(), key.end(), k0.begin());
  }
  std::array<std::uint8_t, kBlock> pad{};
  SHA256_CTX ctx;
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k0[i] ^ 0x36;
  if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, pad.data(), pad.size()) != 1) return;
  std::memcpy(inner_.data(), &ctx, sizeof ctx);
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k0[i] ^ 0x5c;
  if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, pad.data(), pad.size()) != 1) return;
  std::memcpy(outer_.data(), &ctx, sizeof ctx);
  OPENSSL_cleanse(&ctx, sizeof ctx);
  OPENSSL_cleanse(k0.data(), k0.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  ok_ = true;
}

bool HmacSha256::compute(const void* data, std::size_t size, Sha256Mac& mac) const {
  if (!ok_) return false;
  SHA256_CTX ctx;
  Sha256Mac inner{};
  std::memcpy(&ctx, inner_.data(), sizeof ctx);
  if (SHA256_Update(&ctx, data, size) != 1 || SHA256_Final(inner.data(), &ctx) != 1) return false;
  std::memcpy(&ctx, outer_.data(), sizeof ctx);
  return SHA256_Update(&ctx, inner.data(), inner.size()) == 1 && SHA256_Final(mac.data(), &ctx) == 1;
}

bool hmacSha256(std::span<const std::uint8_t> key, const void* data, std::size_t size, Sha256Mac& mac) {
  return HmacSha256(key).compute(data, size, mac);
}

}  // namespace sipwarden::auth
