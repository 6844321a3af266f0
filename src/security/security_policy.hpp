// The per-domain security policy (issue 5; the VoIP security modes of the Exchange 2007 Unified
// Messaging guide): which transports a domain's signalling may use, whether its media must be SRTP,
// and which peer gateways are admitted by the names in their certificates. Pure logic: no sockets,
// no OpenSSL. The wiring layer builds SecuritySettings from the configuration, asks these checks,
// and sends the responses they describe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/params.hpp"
#include "sip/sdp.hpp"
#include "transport/peer.hpp"

namespace sipwarden::security {

/// The security mode of a domain ("dial plan" in the Exchange guide).
enum class SecurityMode : std::uint8_t {
  Unsecured,   ///< any transport, any media
  SipSecured,  ///< signalling of the domain's users arrives and leaves over TLS or WSS only
  Secured,     ///< SipSecured, and every media stream is SRTP (SDES keys or DTLS-SRTP)
};

/// "unsecured", "sip-secured", "secured".
std::string_view securityModeName(SecurityMode mode);
/// Parses the three names above, case-insensitively; false (out unchanged) for anything else.
bool parseSecurityMode(std::string_view text, SecurityMode& out);
/// The stricter of two modes: Secured > SipSecured > Unsecured.
constexpr SecurityMode stricter(SecurityMode a, SecurityMode b) { return a > b ? a : b; }

/// TLS and WSS (RFC 7118 WebSocket over TLS) protect signalling; UDP, TCP and WS do not.
constexpr bool isSecureTransport(transport::TransportKind k) {
  return k == transport::TransportKind::Tls || k == transport::TransportKind::Wss;
}

/// The modes of the domains a request involves: the caller's (the From URI's domain) and the
/// callee's (the Request-URI's, or the To URI's for a request addressed to the server). The rules
/// apply to requests "from or to users of the domain", so the stricter of the two governs.
struct DomainModes {
  SecurityMode caller = SecurityMode::Unsecured;
  SecurityMode callee = SecurityMode::Unsecured;
  [[nodiscard]] constexpr SecurityMode effective() const { return stricter(caller, callee); }
};

/// What a check decided: allowed, or the final response that rejects the request.
struct PolicyDecision {
  int status = 0;            ///< 0: allowed; else 400, 403 or 488
  std::string reasonPhrase;  ///< when rejected: says why (only RFC 3261 reason-phrase characters)
  std::string warning;       ///< with 488: a Warning header value (RFC 3261 §20.43); else empty

  [[nodiscard]] bool allowed() const { return status == 0; }
};

/// Signalling, arrival: a request whose caller's or callee's domain is sip-secured or secured must
/// have arrived over TLS or WSS, else 403 "TLS Required By Caller Domain Security Mode" (or
/// "... Callee Domain ..."; the caller's domain is named when both apply).
PolicyDecision checkArrival(const DomainModes& modes, transport::TransportKind arrivedOn);

/// Signalling, departure: such a request is forwarded only over TLS or WSS. For a branch that would
/// leave over UDP, TCP or WS: 403 "Callee Not Reachable Over TLS (Callee Domain Security Mode)"
/// (or "(Caller Domain ...)"). The proxy skips such a branch; when no branch is left it answers
/// with this decision.
PolicyDecision checkDeparture(const DomainModes& modes, transport::TransportKind leavesOn);

/// checkArrival, then checkDeparture.
PolicyDecision checkSignalling(const DomainModes& modes, transport::TransportKind arrivedOn,
                               transport::TransportKind leavesOn);

/// Why a media section fails the secured mode's SRTP requirement.
enum class MediaProblem : std::uint8_t {
  None,
  InsecureProtocol,    ///< the proto is not an SRTP or DTLS one (RTP/AVP, RTP/AVPF, udptl, TCP/MSRP...)
  MissingCrypto,       ///< RTP/SAVP(F) without a valid a=crypto with an inline key in the section
  MissingFingerprint,  ///< a DTLS proto without a valid a=fingerprint that applies to the section
};

/// The first media section of a description that fails the SRTP requirement.
struct MediaFinding {
  MediaProblem problem = MediaProblem::None;
  std::size_t index = 0;   ///< 1-based position among the m= lines
  std::uint32_t line = 0;  ///< 1-based line number of its m= line in the description
  std::string_view media;  ///< views into the description
  std::string_view proto;
};

/// The secured mode's SRTP rule applied to one parsed description (offer or answer alike):
/// - an m= line with port 0 is a rejected or disabled stream (RFC 3264 §5.1, §6) and is ignored,
///   unless it carries a=bundle-only (RFC 8843 §6: it will be used, on the BUNDLE transport);
/// - RTP/SAVP and RTP/SAVPF (SDES, RFC 4568) need a valid a=crypto with an "inline" key in that
///   media section (a=crypto may only appear at media level, RFC 4568 §4);
/// - UDP/TLS/RTP/SAVP, UDP/TLS/RTP/SAVPF (DTLS-SRTP, RFC 5764 §8), TCP/TLS/RTP/SAVP,
///   TCP/TLS/RTP/SAVPF (RFC 7850) and the WebRTC data channel's UDP/DTLS/SCTP, TCP/DTLS/SCTP
///   (RFC 8841) and legacy DTLS/SCTP need a valid a=fingerprint (RFC 8122 §5) in the section, at
///   session level, or in another section of the same BUNDLE group (RFC 8843 §7: transport
///   attributes appear only in the group's tagged section);
/// - every other proto fails. Protos compare exactly, as registered with IANA.
MediaFinding findUnprotectedMedia(const sip::SdpSession& sdp);

/// Media, for the secured mode: checks the SDP carried by a request or response body (an offer
/// or an answer) given its Content-Type header value. Allowed when `mode` is not Secured, when
/// there is no SDP (a MESSAGE, an INVITE without offer, an empty body), or when every SDP passes
/// findUnprotectedMedia. Else:
/// - 488 "Not Acceptable Here" with a Warning value
///   `302 <warnAgent> "Incompatible transport protocol: m= line 1 (audio RTP/AVP) is not SRTP..."`
///   (RFC 3261 §20.43: 302 is "Incompatible transport protocol"; the text names the m= line, its
///   media and proto, and what is missing);
/// - 400 "Malformed SDP: line 3: m= line without a format" (or "Malformed Message Body: ...") when
///   the body cannot be inspected: a malformed SDP cannot be shown to be protected.
/// For a response the status tells the wiring how to treat it (a proxy cannot answer a response).
/// `warnAgent` is the warn-agent (RFC 3261 §20.43: the server's hostport or a pseudonym).
PolicyDecision checkMedia(SecurityMode mode, std::string_view contentType, std::string_view body,
                          std::string_view warnAgent, const sip::SdpLimits& limits = {});

/// Checks one entry of the gateway allow-list: a DNS host name ("gw1.example.com") or a wildcard
/// whose "*" is the whole left-most label followed by at least two labels ("*.example.com"; not
/// "*.com", "gw*.example.com" or "a.*.example.com"). Labels are letters, digits and hyphens
/// (1-63 characters, no hyphen at either end); one trailing dot is allowed. nullptr when valid.
sip::Why validateGatewayName(std::string_view name);

/// Whether a DNS name taken from a peer's certificate, `presented`, satisfies the allow-list
/// entry `allowed`, following RFC 6125 §6.4: ASCII case-insensitive comparison (§6.4.1, A-labels
/// as they are), one trailing dot ignored, and a wildcard standing for exactly one whole left-most
/// label (§6.4.3): "*.example.com" matches "gw.example.com", not "a.b.example.com" nor
/// "example.com". A presented wildcard ("*.example.com" in the certificate) says nothing about
/// which host the peer is, so it matches only the same wildcard entry, never an exact name.
/// Presented names that are not valid DNS names (a NUL, spaces, a partial wildcard) never match.
bool gatewayNameMatches(std::string_view allowed, std::string_view presented);

/// The outcome of admitGateway (copies: it is asked once per connection and often outlives the
/// certificate's name list).
struct GatewayAdmission {
  bool admitted = false;
  std::string allowedName;    ///< the allow-list entry that matched
  std::string presentedName;  ///< the certificate name that matched
  bool byCommonName = false;  ///< the subject CN was used (the certificate has no DNS SAN)
};

/// Peer gateways and trunks are admitted over mutual TLS only, by name: one of the certificate's
/// subjectAltName dNSName entries (`dnsSans`) must match an allow-list entry; the subject CN is
/// used only when there is no DNS SAN (RFC 6125 §6.4.4). The chain to a trusted CA is checked by
/// the TLS layer before this is asked; this only compares names.
GatewayAdmission admitGateway(std::span<const std::string> allowList, std::span<const std::string> dnsSans,
                              std::string_view commonName);

/// One served domain and its mode.
struct DomainSecurity {
  std::string domain;
  SecurityMode mode = SecurityMode::Unsecured;
};

/// Built by the wiring layer from the configuration ([[domain]] security, [[gateway]] name).
struct SecuritySettings {
  std::vector<DomainSecurity> domains;
  /// The mode of a domain not listed (a foreign domain the proxy relays to or from).
  SecurityMode defaultMode = SecurityMode::Unsecured;
  /// The gateway allow-list (see validateGatewayName).
  std::vector<std::string> gatewayNames;
  /// The warn-agent of Warning headers: the server's host name (RFC 3261 §20.43).
  std::string warnAgent = "sipwarden";
  sip::SdpLimits sdpLimits;
};

/// The settings, validated once, and the checks that need them.
/// Thread-safety: immutable after construction; every member may be called concurrently.
class SecurityPolicy {
 public:
  /// Throws std::invalid_argument (start-up) on an empty or duplicate domain (compared
  /// case-insensitively), an invalid gateway name, or a warn-agent that is not a host or token.
  explicit SecurityPolicy(SecuritySettings settings);

  /// The mode of `domain` (case-insensitive, one trailing dot ignored); defaultMode if not listed.
  [[nodiscard]] SecurityMode modeFor(std::string_view domain) const;
  [[nodiscard]] DomainModes modesFor(std::string_view callerDomain, std::string_view calleeDomain) const {
    return DomainModes{modeFor(callerDomain), modeFor(calleeDomain)};
  }
  /// checkMedia with the effective mode of `modes`, the configured warn-agent and SDP limits.
  [[nodiscard]] PolicyDecision checkMedia(const DomainModes& modes, std::string_view contentType,
                                          std::string_view body) const;
  /// admitGateway against the configured allow-list.
  [[nodiscard]] GatewayAdmission admitGateway(std::span<const std::string> dnsSans, std::string_view commonName) const;

  [[nodiscard]] const SecuritySettings& settings() const { return settings_; }

 private:
  SecuritySettings settings_;  ///< domains lower-cased, without a trailing dot, sorted
};

}  // namespace sipwarden::security
