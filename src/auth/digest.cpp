#include "auth/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

#include "sip/text.hpp"

namespace sipwarden::auth {

namespace {

// OpenSSL 3 looks an algorithm up (a locked property query) on every EVP_Digest() given a
// legacy EVP_md5()-style pointer. Fetch each once; the fetched objects live for the process.
const EVP_MD* evpFor(DigestAlgorithm algorithm) {
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  static EVP_MD* const sha512_256 = EVP_MD_fetch(nullptr, "SHA2-512/256", nullptr);
  switch (algorithm) {
    case DigestAlgorithm::Md5: return md5;
    case DigestAlgorithm::Sha256: return sha256;
    case DigestAlgorithm::Sha512_256: return sha512_256;
  }
  return nullptr;
}

/// One digest context per thread, reused (freed when the thread ends).
struct ThreadDigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~ThreadDigestContext() { EVP_MD_CTX_free(ctx); }
};

std::string toHex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

/// Joins the parts with ':' (the separator of every Digest hash input).
template <std::size_t N>
std::string joinColon(const std::array<std::string_view, N>& parts) {
  std::size_t size = N - 1;
  for (std::string_view p : parts) size += p.size();
  std::string out;
  out.reserve(size);
  for (std::size_t i = 0; i < N; ++i) {
    if (i != 0) out.push_back(':');
    out.append(parts[i]);
  }
  return out;
}

}  // namespace

std::optional<DigestAlgorithm> parseAlgorithm(std::string_view name) {
  if (sip::iequals(name, "MD5")) return DigestAlgorithm::Md5;
  if (sip::iequals(name, "SHA-256")) return DigestAlgorithm::Sha256;
  if (sip::iequals(name, "SHA-512-256")) return DigestAlgorithm::Sha512_256;
  return std::nullopt;
}

std::string_view algorithmName(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::Md5: return "MD5";
    case DigestAlgorithm::Sha256: return "SHA-256";
    case DigestAlgorithm::Sha512_256: return "SHA-512-256";
  }
  return "MD5";
}

std::string digestHex(DigestAlgorithm algorithm, std::string_view data) {
  const EVP_MD* md = evpFor(algorithm);
  if (md == nullptr) return {};
  thread_local ThreadDigestContext context;
  EVP_MD_CTX* ctx = context.ctx;
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx, out.data(), &len) != 1) {
    return {};
  }
  return toHex(out.data(), len);
}

std::string computeHa1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                       std::string_view password) {
  return digestHex(algorithm, joinColon(std::array{username, realm, password}));
}

std::string computeResponse(DigestAlgorithm algorithm, std::string_view ha1, std::string_view method,
                            std::string_view digestUri, std::string_view nonce, std::string_view nc,
                            std::string_view cnonce, std::string_view qop) {
  // HA2 = H(method ":" digest-uri) for qop="auth" (and for no qop); auth-int is not offered.
  std::string ha2 = digestHex(algorithm, joinColon(std::array{method, digestUri}));
  if (qop.empty()) return digestHex(algorithm, joinColon(std::array<std::string_view, 3>{ha1, nonce, ha2}));
  return digestHex(algorithm, joinColon(std::array<std::string_view, 6>{ha1, nonce, nc, cnonce, qop, ha2}));
}

const std::string& Ha1Set::forAlgorithm(DigestAlgorithm algorithm) const {
  switch (algorithm) {
    case DigestAlgorithm::Md5: return md5;
    case DigestAlgorithm::Sha256: return sha256;
    case DigestAlgorithm::Sha512_256: return sha512_256;
  }
  return md5;
}

Ha1Set computeHa1Set(std::string_view username, std::string_view realm, std::string_view password) {
  return Ha1Set{computeHa1(DigestAlgorithm::Md5, username, realm, password),
                computeHa1(DigestAlgorithm::Sha256, username, realm, password),
                computeHa1(DigestAlgorithm::Sha512_256, username, realm, password)};
}

bool equalsConstantTime(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sipwarden::auth
