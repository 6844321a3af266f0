#include "transport/proxy_protocol.hpp"

#include <charconv>
#include <cstring>

namespace sipwarden::transport {

namespace {

constexpr unsigned char kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV1Max = 107;  // "PROXY TCP6 " + two full IPv6 addresses + ports + CRLF

ProxyHeader invalid(const char* why) {
  ProxyHeader h;
  h.status = ProxyHeader::Status::Invalid;
  h.error = why;
  return h;
}

bool parsePort(std::string_view text, std::uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty() || v > 65535) return false;
  if (text.size() > 1 && text.front() == '0') return false;  // no leading zeros (spec §2.1)
  out = static_cast<std::uint16_t>(v);
  return true;
}

// Version 1: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", or "PROXY UNKNOWN ...\r\n".
ProxyHeader parseV1(std::string_view bytes) {
  std::size_t end = bytes.find("\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() >= kV1Max) return invalid("PROXY v1 header without CRLF within 107 bytes");
    return {};
  }
  if (end + 2 > kV1Max) return invalid("PROXY v1 header longer than 107 bytes");
  std::string_view line = bytes.substr(kV1Prefix.size(), end - kV1Prefix.size());
  std::string_view parts[5];
  std::size_t n = 0;
  while (!line.empty() && n < 5) {
    std::size_t sp = line.find(' ');
    parts[n++] = line.substr(0, sp);
    line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  }
  ProxyHeader h;
  h.length = end + 2;
  if (n >= 1 && parts[0] == "UNKNOWN") {
    h.status = ProxyHeader::Status::Ok;
    h.local = true;
    return h;
  }
  if (n != 5 || !line.empty()) return invalid("PROXY v1 header: expected TCP4|TCP6 src dst sport dport");
  const bool v6 = parts[0] == "TCP6";
  if (!v6 && parts[0] != "TCP4") return invalid("PROXY v1 header: unknown protocol");
  IpAddress dst;
  std::uint16_t dstPort = 0;
  if (!IpAddress::parse(parts[1], h.source) || h.source.v6 != v6 || !IpAddress::parse(parts[2], dst) ||
      dst.v6 != v6 || !parsePort(parts[3], h.sourcePort) || !parsePort(parts[4], dstPort)) {
    return invalid("PROXY v1 header: bad address or port");
  }
  h.status = ProxyHeader::Status::Ok;
  return h;
}

// Version 2: signature, version/command, family/protocol, 16-bit length, address block, TLVs.
ProxyHeader parseV2(std::string_view bytes) {
  if (bytes.size() < 16) return {};
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if ((b[12] >> 4) != 2) return invalid("PROXY v2 header: unknown version");
  const unsigned command = b[12] & 0x0F;
  if (command > 1) return invalid("PROXY v2 header: unknown command");
  const std::size_t len = (static_cast<std::size_t>(b[14]) << 8) | b[15];
  if (16 + len > kMaxProxyHeader) return invalid("PROXY v2 header too long");
  if (bytes.size() < 16 + len) return {};
  ProxyHeader h;
  h.status = ProxyHeader::Status::Ok;
  h.length = 16 + len;
  const unsigned family = b[13] >> 4;
  const unsigned protocol = b[13] & 0x0F;
  if (command == 0 || protocol != 1 /* STREAM */ || (family != 1 && family != 2)) {
    h.local = true;  // LOCAL (health checks), or a family we do not use: the real peer stands
    return h;
  }
  const std::size_t need = family == 1 ? 12 : 36;
  if (len < need) return invalid("PROXY v2 header: address block too short");
  const unsigned char* a = b + 16;
  h.source.v6 = family == 2;
  std::memcpy(h.source.bytes.data(), a, family == 1 ? 4 : 16);
  const unsigned char* ports = a + (family == 1 ? 8 : 32);
  h.sourcePort = static_cast<std::uint16_t>((ports[0] << 8) | ports[1]);
  return h;
}

}  // namespace

ProxyHeader parseProxyHeader(std::string_view bytes) {
  const std::size_t sigLen = sizeof kV2Signature;
  const std::size_t v2Check = std::min(bytes.size(), sigLen);
  if (std::memcmp(bytes.data(), kV2Signature, v2Check) == 0) {
    return bytes.size() < sigLen ? ProxyHeader{} : parseV2(bytes);
  }
  const std::size_t v1Check = std::min(bytes.size(), kV1Prefix.size());
  if (bytes.substr(0, v1Check) == kV1Prefix.substr(0, v1Check)) {
    return bytes.size() < kV1Prefix.size() ? ProxyHeader{} : parseV1(bytes);
  }
  return invalid("no PROXY protocol header");
}

}  // namespace sipwarden::transport
