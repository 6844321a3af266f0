#include "security/security_policy.hpp"

#include <algorithm>
#include <stdexcept>

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::security {

using transport::TransportKind;

std::string_view securityModeName(SecurityMode mode) {
  switch (mode) {
    case SecurityMode::Unsecured: return "unsecured";
    case SecurityMode::SipSecured: return "sip-secured";
    case SecurityMode::Secured: return "secured";
  }
  return "unsecured";
}

bool parseSecurityMode(std::string_view text, SecurityMode& out) {
  for (SecurityMode m : {SecurityMode::Unsecured, SecurityMode::SipSecured, SecurityMode::Secured}) {
    if (sip::iequals(text, securityModeName(m))) {
      out = m;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Signalling

PolicyDecision checkArrival(const DomainModes& modes, TransportKind arrivedOn) {
  if (isSecureTransport(arrivedOn)) return {};
  if (modes.caller != SecurityMode::Unsecured) return {403, "TLS Required By Caller Domain Security Mode", {}};
  if (modes.callee != SecurityMode::Unsecured) return {403, "TLS Required By Callee Domain Security Mode", {}};
  return {};
}

PolicyDecision checkDeparture(const DomainModes& modes, TransportKind leavesOn) {
  if (isSecureTransport(leavesOn)) return {};
  if (modes.callee != SecurityMode::Unsecured) {
    return {403, "Callee Not Reachable Over TLS (Callee Domain Security Mode)", {}};
  }
  if (modes.caller != SecurityMode::Unsecured) {
    return {403, "Callee Not Reachable Over TLS (Caller Domain Security Mode)", {}};
  }
  return {};
}

PolicyDecision checkSignalling(const DomainModes& modes, TransportKind arrivedOn, TransportKind leavesOn) {
  PolicyDecision d = checkArrival(modes, arrivedOn);
  if (!d.allowed()) return d;
  return checkDeparture(modes, leavesOn);
}

// ---------------------------------------------------------------------------------------------
// Media

namespace {

enum class Keying : std::uint8_t { None, Sdes, Dtls };

/// How a proto protects its media. Exact comparison: the registered names are upper-case.
Keying keyingOf(std::string_view proto) {
  // RTP/SAVP (RFC 3711 §12) and RTP/SAVPF (RFC 5124): SRTP, keyed here by SDES (RFC 4568).
  if (proto == "RTP/SAVP" || proto == "RTP/SAVPF") return Keying::Sdes;
  // RFC 5764 §8 (DTLS-SRTP), RFC 7850 (over TCP with TLS), RFC 8841 §4.1 (SCTP over DTLS: WebRTC
  // data channels) and the DTLS/SCTP of the drafts before RFC 8841, which older browsers send.
  if (proto == "UDP/TLS/RTP/SAVP" || proto == "UDP/TLS/RTP/SAVPF" || proto == "TCP/TLS/RTP/SAVP" ||
      proto == "TCP/TLS/RTP/SAVPF" || proto == "UDP/DTLS/SCTP" || proto == "TCP/DTLS/SCTP" || proto == "DTLS/SCTP") {
    return Keying::Dtls;
  }
  return Keying::None;
}

bool hasInlineCrypto(const sip::SdpAttributes& attrs) {
  for (const sip::SdpAttribute& a : attrs) {
    sip::SdpCrypto c;
    if (a.name == "crypto" && sip::parseSdpCrypto(a.value, c) == nullptr && c.inlineKeys > 0) return true;
  }
  return false;
}

bool hasFingerprint(const sip::SdpAttributes& attrs) {
  for (const sip::SdpAttribute& a : attrs) {
    sip::SdpFingerprint f;
    if (a.name == "fingerprint" && sip::parseSdpFingerprint(a.value, f) == nullptr) return true;
  }
  return false;
}

/// What the DTLS rule needs to know about one media section, computed once per description.
struct SectionKeys {
  std::string_view mid;             ///< its a=mid (RFC 5888 §4), empty when absent
  bool ownFingerprint = false;      ///< a valid a=fingerprint in the section itself
  bool bundledFingerprint = false;  ///< a section of its BUNDLE group carries one
};

/// Marks the sections that share a fingerprint through a BUNDLE group (a=group:BUNDLE <mid>...,
/// RFC 8843 §7: transport attributes, a=fingerprint among them, may appear only in the tagged
/// section; the others use its DTLS association). One pass per group: no quadratic rescans of
/// the sections, whatever the number of a=group lines.
void markBundledFingerprints(const sip::SdpSession& sdp, std::span<SectionKeys> keys) {
  for (const sip::SdpAttribute& g : sdp.attributes()) {
    if (g.name != "group") continue;
    sip::SdpWords words(g.value);
    auto it = words.begin();
    if (it == words.end() || *it != "BUNDLE") continue;
    bool keyed = false;
    for (std::size_t j = 0; j < keys.size() && !keyed; ++j) {
      keyed = keys[j].ownFingerprint && sdp.media[j].port != 0 && !keys[j].mid.empty() && words.contains(keys[j].mid);
    }
    if (!keyed) continue;
    for (SectionKeys& k : keys) {
      if (!k.mid.empty() && words.contains(k.mid)) k.bundledFingerprint = true;
    }
  }
}

/// At most `n` characters of an SDP token for a warning or reason text (tokens hold no '"', '\',
/// CR or LF; the cut keeps a hostile proto from making the header long).
std::string_view clip(std::string_view s, std::size_t n = 32) { return s.substr(0, n); }

/// A quoted-string (RFC 3261 §25.1) of `text`: '"' and '\' escaped, controls dropped.
std::string quoted(std::string_view text) {
  std::string q = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  q += '"';
  return q;
}

std::string warningFor(const MediaFinding& f, std::string_view warnAgent, std::size_t part) {
  std::string text = "Incompatible transport protocol: ";
  if (part != 0) text += "SDP part " + std::to_string(part) + ": ";
  text += "m= line " + std::to_string(f.index) + " (";
  text += clip(f.media);
  text += ' ';
  text += clip(f.proto);
  text += ')';
  switch (f.problem) {
    case MediaProblem::InsecureProtocol:
      text +=
          " is not SRTP; this domain requires RTP/SAVP or RTP/SAVPF with a=crypto, or UDP/TLS/RTP/SAVPF with "
          "a=fingerprint";
      break;
    case MediaProblem::MissingCrypto: text += " has no a=crypto with an inline SRTP key"; break;
    case MediaProblem::MissingFingerprint: text += " has no a=fingerprint for its DTLS handshake"; break;
    case MediaProblem::None: break;
  }
  // warning-value = warn-code SP warn-agent SP warn-text (RFC 3261 §20.43).
  std::string w = "302 ";
  w += warnAgent;
  w += ' ';
  w += quoted(text);
  return w;
}

}  // namespace

MediaFinding findUnprotectedMedia(const sip::SdpSession& sdp) {
  sip::InlineVector<SectionKeys, 8> keys;
  for (const sip::SdpMedia& m : sdp.media) {
    std::optional<sip::SdpAttribute> mid = m.attributes().find("mid");
    keys.push_back(SectionKeys{mid ? mid->value : std::string_view(), hasFingerprint(m.attributes()), false});
  }
  const bool sessionFingerprint = hasFingerprint(sdp.attributes());
  if (!sessionFingerprint) markBundledFingerprints(sdp, std::span<SectionKeys>(keys.data(), keys.size()));

  for (std::size_t i = 0; i < sdp.media.size(); ++i) {
    const sip::SdpMedia& m = sdp.media[i];
    if (m.port == 0 && !m.attributes().has("bundle-only")) continue;
    MediaProblem problem = MediaProblem::None;
    switch (keyingOf(m.proto)) {
      case Keying::None: problem = MediaProblem::InsecureProtocol; break;
      case Keying::Sdes:
        if (!hasInlineCrypto(m.attributes())) problem = MediaProblem::MissingCrypto;
        break;
      case Keying::Dtls:
        if (!sessionFingerprint && !keys[i].ownFingerprint && !keys[i].bundledFingerprint) {
          problem = MediaProblem::MissingFingerprint;
        }
        break;
    }
    if (problem != MediaProblem::None) return MediaFinding{problem, i + 1, m.line, m.media, m.proto};
  }
  return {};
}

PolicyDecision checkMedia(SecurityMode mode, std::string_view contentType, std::string_view body,
                          std::string_view warnAgent, const sip::SdpLimits& limits) {
  if (mode != SecurityMode::Secured) return {};
  sip::SdpBodies bodies;
  if (sip::Why w = sip::findSdpBodies(contentType, body, bodies)) {
    return {400, std::string("Malformed Message Body: ") + w, {}};
  }
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    sip::SdpSession sdp;
    if (sip::SdpError e = sip::parseSdp(bodies[i], sdp, limits)) {
      std::string reason = "Malformed SDP: ";
      if (bodies.size() > 1) reason += "part " + std::to_string(i + 1) + ": ";
      reason += e.describe();
      return {400, std::move(reason), {}};
    }
    MediaFinding f = findUnprotectedMedia(sdp);
    if (f.problem != MediaProblem::None) {
      return {488, "Not Acceptable Here", warningFor(f, warnAgent, bodies.size() > 1 ? i + 1 : 0)};
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Gateways

namespace {

std::string_view stripTrailingDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

/// LDH labels separated by dots: letters, digits, hyphens, 1-63 each, no hyphen at either end
/// (RFC 1123 §2.1); at least `minLabels` labels, at most 253 characters.
bool isHostName(std::string_view name, std::size_t minLabels) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t labels = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!sip::chars::isAlnum(c) && c != '-') return false;
    }
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= minLabels;
}

bool isWildcard(std::string_view name) { return name.size() > 2 && name[0] == '*' && name[1] == '.'; }

/// A host name, or "*." and a host name of at least two labels.
bool isNamePattern(std::string_view name) {
  return isWildcard(name) ? isHostName(name.substr(2), 2) : isHostName(name, 1);
}

}  // namespace

sip::Why validateGatewayName(std::string_view name) {
  name = stripTrailingDot(name);
  if (name.empty()) return "empty gateway name";
  if (name.size() > 253) return "gateway name longer than 253 characters";
  if (isWildcard(name)) {
    std::string_view base = name.substr(2);
    if (base.find('*') != std::string_view::npos) return "a wildcard may only be the whole left-most label";
    if (!isHostName(base, 1)) return "gateway name is not a DNS host name";
    if (!isHostName(base, 2)) return "a wildcard needs at least two labels after \"*.\"";
    return nullptr;
  }
  if (name.find('*') != std::string_view::npos) return "a wildcard may only be the whole left-most label";
  if (!isHostName(name, 1)) return "gateway name is not a DNS host name";
  return nullptr;
}

bool gatewayNameMatches(std::string_view allowed, std::string_view presented) {
  allowed = stripTrailingDot(allowed);
  presented = stripTrailingDot(presented);
  if (!isNamePattern(allowed) || !isNamePattern(presented)) return false;
  if (isWildcard(presented)) return isWildcard(allowed) && sip::iequals(allowed, presented);
  if (!isWildcard(allowed)) return sip::iequals(allowed, presented);
  // "*.example.com": exactly one non-empty label before ".example.com" (RFC 6125 §6.4.3).
  std::string_view suffix = allowed.substr(1);  // ".example.com"
  if (presented.size() <= suffix.size()) return false;
  std::string_view label = presented.substr(0, presented.size() - suffix.size());
  return sip::iequals(presented.substr(label.size()), suffix) && label.find('.') == std::string_view::npos;
}

GatewayAdmission admitGateway(std::span<const std::string> allowList, std::span<const std::string> dnsSans,
                              std::string_view commonName) {
  auto admit = [&](std::string_view presented, bool byCn) -> GatewayAdmission {
    for (const std::string& allowed : allowList) {
      if (gatewayNameMatches(allowed, presented)) return {true, allowed, std::string(presented), byCn};
    }
    return {};
  };
  if (!dnsSans.empty()) {
    for (const std::string& san : dnsSans) {
      GatewayAdmission a = admit(san, false);
      if (a.admitted) return a;
    }
    return {};
  }
  // RFC 6125 §6.4.4: the CN only when the certificate has no DNS-ID.
  if (commonName.empty()) return {};
  return admit(commonName, true);
}

// ---------------------------------------------------------------------------------------------
// SecurityPolicy

namespace {

std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = sip::chars::toLower(c);
  return out;
}

/// ASCII case-insensitive "less than", for the sorted domain table (no lower-casing of the key).
bool lessNoCase(std::string_view a, std::string_view b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(sip::chars::toLower(x)) < static_cast<unsigned char>(sip::chars::toLower(y));
  });
}

/// warn-agent = hostport / pseudonym (RFC 3261 §20.43): token characters, plus ':' '[' ']' for a
/// port and an IPv6 reference.
bool isWarnAgent(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!sip::chars::isToken(c) && c != ':' && c != '[' && c != ']') return false;
  }
  return true;
}

}  // namespace

SecurityPolicy::SecurityPolicy(SecuritySettings settings) : settings_(std::move(settings)) {
  for (DomainSecurity& d : settings_.domains) {
    d.domain = lowerCase(stripTrailingDot(d.domain));
    if (d.domain.empty()) throw std::invalid_argument("security policy: empty domain name");
  }
  std::sort(settings_.domains.begin(), settings_.domains.end(),
            [](const DomainSecurity& a, const DomainSecurity& b) { return a.domain < b.domain; });
  for (std::size_t i = 1; i < settings_.domains.size(); ++i) {
    if (settings_.domains[i].domain == settings_.domains[i - 1].domain) {
      throw std::invalid_argument("security policy: domain " + settings_.domains[i].domain + " listed twice");
    }
  }
  for (const std::string& name : settings_.gatewayNames) {
    if (sip::Why w = validateGatewayName(name)) {
      throw std::invalid_argument("security policy: gateway name \"" + name + "\": " + w);
    }
  }
  if (!isWarnAgent(settings_.warnAgent)) {
    throw std::invalid_argument("security policy: warn-agent \"" + settings_.warnAgent +
                                "\" is not a host name or token");
  }
}

SecurityMode SecurityPolicy::modeFor(std::string_view domain) const {
  domain = stripTrailingDot(domain);
  auto it = std::lower_bound(settings_.domains.begin(), settings_.domains.end(), domain,
                             [](const DomainSecurity& d, std::string_view key) { return lessNoCase(d.domain, key); });
  if (it != settings_.domains.end() && sip::iequals(it->domain, domain)) return it->mode;
  return settings_.defaultMode;
}

PolicyDecision SecurityPolicy::checkMedia(const DomainModes& modes, std::string_view contentType,
                                          std::string_view body) const {
  return security::checkMedia(modes.effective(), contentType, body, settings_.warnAgent, settings_.sdpLimits);
}

GatewayAdmission SecurityPolicy::admitGateway(std::span<const std::string> dnsSans, std::string_view commonName) const {
  return security::admitGateway(settings_.gatewayNames, dnsSans, commonName);
}

}  // namespace sipwarden::security
