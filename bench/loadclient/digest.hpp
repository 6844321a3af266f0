// The client side of SIP Digest (RFC 3261 §22, RFC 7616 §3.4 with qop=auth, RFC 8760 for
// SHA-256): picking a challenge out of a 401/407 and computing credentials. The hashes come from
// OpenSSL EVP here, independently of the server's auth/ code, so that the load client checks it.
//
// Thread-safety: a DigestHasher belongs to one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sip/message.hpp"

typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace sipwarden::loadclient {

enum class DigestAlg : std::uint8_t { Md5, Sha256 };

/// The challenge chosen from a response, with its text copied out of the message.
struct Challenge {
  bool proxy = false;  ///< Proxy-Authenticate (answer with Proxy-Authorization)
  DigestAlg alg = DigestAlg::Md5;
  bool algorithmGiven = false;
  bool qopAuth = false;  ///< qop offered "auth": answer with qop=auth, nc and cnonce
  std::string realm, nonce, opaque;
};

class DigestHasher {
 public:
  DigestHasher();
  ~DigestHasher();
  DigestHasher(const DigestHasher&) = delete;
  DigestHasher& operator=(const DigestHasher&) = delete;

  /// Lower-case hex of H(data).
  void hex(DigestAlg alg, std::string_view data, std::string& out);

 private:
  EVP_MD* md5_ = nullptr;
  EVP_MD* sha256_ = nullptr;
  EVP_MD_CTX* ctx_ = nullptr;
};

/// `want`: "auto" takes the first challenge whose algorithm is supported (RFC 8760 §2.4), "MD5" or
/// "SHA-256" only that one. Returns false (and why) when the response has no usable challenge.
bool pickChallenge(const sip::Message& response, std::string_view want, Challenge& out, std::string& why);

/// Appends "Authorization: Digest ..." (or Proxy-Authorization) and CRLF to `out`.
void appendCredentials(DigestHasher& hasher, const Challenge& c, std::string_view user, std::string_view password,
                       std::string_view method, std::string_view uri, std::string_view cnonce, std::string& out);

}  // namespace sipwarden::loadclient
