// Typed views of the header values a proxy and registrar need (RFC 3261 §20, §25.1, and the
// extension RFCs named on each type). Every type holds views into the message buffer and is
// filled by a `parse...` function that returns nullptr on success or a short reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/method.hpp"
#include "sip/params.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipwarden::sip {

/// The RFC 3261 branch prefix ("magic cookie", §8.1.1.7).
inline constexpr std::string_view kMagicCookie = "z9hG4bK";

/// One via-parm (RFC 3261 §20.42, rport from RFC 3581).
struct Via {
  std::string_view raw;
  std::string_view protocolName;     ///< "SIP"
  std::string_view protocolVersion;  ///< "2.0"
  std::string_view transport;        ///< UDP, TCP, TLS, SCTP, WS, WSS or an extension token
  std::string_view host;
  HostKind hostKind = HostKind::None;
  std::uint16_t port = 0;
  bool hasPort = false;
  ParamList params;
  std::optional<std::string_view> branch;
  std::optional<std::string_view> received;
  std::optional<std::string_view> rport;  ///< "" when present without a value
  std::optional<std::string_view> maddr;
  int ttl = -1;

  /// RFC 3261 branch: starts with the magic cookie (§17.2.3 matching applies).
  [[nodiscard]] bool isRfc3261Branch() const {
    return branch && branch->size() > kMagicCookie.size() && branch->substr(0, kMagicCookie.size()) == kMagicCookie;
  }
};
Why parseVia(std::string_view text, Via& out);
/// One via-parm at `s`, which is left before whatever follows it (a ',' in a list).
Why parseViaAt(Scanner& s, Via& out);

/// name-addr / addr-spec followed by header parameters (From, To, Contact, Route, Record-Route,
/// Path, Reply-To, Refer-To...).
struct NameAddr {
  std::string_view raw;
  std::string_view displayName;  ///< without quotes; quoted-pairs left escaped
  bool displayQuoted = false;
  bool angleBrackets = false;
  Uri uri;
  ParamList params;

  [[nodiscard]] std::optional<std::string_view> param(std::string_view name) const { return params.value(name); }
  [[nodiscard]] std::optional<std::string_view> tag() const { return params.value("tag"); }
};
/// `requireAngle`: Route, Record-Route and Path allow only the name-addr form.
Why parseNameAddr(std::string_view text, NameAddr& out, bool requireAngle = false);
/// One name-addr / addr-spec with parameters at `s`, left before what follows (a ',' in a list).
Why parseNameAddrAt(Scanner& s, NameAddr& out, bool requireAngle = false);

/// One Contact value (RFC 3261 §20.10, RFC 5626 §4.2 +sip.instance / reg-id).
struct Contact {
  bool star = false;
  NameAddr address;
  std::optional<std::uint32_t> expires;      ///< overlarge values saturate at 2^32-1
  int qThousandths = -1;                     ///< q=0.5 -> 500; -1 when absent
  std::optional<std::string_view> instance;  ///< +sip.instance value without its quotes
  std::optional<std::uint32_t> regId;
};
Why parseContact(std::string_view text, Contact& out);
/// One Contact value at `s`, left before what follows (a ',' in a list).
Why parseContactAt(Scanner& s, Contact& out);

/// Walks a comma-separated header value in one pass: `parseAt(Scanner&) -> Why` parses one
/// element and stops before the next ','. Empty elements and an empty value are errors.
template <typename F>
Why walkList(std::string_view value, F&& parseAt) {
  Scanner s(value);
  s.skipLws();
  if (s.atEnd()) return "empty value";
  while (true) {
    if (s.peek() == ',') return "empty list element";
    if (Why w = parseAt(s)) return w;
    s.skipLws();
    if (s.atEnd()) return nullptr;
    if (!s.consume(',')) return "unexpected text after a list element";
    s.skipLws();
    if (s.atEnd()) return "empty list element";
  }
}

/// CSeq (RFC 3261 §20.16): the number must be below 2^31 (§8.1.1.5).
struct CSeq {
  std::uint32_t number = 0;
  std::string_view methodText;
  Method method = Method::Extension;
};
Why parseCSeq(std::string_view text, CSeq& out);

/// Credentials or a challenge (RFC 3261 §20.7, §20.27, §20.28, §20.44; RFC 7616 parameters).
/// Quoted values are stored without their quotes.
struct AuthValue {
  std::string_view raw;
  std::string_view scheme;  ///< "Digest" or another auth-scheme
  std::string_view paramsText;
  std::string_view username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc, stale, domain, userhash,
      charset;
  [[nodiscard]] bool isDigest() const;
  /// Any parameter by name (case-insensitive), without quotes.
  [[nodiscard]] std::optional<std::string_view> param(std::string_view name) const;
};
Why parseAuth(std::string_view text, AuthValue& out);

/// media-type (RFC 3261 §20.15).
struct MediaType {
  std::string_view type;
  std::string_view subtype;
  ParamList params;
};
Why parseMediaType(std::string_view text, MediaType& out);

/// Event (RFC 6665 §8.2.1) and Subscription-State (§8.2.3): a token followed by parameters.
struct TokenWithParams {
  std::string_view value;
  ParamList params;
};
Why parseEvent(std::string_view text, TokenWithParams& out);
Why parseTokenWithParams(std::string_view text, TokenWithParams& out);

/// Call-ID = word [ "@" word ] (RFC 3261 §25.1).
Why parseCallId(std::string_view text);

/// delta-seconds (Expires header, Contact expires): digits only; values beyond 2^32-1 saturate,
/// because RFC 4475 §3.1.2.4 treats an overlarge expiry as overlarge, not malformed.
Why parseDeltaSeconds(std::string_view text, std::uint32_t& out);

/// Bounded decimal numbers: Min-Expires, Content-Length, Max-Forwards.
Why parseNumber(std::string_view text, std::uint64_t maxValue, std::uint64_t& out);

/// SIP-date = rfc1123-date with "GMT" (RFC 3261 §20.17). Fills seconds since the epoch.
Why parseDate(std::string_view text, std::int64_t& epochSeconds);

/// Validates every element of an option-tag / method / token list; empty values are allowed.
Why parseTokenList(std::string_view text);

}  // namespace sipwarden::sip
