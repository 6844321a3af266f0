#include "auth/hmac.hpp"

#include <openssl/evp.h>

#include <array>

namespace sipwarden::auth {

namespace {

constexpr std::size_t kBlock = 64;  // SHA-256's block size

/// One SHA-256 context per thread, reused: EVP_DigestInit_ex2 on a context that already holds
/// this digest allocates nothing, whereas OpenSSL 3.0's EVP_MAC HMAC copies (allocates) digest
/// contexts on every init and final.
struct ThreadSha256 {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~ThreadSha256() { EVP_MD_CTX_free(ctx); }
  ThreadSha256() = default;
  ThreadSha256(const ThreadSha256&) = delete;
  ThreadSha256& operator=(const ThreadSha256&) = delete;
};

const EVP_MD* sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return md;
}

/// SHA-256(a | b) into `out`.
bool hashTwo(EVP_MD_CTX* ctx, const void* a, std::size_t aSize, const void* b, std::size_t bSize, Sha256Mac& out) {
  unsigned int len = 0;
  return EVP_DigestInit_ex2(ctx, sha256(), nullptr) == 1 && EVP_DigestUpdate(ctx, a, aSize) == 1 &&
         (bSize == 0 || EVP_DigestUpdate(ctx, b, bSize) == 1) && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 &&
         len == out.size();
}

}  // namespace

// RFC 2104: HMAC(K, m) = H((K0 ^ opad) | H((K0 ^ ipad) | m)), K0 the key padded with zeros to the
// block size (hashed first when longer than a block).
bool hmacSha256(std::span<const std::uint8_t> key, const void* data, std::size_t size, Sha256Mac& mac) {
  thread_local ThreadSha256 context;
  EVP_MD_CTX* ctx = context.ctx;
  if (ctx == nullptr || sha256() == nullptr) return false;
  std::array<std::uint8_t, kBlock> k0{};
  if (key.size() > kBlock) {
    Sha256Mac hashedKey{};
    if (!hashTwo(ctx, key.data(), key.size(), nullptr, 0, hashedKey)) return false;
    std::copy(hashedKey.begin(), hashedKey.end(), k0.begin());
  } else {
    std::copy(key.begin(), key.end(), k0.begin());
  }
  std::array<std::uint8_t, kBlock> pad{};
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k0[i] ^ 0x36;
  Sha256Mac inner{};
  if (!hashTwo(ctx, pad.data(), pad.size(), data, size, inner)) return false;
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k0[i] ^ 0x5c;
  return hashTwo(ctx, pad.data(), pad.size(), inner.data(), inner.size(), mac);
}

}  // namespace sipwarden::auth
