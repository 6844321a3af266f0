#include "auth/hmac.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace sipwarden::auth {
namespace {

struct ThreadHmacContext {
  EVP_MAC_CTX* ctx = nullptr;
  ThreadHmacContext() {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac != nullptr) ctx = EVP_MAC_CTX_new(mac);
  }
  ~ThreadHmacContext() { EVP_MAC_CTX_free(ctx); }
  ThreadHmacContext(const ThreadHmacContext&) = delete;
  ThreadHmacContext& operator=(const ThreadHmacContext&) = delete;
};

}  // namespace

bool hmacSha256(std::span<const std::uint8_t> key, const void* data, std::size_t size, Sha256Mac& mac) {
  thread_local ThreadHmacContext context;
  if (context.ctx == nullptr) return false;
  static char digest[] = "SHA2-256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  std::size_t len = 0;
  return EVP_MAC_init(context.ctx, key.data(), key.size(), params) == 1 &&
         EVP_MAC_update(context.ctx, static_cast<const unsigned char*>(data), size) == 1 &&
         EVP_MAC_final(context.ctx, mac.data(), &len, mac.size()) == 1 && len == mac.size();
}

}  // namespace sipwarden::auth
