// SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), parsed into views of the text, with the
// comparison rules of RFC 3261 §19.1.4 and RFC 3966 §4.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sip/params.hpp"

namespace sipwarden::sip {

enum class UriScheme : std::uint8_t { Sip, Sips, Tel, Other };

enum class HostKind : std::uint8_t { None, Name, IPv4, IPv6 };

struct Uri {
  std::string_view raw;  ///< the whole URI as written
  UriScheme scheme = UriScheme::Other;
  std::string_view schemeText;  ///< as written, e.g. "SIP"
  std::string_view user;        ///< %-escaped as written; for tel: the telephone-subscriber digits
  std::string_view password;
  std::string_view host;  ///< IPv6 references keep their brackets
  HostKind hostKind = HostKind::None;
  std::uint16_t port = 0;
  bool hasPort = false;
  bool hasUserInfo = false;
  ParamList params;          ///< uri-parameters (sip/sips) or tel parameters
  std::string_view headers;  ///< after '?', without it
  std::string_view opaque;   ///< for other schemes: everything after "scheme:"

  [[nodiscard]] bool isSip() const { return scheme == UriScheme::Sip || scheme == UriScheme::Sips; }
  [[nodiscard]] std::optional<std::string_view> param(std::string_view name) const { return params.value(name); }
  /// The host without IPv6 brackets.
  [[nodiscard]] std::string_view hostBare() const {
    if (hostKind == HostKind::IPv6 && host.size() >= 2) return host.substr(1, host.size() - 2);
    return host;
  }
  /// The user part with %-escapes decoded (allocates; not for the hot path).
  [[nodiscard]] std::string userUnescaped() const;
};

/// Parses `text` as a URI. Schemes other than sip, sips and tel are accepted as RFC 3261
/// absoluteURI (scheme = UriScheme::Other) when syntactically valid.
Why parseUri(std::string_view text, Uri& out);
/// parseUri into a default-constructed `out` (or one whose fields the caller reset): skips the
/// reset, for parsers that have just reset the structure holding `out`.
Why parseUriInto(std::string_view text, Uri& out);

/// RFC 3261 §19.1.4 for sip/sips, RFC 3966 §4 for tel; other schemes compare case-sensitively as text.
bool uriEquals(const Uri& a, const Uri& b);

/// Decodes %-escapes. Invalid escapes are copied literally.
std::string unescape(std::string_view s);

/// Escapes every character outside `allowed` (a chars:: class mask) as %XX.
std::string escape(std::string_view s, std::uint16_t allowed);

/// Validates a host: hostname, IPv4address or "[" IPv6address "]" (RFC 3261 §25.1).
Why parseHost(std::string_view host, HostKind& kind);

/// The hostname or IPv4address at the start of `s` (RFC 3261 §25.1), checked in one pass: sets
/// `len` to the number of host characters (alphanumerics, '-', '.') that start `s` and returns
/// their kind, or HostKind::None when they are neither a hostname nor an IPv4address.
HostKind scanHostName(std::string_view s, std::size_t& len);

std::string_view schemeName(UriScheme s);

}  // namespace sipwarden::sip
