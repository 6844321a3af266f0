#include "registrar/gruu.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

#include <cctype>

#include "sip/text.hpp"

namespace sipwarden::registrar {

namespace {

constexpr std::string_view kTempPrefix = "tgruu.";
constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(const std::vector<std::uint8_t>& in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    std::uint32_t v = in[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> unbase64url(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

/// RFC 3261 §25.1 user part: unreserved and user-unreserved characters as they are, the rest %XX.
std::string escapeUser(std::string_view user) {
  static constexpr std::string_view kAllowed = "-_.!~*'()&=+$,;?/";
  std::string out;
  for (unsigned char c : user) {
    if (std::isalnum(c) || kAllowed.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string_view instanceUrn(std::string_view instance) {
  if (instance.size() >= 2 && instance.front() == '<' && instance.back() == '>') {
    return instance.substr(1, instance.size() - 2);
  }
  return instance;
}

GruuCodec::GruuCodec(std::span<const std::uint8_t> secret) {
  if (secret.size() < 16) throw std::invalid_argument("GRUU secret shorter than 16 bytes");
  static constexpr std::string_view kLabel = "sipwarden temp-gruu";
  key_.resize(32);
  unsigned int len = 32;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(kLabel.data()),
       kLabel.size(), key_.data(), &len);
}

std::string GruuCodec::publicGruu(std::string_view aor, std::string_view instance) {
  std::size_t at = aor.rfind('@');
  std::string out = "sip:";
  out += escapeUser(aor.substr(0, at));
  out += '@';
  out += aor.substr(at + 1);
  out += ";gr=";
  out += instanceUrn(instance);
  return out;
}

std::string GruuCodec::temporaryGruu(std::string_view aor, std::string_view instance) const {
  std::string plain(aor);
  plain += '\n';
  plain += instance;
  std::vector<std::uint8_t> blob(kNonce + plain.size() + kTag);
  RAND_bytes(blob.data(), kNonce);
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), blob.data());
  EVP_EncryptUpdate(ctx.get(), blob.data() + kNonce, &n, reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx.get(), blob.data() + kNonce + n, &n);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, blob.data() + kNonce + plain.size());
  std::size_t at = aor.rfind('@');
  return "sip:" + std::string(kTempPrefix) + base64url(blob) + "@" + std::string(aor.substr(at + 1)) + ";gr";
}

std::optional<GruuCodec::Target> GruuCodec::resolve(std::string_view user, std::string_view domain,
                                                    std::string_view gr) const {
  if (!gr.empty()) {
    // A public GRUU: the AOR is in the clear, the instance in gr.
    if (user.empty()) return std::nullopt;
    return Target{std::string(user) + "@" + std::string(domain), "<" + std::string(gr) + ">"};
  }
  if (user.substr(0, kTempPrefix.size()) != kTempPrefix) return std::nullopt;
  auto blob = unbase64url(user.substr(kTempPrefix.size()));
  if (!blob || blob->size() <= kNonce + kTag) return std::nullopt;
  const std::size_t len = blob->size() - kNonce - kTag;
  std::string plain(len, '\0');
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), blob->data());
  EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n, blob->data() + kNonce,
                    static_cast<int>(len));
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, blob->data() + kNonce + len);
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &n) != 1) return std::nullopt;
  std::size_t nl = plain.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  Target t{plain.substr(0, nl), plain.substr(nl + 1)};
  // The token was minted for this domain only.
  std::size_t at = t.aor.rfind('@');
  if (at == std::string::npos || !sip::iequals(std::string_view(t.aor).substr(at + 1), domain)) return std::nullopt;
  return t;
}

}  // namespace sipwarden::registrar
