#include "proxy/flow_token.hpp"

#include <cstring>
#include <stdexcept>

#include "auth/hmac.hpp"

namespace sipwarden::proxy {
namespace {

constexpr std::size_t kMacBytes = 8;
constexpr char kHex[] = "0123456789abcdef";

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::size_t rawSize(bool v6) { return 1 + 1 + 2 + (v6 ? 16 : 4) + 8; }

}  // namespace

FlowTokens::FlowTokens(std::span<const std::uint8_t> secret) : secret_(secret.begin(), secret.end()), mac_(secret) {
  if (secret_.size() < 16) throw std::invalid_argument("flow token secret shorter than 16 bytes");
}

std::string FlowTokens::encode(const transport::Peer& flow) const {
  std::uint8_t raw[1 + 1 + 2 + 16 + 8 + kMacBytes];
  std::size_t n = 0;
  raw[n++] = static_cast<std::uint8_t>(static_cast<unsigned>(flow.transport) | (flow.address.v6 ? 0x80u : 0u));
  raw[n++] = static_cast<std::uint8_t>(flow.listener);
  raw[n++] = static_cast<std::uint8_t>(flow.port >> 8);
  raw[n++] = static_cast<std::uint8_t>(flow.port);
  std::size_t alen = flow.address.v6 ? 16 : 4;
  std::memcpy(raw + n, flow.address.bytes.data(), alen);
  n += alen;
  for (int i = 7; i >= 0; --i) raw[n++] = static_cast<std::uint8_t>(flow.connectionId >> (8 * i));
  auth::Sha256Mac mac{};
  mac_.compute(raw, n, mac);  // on failure the zero MAC makes a token decode() refuses
  std::memcpy(raw + n, mac.data(), kMacBytes);
  n += kMacBytes;
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[raw[i] >> 4];
    out[2 * i + 1] = kHex[raw[i] & 15];
  }
  return out;
}

std::optional<transport::Peer> FlowTokens::decode(std::string_view token) const {
  if (token.size() != 2 * (rawSize(false) + kMacBytes) && token.size() != 2 * (rawSize(true) + kMacBytes)) {
    return std::nullopt;
  }
  std::uint8_t raw[1 + 1 + 2 + 16 + 8 + kMacBytes];
  const std::size_t n = token.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    int hi = hexValue(token[2 * i]);
    int lo = hexValue(token[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  const bool v6 = (raw[0] & 0x80) != 0;
  const unsigned kind = raw[0] & 0x7f;
  if (n != rawSize(v6) + kMacBytes || kind > static_cast<unsigned>(transport::TransportKind::Wss)) return std::nullopt;
  auth::Sha256Mac mac{};
  const std::size_t signedBytes = rawSize(v6);
  if (!mac_.compute(raw, signedBytes, mac)) return std::nullopt;
  unsigned diff = 0;  // constant time: the MAC is a secret until it matches
  for (std::size_t i = 0; i < kMacBytes; ++i) diff |= static_cast<unsigned>(mac[i] ^ raw[signedBytes + i]);
  if (diff != 0) return std::nullopt;
  transport::Peer p;
  p.transport = static_cast<transport::TransportKind>(kind);
  p.listener = raw[1];
  p.port = static_cast<std::uint16_t>(raw[2] << 8 | raw[3]);
  p.address.v6 = v6;
  std::size_t alen = v6 ? 16 : 4;
  std::memcpy(p.address.bytes.data(), raw + 4, alen);
  std::uint64_t id = 0;
  for (std::size_t i = 0; i < 8; ++i) id = id << 8 | raw[4 + alen + i];
  p.connectionId = id;
  return p;
}

}  // namespace sipwarden::proxy
