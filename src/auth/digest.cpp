// MD5() and SHA256() are the one-shot low-level functions: OpenSSL 3 deprecates MD5's, but it
// hashes a short input without EVP's per-call context set-up and provider dispatch, which cost
// more than the hash itself for the 40-200 bytes of a Digest input.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "auth/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>

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

void toHex(const unsigned char* bytes, std::size_t n, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
}

/// H(parts joined with ':'), the form of every Digest hash input, fed to the hash part by part
/// (no joined copy).
template <std::size_t N>
HexDigest hashJoined(DigestAlgorithm algorithm, const std::array<std::string_view, N>& parts) {
  HexDigest result;
  // MD5 and SHA-256 of an input that fits the buffer: joined, then one call.
  constexpr std::size_t kJoinedMax = 1024;
  std::size_t total = N - 1;
  for (std::string_view p : parts) total += p.size();
  if (algorithm != DigestAlgorithm::Sha512_256 && total <= kJoinedMax) {
    char joined[kJoinedMax];
    std::size_t at = 0;
    for (std::size_t i = 0; i < N; ++i) {
      if (i != 0) joined[at++] = ':';
      if (!parts[i].empty()) std::memcpy(joined + at, parts[i].data(), parts[i].size());
      at += parts[i].size();
    }
    const auto* in = reinterpret_cast<const unsigned char*>(joined);
    unsigned char out[SHA256_DIGEST_LENGTH];
    const std::size_t len = algorithm == DigestAlgorithm::Md5 ? MD5_DIGEST_LENGTH : SHA256_DIGEST_LENGTH;
    if ((algorithm == DigestAlgorithm::Md5 ? MD5(in, at, out) : SHA256(in, at, out)) == nullptr) return result;
    toHex(out, len, result.text.data());
    result.size = 2 * len;
    return result;
  }
  const EVP_MD* md = evpFor(algorithm);
  if (md == nullptr) return result;
  thread_local ThreadDigestContext context;
  EVP_MD_CTX* ctx = context.ctx;
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx, md, nullptr) != 1) return result;
  for (std::size_t i = 0; i < N; ++i) {
    if (i != 0 && EVP_DigestUpdate(ctx, ":", 1) != 1) return result;
    if (!parts[i].empty() && EVP_DigestUpdate(ctx, parts[i].data(), parts[i].size()) != 1) return result;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || 2 * len > result.text.size()) return result;
  toHex(out.data(), len, result.text.data());
  result.size = 2 * len;
  return result;
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
  return std::string(hashJoined(algorithm, std::array{data}).view());
}

std::string computeHa1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                       std::string_view password) {
  return std::string(hashJoined(algorithm, std::array{username, realm, password}).view());
}

HexDigest computeResponseHex(DigestAlgorithm algorithm, std::string_view ha1, std::string_view method,
                             std::string_view digestUri, std::string_view nonce, std::string_view nc,
                             std::string_view cnonce, std::string_view qop) {
  // HA2 = H(method ":" digest-uri) for qop="auth" (and for no qop); auth-int is not offered.
  HexDigest ha2 = hashJoined(algorithm, std::array{method, digestUri});
  if (ha2.size == 0) return {};
  if (qop.empty()) return hashJoined(algorithm, std::array<std::string_view, 3>{ha1, nonce, ha2.view()});
  return hashJoined(algorithm, std::array<std::string_view, 6>{ha1, nonce, nc, cnonce, qop, ha2.view()});
}

std::string computeResponse(DigestAlgorithm algorithm, std::string_view ha1, std::string_view method,
                            std::string_view digestUri, std::string_view nonce, std::string_view nc,
                            std::string_view cnonce, std::string_view qop) {
  return std::string(computeResponseHex(algorithm, ha1, method, digestUri, nonce, nc, cnonce, qop).view());
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
