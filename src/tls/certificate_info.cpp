#include "tls/certificate_info.hpp"

#include <arpa/inet.h>

#include "tls/utc_time.hpp"

namespace sipwarden::tls {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// RFC 6125 §6.4.3: "*" may stand for the whole left-most label only, and matches one label (not
/// "a.b", not the empty label); the rest compares case-insensitively. A trailing dot is ignored.
bool dnsNameMatches(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '.') pattern.remove_suffix(1);
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (pattern.empty() || name.empty()) return false;
  if (pattern.substr(0, 2) == "*.") {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    // A wildcard over a single label ("*.com") would match a whole top-level domain: refused.
    if (suffix.find('.', 1) == std::string_view::npos) return false;
    std::size_t dot = name.find('.');
    if (dot == 0 || dot == std::string_view::npos) return false;
    return equalsIgnoreCase(name.substr(dot), suffix);
  }
  if (pattern.find('*') != std::string_view::npos) return false;
  return equalsIgnoreCase(pattern, name);
}

}  // namespace

std::vector<std::string> describe(const CertificateInfo& info) {
  return {
      "subject: " + info.subject,
      "issuer: " + info.issuer,
      "serial: " + info.serial,
      "SHA-1 thumbprint: " + info.sha1,
      "SHA-256 fingerprint: " + info.sha256,
      "not before: " + formatUtc(info.notBefore),
      "not after: " + formatUtc(info.notAfter),
  };
}

std::optional<std::string> canonicalIpAddress(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  unsigned char buf[sizeof(struct in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    inet_ntop(AF_INET, buf, out, sizeof out);
    return std::string(out);
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    inet_ntop(AF_INET6, buf, out, sizeof out);
    return std::string(out);
  }
  return std::nullopt;
}

bool certificateMatchesName(const CertificateInfo& info, std::string_view name) {
  if (auto ip = canonicalIpAddress(name)) {
    // RFC 6125 §6.2 / RFC 5280 §4.2.1.6: an address is matched against iPAddress entries only.
    for (const std::string& a : info.ipAddresses) {
      if (canonicalIpAddress(a) == ip) return true;
    }
    return false;
  }
  if (!info.dnsNames.empty()) {
    for (const std::string& d : info.dnsNames) {
      if (dnsNameMatches(d, name)) return true;
    }
    return false;
  }
  return !info.commonName.empty() && dnsNameMatches(info.commonName, name);
}

}  // namespace sipwarden::tls
