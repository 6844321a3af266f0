#include "digest.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "sip/header_values.hpp"
#include "sip/text.hpp"

namespace sipwarden::loadclient {

DigestHasher::DigestHasher()
    : md5_(EVP_MD_fetch(nullptr, "MD5", nullptr)), sha256_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)),
      ctx_(EVP_MD_CTX_new()) {
  if (md5_ == nullptr || sha256_ == nullptr || ctx_ == nullptr) throw std::runtime_error("OpenSSL: no MD5 or SHA-256");
}

DigestHasher::~DigestHasher() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md5_);
  EVP_MD_free(sha256_);
}

void DigestHasher::hex(DigestAlg alg, std::string_view data, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex2(ctx_, alg == DigestAlg::Md5 ? md5_ : sha256_, nullptr);
  EVP_DigestUpdate(ctx_, data.data(), data.size());
  EVP_DigestFinal_ex(ctx_, md, &len);
  out.resize(2 * len);
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
}

namespace {

bool qopHasAuth(std::string_view qop) {
  // qop-options is a quoted, comma-separated list ("auth,auth-int").
  while (!qop.empty()) {
    auto comma = qop.find(',');
    std::string_view item = sip::trimLws(qop.substr(0, comma));
    if (sip::iequals(item, "auth")) return true;
    if (comma == std::string_view::npos) break;
    qop.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool pickChallenge(const sip::Message& response, std::string_view want, Challenge& out, std::string& why) {
  why.clear();
  for (const sip::HeaderField& h : response.headers()) {
    bool proxy = h.id == sip::HeaderId::ProxyAuthenticate;
    if (!proxy && h.id != sip::HeaderId::WwwAuthenticate) continue;
    sip::AuthValue av;
    if (sip::Why w = sip::parseAuth(h.value, av)) {
      why = std::string("bad challenge: ") + w;
      continue;
    }
    if (!av.isDigest()) continue;
    DigestAlg alg;
    if (av.algorithm.empty() || sip::iequals(av.algorithm, "MD5")) {
      alg = DigestAlg::Md5;
    } else if (sip::iequals(av.algorithm, "SHA-256")) {
      alg = DigestAlg::Sha256;
    } else {
      continue;  // SHA-512-256, the -sess variants: not offered by this client
    }
    if (want == "MD5" && alg != DigestAlg::Md5) continue;
    if (want == "SHA-256" && alg != DigestAlg::Sha256) continue;
    out.proxy = proxy;
    out.alg = alg;
    out.algorithmGiven = !av.algorithm.empty();
    out.qopAuth = !av.qop.empty() && qopHasAuth(av.qop);
    out.realm.assign(av.realm);
    out.nonce.assign(av.nonce);
    out.opaque.assign(av.opaque);
    if (!av.qop.empty() && !out.qopAuth) {
      why = "challenge offers qop without auth";
      continue;
    }
    return true;
  }
  if (why.empty()) why = "no usable Digest challenge";
  return false;
}

void appendCredentials(DigestHasher& hasher, const Challenge& c, std::string_view user, std::string_view password,
                       std::string_view method, std::string_view uri, std::string_view cnonce, std::string& out) {
  static constexpr std::string_view kNc = "00000001";  // every nonce is used once by this client
  thread_local std::string buf, ha1, ha2, response;
  buf.clear();
  buf.append(user).append(":").append(c.realm).append(":").append(password);
  hasher.hex(c.alg, buf, ha1);
  buf.clear();
  buf.append(method).append(":").append(uri);
  hasher.hex(c.alg, buf, ha2);
  buf.clear();
  buf.append(ha1).append(":").append(c.nonce).append(":");
  if (c.qopAuth) buf.append(kNc).append(":").append(cnonce).append(":auth:");
  buf.append(ha2);
  hasher.hex(c.alg, buf, response);

  out.append(c.proxy ? "Proxy-Authorization: Digest username=\"" : "Authorization: Digest username=\"");
  out.append(user).append("\", realm=\"").append(c.realm).append("\", nonce=\"").append(c.nonce);
  out.append("\", uri=\"").append(uri).append("\", response=\"").append(response).append("\"");
  if (c.algorithmGiven || c.alg != DigestAlg::Md5) {
    out.append(c.alg == DigestAlg::Md5 ? ", algorithm=MD5" : ", algorithm=SHA-256");
  }
  if (c.qopAuth) out.append(", qop=auth, nc=").append(kNc).append(", cnonce=\"").append(cnonce).append("\"");
  if (!c.opaque.empty()) out.append(", opaque=\"").append(c.opaque).append("\"");
  out.append("\r\n");
}

}  // namespace sipwarden::loadclient
