#include "auth/nonce.hpp"

#include "auth/hmac.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <stdexcept>

namespace sipwarden::auth {

namespace {

constexpr std::size_t kTimeBytes = 8;
constexpr std::size_t kEpochBytes = 4;
constexpr std::size_t kSerialBytes = 8;
constexpr std::size_t kSignedBytes = kTimeBytes + kEpochBytes + kSerialBytes;
constexpr std::size_t kMacBytes = 12;  ///< HMAC-SHA256 truncated to 96 bits: a forgery needs about 2^96 tries
constexpr std::size_t kRawBytes = kSignedBytes + kMacBytes;
constexpr std::size_t kMinSecretBytes = 16;

using Raw = std::array<std::uint8_t, kRawBytes>;
using Mac = Sha256Mac;

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

void base64UrlEncode(const Raw& raw, std::string& out) {
  out.clear();
  out.reserve(NonceService::kNonceLength);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(acc << (6 - bits)) & 0x3f]);
}

/// Decodes exactly kNonceLength characters; rejects any other character and non-zero padding bits,
/// so that every nonce has one spelling.
bool base64UrlDecode(std::string_view text, Raw& out) {
  if (text.size() != NonceService::kNonceLength) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : text) {
    int v = base64UrlValue(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<std::uint8_t>((acc >> bits) & 0xff);
    }
  }
  return n == kRawBytes && (acc & ((1u << bits) - 1)) == 0;
}

std::int64_t unixSeconds(WallClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

NonceService::NonceService(std::span<const std::uint8_t> secret, std::chrono::seconds lifetime)
    : secret_(secret.begin(), secret.end()), mac_(secret), lifetime_(lifetime) {
  if (secret_.size() < kMinSecretBytes) throw std::invalid_argument("nonce secret must be at least 16 bytes");
  if (lifetime_ <= std::chrono::seconds::zero()) throw std::invalid_argument("nonce lifetime must be positive");
  std::array<std::uint8_t, 8> start{};
  if (RAND_bytes(epoch_.data(), static_cast<int>(epoch_.size())) != 1 ||
      RAND_bytes(start.data(), static_cast<int>(start.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed while choosing the nonce epoch");
  }
  std::uint64_t first = 0;
  for (std::uint8_t b : start) first = first << 8 | b;
  serial_.store(first);
  static constexpr std::string_view kLabel = "opaque";
  Mac mac{};
  if (!mac_.compute(kLabel.data(), kLabel.size(), mac)) throw std::runtime_error("HMAC-SHA256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  opaque_.reserve(32);
  for (std::size_t i = 0; i < 16; ++i) {
    opaque_.push_back(kHex[mac[i] >> 4]);
    opaque_.push_back(kHex[mac[i] & 0x0f]);
  }
}

std::vector<std::uint8_t> NonceService::randomSecret() {
  std::vector<std::uint8_t> secret(32);
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed while generating the nonce secret");
  }
  return secret;
}

std::string NonceService::issue(WallClock::time_point now) const {
  std::string out;
  issue(now, out);
  return out;
}

void NonceService::issue(WallClock::time_point now, std::string& out) const {
  Raw raw{};
  auto issued = static_cast<std::uint64_t>(unixSeconds(now));
  for (std::size_t i = 0; i < kTimeBytes; ++i) raw[i] = static_cast<std::uint8_t>(issued >> (8 * (kTimeBytes - 1 - i)));
  std::copy(epoch_.begin(), epoch_.end(), raw.begin() + kTimeBytes);
  const std::uint64_t serial = serial_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < kSerialBytes; ++i) {
    raw[kTimeBytes + kEpochBytes + i] = static_cast<std::uint8_t>(serial >> (8 * (kSerialBytes - 1 - i)));
  }
  // On an HMAC failure the zero MAC makes a nonce that inspect() rejects.
  Mac mac{};
  mac_.compute(raw.data(), kSignedBytes, mac);
  std::copy_n(mac.begin(), kMacBytes, raw.begin() + kSignedBytes);
  base64UrlEncode(raw, out);
}

NonceService::Inspection NonceService::inspect(std::string_view nonce, WallClock::time_point now) const {
  Inspection result;
  Raw raw{};
  if (!base64UrlDecode(nonce, raw)) return result;
  Mac mac{};
  if (!mac_.compute(raw.data(), kSignedBytes, mac)) return result;
  if (CRYPTO_memcmp(mac.data(), raw.data() + kSignedBytes, kMacBytes) != 0) return result;

  std::uint64_t issued = 0;
  for (std::size_t i = 0; i < kTimeBytes; ++i) issued = (issued << 8) | raw[i];
  const auto issuedSeconds = static_cast<std::int64_t>(issued);
  const std::int64_t nowSeconds = unixSeconds(now);
  // The MAC proves we issued it, so issuedSeconds came from a real time point; differences are
  // still taken in unsigned arithmetic so that no input can overflow them.
  if (issuedSeconds > nowSeconds) {
    if (static_cast<std::uint64_t>(issuedSeconds) - static_cast<std::uint64_t>(nowSeconds) >
        static_cast<std::uint64_t>(kMaxClockSkew.count())) {
      return result;
    }
    result.verdict = Verdict::Valid;
  } else {
    const std::uint64_t age = static_cast<std::uint64_t>(nowSeconds) - static_cast<std::uint64_t>(issuedSeconds);
    result.verdict = age >= static_cast<std::uint64_t>(lifetime_.count()) ? Verdict::Stale : Verdict::Valid;
  }
  // Made with our secret by another start or another server: this process never saw its counts.
  if (!std::equal(epoch_.begin(), epoch_.end(), raw.begin() + kTimeBytes)) result.verdict = Verdict::Stale;
  result.issuedAt = WallClock::time_point(std::chrono::seconds(issuedSeconds));
  result.expiresAt = result.issuedAt + lifetime_;
  for (std::size_t i = 0; i < kSerialBytes; ++i)
    result.serial = (result.serial << 8) | raw[kTimeBytes + kEpochBytes + i];
  return result;
}

NonceService::Verdict NonceService::check(std::string_view nonce, WallClock::time_point now) const {
  return inspect(nonce, now).verdict;
}

}  // namespace sipwarden::auth
