// libFuzzer target: SDP inspection and the secured mode's media check. The input's first line is a
// Content-Type header value, the rest a message body (seeds: "application/sdp\r\n" + an SDP, or a
// multipart type and a multipart body). Properties:
//   every view parseSdp and findSdpBodies return lies inside the input;
//   a description that parses gives the same m= lines and attributes once its LF line ends are
//   rewritten as CRLF (RFC 8866 §5 line-end tolerance must not change what is seen);
//   checkMedia answers 0, 400 or 488, with a reason phrase and Warning free of CR, LF and NUL.
#include <cstdint>
#include <string>
#include <string_view>

#include "security/security_policy.hpp"
#include "sip/sdp.hpp"

using namespace sipwarden;
using sip::SdpSession;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();  // a property failed: make libFuzzer record the input
}

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool clean(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

/// Each LF not preceded by CR becomes CRLF.
std::string toCrlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

void checkSession(const SdpSession& s, std::string_view text) {
  check(inside(s.origin, text) && inside(s.sessionName, text) && inside(s.sessionBody, text));
  std::uint32_t lastLine = 0;
  for (const sip::SdpMedia& m : s.media) {
    check(inside(m.media, text) && inside(m.proto, text) && inside(m.formats, text) && inside(m.body, text));
    check(m.line > lastLine);
    lastLine = m.line;
    check(!m.media.empty() && !m.proto.empty() && m.formatCount > 0 && m.portCount > 0);
    std::uint32_t formats = 0;
    for (std::string_view f : m.formatList()) {
      check(!f.empty() && inside(f, text));
      ++formats;
    }
    check(formats == m.formatCount);
    for (const sip::SdpAttribute& a : m.attributes()) {
      check(!a.name.empty() && inside(a.name, text) && inside(a.value, text));
      sip::SdpCrypto c;
      if (sip::parseSdpCrypto(a.value, c) == nullptr) check(inside(c.suite, text) && inside(c.keyParams, text));
      sip::SdpFingerprint fp;
      if (sip::parseSdpFingerprint(a.value, fp) == nullptr) check(fp.bytes > 0 && inside(fp.value, text));
    }
  }
  for (const sip::SdpAttribute& a : s.attributes()) check(!a.name.empty() && inside(a.name, text));
}

void checkSameDescription(const SdpSession& a, const SdpSession& b) {
  check(a.media.size() == b.media.size());
  check(a.origin == b.origin && a.sessionName == b.sessionName);
  for (std::size_t i = 0; i < a.media.size(); ++i) {
    const sip::SdpMedia& x = a.media[i];
    const sip::SdpMedia& y = b.media[i];
    check(x.media == y.media && x.port == y.port && x.portCount == y.portCount && x.proto == y.proto &&
          x.formats == y.formats && x.line == y.line);
    auto ia = x.attributes().begin();
    auto ib = y.attributes().begin();
    for (; ia != x.attributes().end() && ib != y.attributes().end(); ++ia, ++ib) {
      check(ia->name == ib->name && ia->value == ib->value && ia->hasValue == ib->hasValue);
    }
    check(ia == x.attributes().end() && ib == y.attributes().end());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t lf = input.find('\n');
  std::string_view contentType = lf == std::string_view::npos ? input : input.substr(0, lf);
  if (!contentType.empty() && contentType.back() == '\r') contentType.remove_suffix(1);
  std::string_view body = lf == std::string_view::npos ? std::string_view() : input.substr(lf + 1);

  // The body as one description.
  sip::SdpLimits limits;
  limits.maxBytes = 2 * body.size() + 1;
  SdpSession s;
  if (sip::parseSdp(body, s, limits).ok()) {
    checkSession(s, body);
    std::string crlf = toCrlf(body);
    SdpSession t;
    check(sip::parseSdp(crlf, t, limits).ok());
    checkSameDescription(s, t);
    security::MediaFinding f = security::findUnprotectedMedia(s);
    check(f.problem == security::MediaProblem::None || (f.index >= 1 && f.index <= s.media.size()));
  } else {
    checkSession(s, body);  // what parsed before the bad line is whole and readable
  }

  // The body as a message body with its Content-Type.
  sip::SdpBodies bodies;
  if (sip::findSdpBodies(contentType, body, bodies) == nullptr) {
    for (std::string_view b : bodies) check(!b.empty() && inside(b, body));
  }
  security::PolicyDecision d = security::checkMedia(security::SecurityMode::Secured, contentType, body, "fuzz");
  check(d.status == 0 || d.status == 400 || d.status == 488);
  check(clean(d.reasonPhrase) && clean(d.warning));
  check((d.status == 488) == !d.warning.empty());
  return 0;
}
