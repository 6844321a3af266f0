#include "sip/uri.hpp"

#include <arpa/inet.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <array>
#include <cstring>

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {
namespace {

constexpr std::uint16_t kUserChars = chars::kUnreserved | chars::kUserExtra;
constexpr std::uint16_t kPasswordChars = chars::kUnreserved | chars::kPassExtra;
constexpr std::uint16_t kHeaderChars = chars::kUnreserved | chars::kHeaderExtra;

bool isIPv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && chars::isDigit(s[i]) && i - start < 3) v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    if (i == start || v > 255) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

// hostname = *( domainlabel "." ) toplabel [ "." ]; domainlabel = alphanum / alphanum
// *( alphanum / "-" ) alphanum; toplabel likewise but starting with ALPHA (RFC 3261 §25.1).
// A DFA over host characters checks this in the same loop that finds where the host ends, one
// table load per character. The state remembers whether the current label started with a letter
// (only the last label's first character matters) and whether its last character was '-'.
enum HostState : std::uint8_t {
  kLabelStart,       // at the start, or after a '.' that followed a label starting with a digit
  kAlphaLabel,       // in a label that started with a letter, last character alphanumeric
  kAlphaLabelDash,   // ... last character '-'
  kDigitLabel,       // in a label that started with a digit, last character alphanumeric
  kDigitLabelDash,   // ... last character '-'
  kAfterAlphaLabel,  // after the '.' that ended a label starting with a letter
  kBadHost,          // not a hostname (absorbing); may still be an IPv4address only if it ends in kDigitLabel
  kHostStates,
  kHostEnd = 0xff,  // not a host character: the host ends before it
};

constexpr std::array<std::uint8_t, 256 * kHostStates> makeHostDfa() {
  std::array<std::uint8_t, 256 * kHostStates> t{};
  for (int st = 0; st < kHostStates; ++st) {
    for (int c = 0; c < 256; ++c) {
      auto ch = static_cast<char>(c);
      std::uint8_t next = kHostEnd;
      bool inLabel = st == kAlphaLabel || st == kAlphaLabelDash || st == kDigitLabel || st == kDigitLabelDash;
      bool alphaLabel = st == kAlphaLabel || st == kAlphaLabelDash;
      if (chars::isAlnum(ch)) {
        if (st == kBadHost) {
          next = kBadHost;
        } else if (inLabel) {
          next = alphaLabel ? kAlphaLabel : kDigitLabel;
        } else {
          next = chars::isAlpha(ch) ? kAlphaLabel : kDigitLabel;
        }
      } else if (ch == '-') {
        next = inLabel ? (alphaLabel ? kAlphaLabelDash : kDigitLabelDash) : kBadHost;
      } else if (ch == '.') {
        next = st == kAlphaLabel ? kAfterAlphaLabel : st == kDigitLabel ? kLabelStart : kBadHost;
      }
      t[static_cast<std::size_t>(st) * 256 + static_cast<std::size_t>(c)] = next;
    }
  }
  return t;
}

constexpr std::array<std::uint8_t, 256 * kHostStates> kHostDfa = makeHostDfa();

}  // namespace

#if defined(__SSE2__)
namespace {

// The host characters among the first 16 bytes of `s`, classified with SSE2 (bit i is byte i),
// and what they form. Sets `len` and returns true when the host ends within those 16 bytes;
// false for longer hosts (the DFA takes them). Same rules as the DFA, on bit masks: a label
// starts with an alphanumeric, '.' is never followed by '.' or '-', '-' never by '.', the host
// does not end in '-', and the last label (before an optional trailing '.') starts with a letter
// for a hostname; four 1*3DIGIT parts up to 255 for an IPv4address.
bool scanHostNameShort(std::string_view s, std::size_t& len, HostKind& kind) {
  __m128i v;
  if (s.size() >= 16) {
    v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data()));
  } else {
    // NUL padding is not a host character, so the host ends within the copy.
    alignas(16) char buf[16] = {};
    if (!s.empty()) std::memcpy(buf, s.data(), s.size());
    v = _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
  }
  // Signed byte compares: bytes >= 0x80 are negative and fall outside every range.
  const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
  const auto mask = [](__m128i m) { return static_cast<unsigned>(_mm_movemask_epi8(m)); };
  const unsigned alpha =
      mask(_mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1))));
  const unsigned digit =
      mask(_mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1))));
  const unsigned dot = mask(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
  const unsigned dash = mask(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
  const unsigned host = alpha | digit | dot | dash;
  if (host == 0xffff) return false;
  const auto n = static_cast<unsigned>(__builtin_ctz(~host));
  len = n;
  kind = HostKind::None;
  if (n == 0) return true;
  // Masks hold host characters only below n: every bit of `host` below n is set.
  const unsigned in = (1u << n) - 1;
  const unsigned dots = dot & in;
  const unsigned dashes = dash & in;
  const unsigned alnum = (alpha | digit) & in;
  const unsigned last = 1u << (n - 1);
  if ((alnum & 1) == 0 || (dashes & last) != 0 || ((dots << 1) & (dots | dashes)) != 0 || ((dashes << 1) & dots) != 0) {
    return true;  // neither a hostname nor an IPv4address
  }
  const unsigned inner = dots & ~last;  // dots before the last label (a trailing '.' excluded)
  const unsigned topStart = inner == 0 ? 0 : 32 - static_cast<unsigned>(__builtin_clz(inner));
  if ((alpha >> topStart) & 1) {
    kind = HostKind::Name;
    return true;
  }
  // IPv4address: digits and three inner dots, no trailing dot; each part 1..3 digits up to 255.
  // (Exactly three dots: clearing the lowest set bit three times leaves none, twice leaves one.
  // No popcount: without -mpopcnt it is a library call.)
  const unsigned twoCleared = dots & (dots - 1) & ((dots & (dots - 1)) - 1);
  if ((dashes | (alpha & in)) != 0 || (dots & last) != 0 || twoCleared == 0 || (twoCleared & (twoCleared - 1)) != 0) {
    return true;
  }
  const char* b = s.data();
  unsigned start = 0;
  unsigned rest = dots | (1u << n);  // the end closes the fourth part
  for (int part = 0; part < 4; ++part) {
    const auto stop = static_cast<unsigned>(__builtin_ctz(rest));
    rest &= rest - 1;
    const unsigned digits = stop - start;
    if (digits > 3) return true;
    if (digits == 3 && (b[start] > '2' || (b[start] == '2' && (b[start + 1] > '5' || (b[start + 1] == '5' && b[start + 2] > '5'))))) {
      return true;  // above 255
    }
    start = stop + 1;
  }
  kind = HostKind::IPv4;
  return true;
}

}  // namespace
#endif

HostKind scanHostName(std::string_view s, std::size_t& len) {
#if defined(__SSE2__)
  HostKind kind = HostKind::None;
  if (scanHostNameShort(s, len, kind)) return kind;
#endif
  const std::uint8_t* dfa = kHostDfa.data();
  const char* const b = s.data();
  const char* const end = b + s.size();
  const char* p = b;
  std::size_t st = kLabelStart;
  // Unrolled by two; the row offset st * 256 is a shift folded into the address.
  while (end - p >= 2) {
    std::size_t next = dfa[st * 256 + static_cast<unsigned char>(p[0])];
    if (next == kHostEnd) goto done;
    st = dfa[next * 256 + static_cast<unsigned char>(p[1])];
    if (st == kHostEnd) {
      st = next;
      p += 1;
      goto done;
    }
    p += 2;
  }
  if (p != end) {
    std::size_t next = dfa[st * 256 + static_cast<unsigned char>(*p)];
    if (next != kHostEnd) {
      st = next;
      ++p;
    }
  }
done:
  const std::size_t i = static_cast<std::size_t>(p - b);
  len = i;
  if (st == kAlphaLabel || st == kAfterAlphaLabel) return HostKind::Name;
  // Only a host whose last label starts with a digit can be an IPv4address (and not a hostname).
  if (st == kDigitLabel && isIPv4(s.substr(0, i))) return HostKind::IPv4;
  return HostKind::None;
}

namespace {

bool isIPv6Reference(std::string_view s) {
  if (s.size() < 4 || s.front() != '[' || s.back() != ']') return false;
  std::string_view inner = s.substr(1, s.size() - 2);
  if (inner.size() > 45) return false;
  for (char c : inner) {
    if (!chars::isHex(c) && c != ':' && c != '.') return false;
  }
  std::array<char, 46> buf{};
  std::memcpy(buf.data(), inner.data(), inner.size());
  in6_addr addr{};
  return inet_pton(AF_INET6, buf.data(), &addr) == 1;
}

// One character of a URI component in canonical form for comparison (RFC 3261 §19.1.4): an
// escape of an unreserved character equals the character itself, an escape of a reserved character
// stays distinct from the literal character. Returns the code and advances `i`.
int canonicalChar(std::string_view s, std::size_t& i, bool foldCase) {
  char c = s[i];
  if (c == '%' && validEscape(s, i)) {
    char d = static_cast<char>(chars::hexValue(s[i + 1]) * 16 + chars::hexValue(s[i + 2]));
    i += 3;
    if (chars::is(d, chars::kReserved)) return 0x100 + static_cast<unsigned char>(d);
    return static_cast<unsigned char>(foldCase ? chars::toLower(d) : d);
  }
  ++i;
  return static_cast<unsigned char>(foldCase ? chars::toLower(c) : c);
}

bool componentEquals(std::string_view a, std::string_view b, bool foldCase) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (canonicalChar(a, i, foldCase) != canonicalChar(b, j, foldCase)) return false;
  }
  return i == a.size() && j == b.size();
}

// URI headers: "?" header *( "&" header ), header = hname "=" hvalue.
Why scanHeaders(std::string_view h) {
  if (h.empty()) return "empty URI headers";
  std::size_t i = 0;
  while (true) {
    bool bad = false;
    std::size_t n = spanEscaped(h.substr(i), kHeaderChars, bad);
    if (bad) return "bad %-escape in URI header";
    if (n == 0) return "empty URI header name";
    i += n;
    if (i >= h.size() || h[i] != '=') return "URI header without '='";
    ++i;
    n = spanEscaped(h.substr(i), kHeaderChars, bad);
    if (bad) return "bad %-escape in URI header";
    i += n;
    if (i == h.size()) return nullptr;
    if (h[i] != '&') return "invalid character in URI header";
    ++i;
  }
}

// Iterates "name=value" pairs of URI headers.
template <typename F>
void forEachUriHeader(std::string_view h, F&& f) {
  while (!h.empty()) {
    std::size_t amp = h.find('&');
    std::string_view one = h.substr(0, amp);
    std::size_t eq = one.find('=');
    f(one.substr(0, eq), eq == std::string_view::npos ? std::string_view() : one.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    h.remove_prefix(amp + 1);
  }
}

Why parseSipUri(std::string_view rest, Uri& out) {
  // userinfo: user [ ":" password ] "@", recognised by scanning user characters up to an '@'.
  bool bad = false;
  std::size_t u = spanEscaped(rest, kUserChars, bad);
  std::size_t at = std::string_view::npos;
  if (!bad) {
    if (u < rest.size() && rest[u] == '@') {
      at = u;
    } else if (u < rest.size() && rest[u] == ':') {
      std::size_t p = spanEscaped(rest.substr(u + 1), kPasswordChars, bad);
      if (!bad && u + 1 + p < rest.size() && rest[u + 1 + p] == '@') {
        at = u + 1 + p;
        out.password = rest.substr(u + 1, p);
      }
    }
  }
  if (at == std::string_view::npos && rest.find('@') != std::string_view::npos) {
    // An '@' exists but the text before it is not a valid userinfo.
    std::size_t q = rest.find_first_of(";?");
    if (q == std::string_view::npos || rest.find('@') < q) return "invalid character in URI user part";
  }
  if (at != std::string_view::npos) {
    out.hasUserInfo = true;
    out.user = rest.substr(0, u);
    if (out.user.empty()) return "empty URI user part";
    rest.remove_prefix(at + 1);
  }

  // hostport
  std::size_t hostEnd;
  if (!rest.empty() && rest.front() == '[') {
    hostEnd = rest.find(']');
    if (hostEnd == std::string_view::npos) return "unterminated IPv6 reference in URI host";
    ++hostEnd;
  } else {
    // hostname / IPv4address, checked while finding its end; what follows must be ':', ';', '?'
    // or the end (checked below).
    HostKind kind = scanHostName(rest, hostEnd);
    out.host = rest.substr(0, hostEnd);
    if (hostEnd == 0) return "empty host";
    if (kind == HostKind::None) return "invalid host";
    out.hostKind = kind;
  }
  if (out.hostKind == HostKind::None) {
    out.host = rest.substr(0, hostEnd);
    if (Why w = parseHost(out.host, out.hostKind)) return w;
  }
  rest.remove_prefix(hostEnd);
  if (!rest.empty() && rest.front() == ':') {
    std::size_t n = 1;
    while (n < rest.size() && chars::isDigit(rest[n])) ++n;
    std::uint64_t port = 0;
    if (!parseDecimal(rest.substr(1, n - 1), 65535, port)) return "invalid URI port";
    out.port = static_cast<std::uint16_t>(port);
    out.hasPort = true;
    rest.remove_prefix(n);
  }
  if (!rest.empty() && rest.front() == ';') {
    std::size_t consumed = 0;
    if (Why w = ParamList::scan(rest, ParamList::Syntax::Uri, consumed)) return w;
    out.params = ParamList(rest.substr(0, consumed), ParamList::Syntax::Uri);
    rest.remove_prefix(consumed);
  }
  if (!rest.empty() && rest.front() == '?') {
    out.headers = rest.substr(1);
    if (Why w = scanHeaders(out.headers)) return w;
    rest = {};
  }
  if (!rest.empty()) return "invalid character in URI";
  return nullptr;
}

Why parseTelUri(std::string_view rest, Uri& out) {
  // telephone-subscriber = global-number / local-number (RFC 3966 §3)
  std::size_t end = rest.find(';');
  std::string_view number = rest.substr(0, end);
  if (number.empty()) return "empty tel number";
  bool global = number.front() == '+';
  bool digit = false;
  for (std::size_t i = global ? 1 : 0; i < number.size(); ++i) {
    char c = number[i];
    bool visual = c == '-' || c == '.' || c == '(' || c == ')';
    bool ok = global ? (chars::isDigit(c) || visual) : (chars::isHex(c) || c == '*' || c == '#' || visual);
    if (!ok) return "invalid character in tel number";
    if (!visual) digit = true;
  }
  if (!digit) return "tel number without digits";
  out.user = number;
  out.hasUserInfo = true;
  if (end != std::string_view::npos) {
    std::string_view params = rest.substr(end);
    std::size_t consumed = 0;
    if (Why w = ParamList::scan(params, ParamList::Syntax::Uri, consumed)) return w;
    if (consumed != params.size()) return "invalid character in tel parameters";
    out.params = ParamList(params, ParamList::Syntax::Uri);
  }
  return nullptr;
}

bool paramMustMatch(std::string_view name) {
  // RFC 3261 §19.1.4: user, ttl, method, maddr and transport parameters appearing in only one URI
  // make the URIs differ. Names compare after decoding escapes ("tr%61nsport" is "transport").
  for (std::string_view known : {"user", "ttl", "method", "maddr", "transport"}) {
    if (componentEquals(name, known, true)) return true;
  }
  return false;
}

// Every parameter of `a` that `b` also names must match one of b's same-named values; the
// must-match parameters must appear in both. Checked both ways, so that repeated parameter names
// cannot make a URI differ from itself.
bool paramsCovered(const ParamList& a, const ParamList& b) {
  for (const Param& p : a) {
    bool named = false;
    bool matched = false;
    for (const Param& q : b) {
      if (!componentEquals(p.name, q.name, true)) continue;
      named = true;
      if (componentEquals(p.value, q.value, true)) matched = true;
    }
    if (named ? !matched : paramMustMatch(p.name)) return false;
  }
  return true;
}

bool sipUriEquals(const Uri& a, const Uri& b) {
  if (a.scheme != b.scheme) return false;
  if (a.hasUserInfo != b.hasUserInfo) return false;
  if (!componentEquals(a.user, b.user, false) || !componentEquals(a.password, b.password, false)) return false;
  if (!iequals(a.host, b.host)) return false;
  if (a.hasPort != b.hasPort || a.port != b.port) return false;
  if (!paramsCovered(a.params, b.params) || !paramsCovered(b.params, a.params)) return false;
  // Headers are never ignored: each must be present in both with equal values, in any order.
  std::size_t na = 0;
  std::size_t nb = 0;
  bool same = true;
  forEachUriHeader(a.headers, [&](std::string_view name, std::string_view value) {
    ++na;
    bool found = false;
    forEachUriHeader(b.headers, [&](std::string_view n2, std::string_view v2) {
      if (!found && componentEquals(name, n2, true) && componentEquals(value, v2, false)) found = true;
    });
    same = same && found;
  });
  forEachUriHeader(b.headers, [&](std::string_view, std::string_view) { ++nb; });
  return same && na == nb;
}

// RFC 3966 §4: numbers compare without visual separators (hex digits case-insensitive), parameters
// compare as sets with case-insensitive names and values.
bool telNumberEquals(std::string_view a, std::string_view b) {
  auto visual = [](char c) { return c == '-' || c == '.' || c == '(' || c == ')'; };
  std::size_t i = 0;
  std::size_t j = 0;
  while (true) {
    while (i < a.size() && visual(a[i])) ++i;
    while (j < b.size() && visual(b[j])) ++j;
    if (i == a.size() || j == b.size()) return i == a.size() && j == b.size();
    if (chars::toLower(a[i]) != chars::toLower(b[j])) return false;
    ++i;
    ++j;
  }
}

bool telUriEquals(const Uri& a, const Uri& b) {
  if (!telNumberEquals(a.user, b.user)) return false;
  // RFC 3966 §4: parameters compare as sets; one present in only one URI makes them differ.
  auto named = [](const ParamList& list, std::string_view name) {
    for (const Param& q : list) {
      if (componentEquals(name, q.name, true)) return true;
    }
    return false;
  };
  for (const Param& p : a.params) {
    if (!named(b.params, p.name)) return false;
  }
  for (const Param& q : b.params) {
    if (!named(a.params, q.name)) return false;
  }
  return paramsCovered(a.params, b.params) && paramsCovered(b.params, a.params);
}

}  // namespace

std::string_view schemeName(UriScheme s) {
  switch (s) {
    case UriScheme::Sip: return "sip";
    case UriScheme::Sips: return "sips";
    case UriScheme::Tel: return "tel";
    case UriScheme::Other: break;
  }
  return "";
}

Why parseHost(std::string_view host, HostKind& kind) {
  if (host.empty()) {
    kind = HostKind::None;
    return "empty host";
  }
  if (host.front() == '[') {
    if (!isIPv6Reference(host)) return "invalid IPv6 reference";
    kind = HostKind::IPv6;
    return nullptr;
  }
  std::size_t len = 0;
  HostKind k = scanHostName(host, len);
  if (len != host.size() || k == HostKind::None) return "invalid host";
  kind = k;
  return nullptr;
}

Why parseUri(std::string_view text, Uri& out) {
  out = Uri{};
  return parseUriInto(text, out);
}

Why parseUriInto(std::string_view text, Uri& out) {
  out.raw = text;
  // Fast path for "sip:" and "sips:" (any case): no search for the colon, no scheme loop.
  // (c | 0x20) == 's' holds only for 's' and 'S', and likewise for the other letters.
  if (text.size() > 4 && (text[0] | 0x20) == 's' && (text[1] | 0x20) == 'i' && (text[2] | 0x20) == 'p') {
    if (text[3] == ':') {
      out.schemeText = text.substr(0, 3);
      out.scheme = UriScheme::Sip;
      return parseSipUri(text.substr(4), out);
    }
    if ((text[3] | 0x20) == 's' && text[4] == ':') {
      out.schemeText = text.substr(0, 4);
      out.scheme = UriScheme::Sips;
      return parseSipUri(text.substr(5), out);
    }
  }
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return "URI without scheme";
  std::string_view scheme = text.substr(0, colon);
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  if (!chars::isAlpha(scheme.front())) return "invalid URI scheme";
  for (char c : scheme) {
    if (!chars::isAlnum(c) && c != '+' && c != '-' && c != '.') return "invalid URI scheme";
  }
  out.schemeText = scheme;
  std::string_view rest = text.substr(colon + 1);
  if (iequals(scheme, "sip")) {
    out.scheme = UriScheme::Sip;
    return parseSipUri(rest, out);
  }
  if (iequals(scheme, "sips")) {
    out.scheme = UriScheme::Sips;
    return parseSipUri(rest, out);
  }
  if (iequals(scheme, "tel")) {
    out.scheme = UriScheme::Tel;
    return parseTelUri(rest, out);
  }
  // absoluteURI: uric characters (reserved / unreserved / escaped), at least one.
  out.scheme = UriScheme::Other;
  out.opaque = rest;
  if (rest.empty()) return "empty URI after scheme";
  bool bad = false;
  std::size_t n = spanEscaped(rest, chars::kUnreserved | chars::kReserved, bad);
  if (bad) return "bad %-escape in URI";
  // '[' ']' appear in IPv6 authorities of generic URIs; '#' in fragments.
  while (n < rest.size() && (rest[n] == '[' || rest[n] == ']' || rest[n] == '#')) {
    ++n;
    n += spanEscaped(rest.substr(n), chars::kUnreserved | chars::kReserved, bad);
    if (bad) return "bad %-escape in URI";
  }
  if (n != rest.size()) return "invalid character in URI";
  return nullptr;
}

bool uriEquals(const Uri& a, const Uri& b) {
  if (a.scheme != b.scheme) return false;
  switch (a.scheme) {
    case UriScheme::Sip:
    case UriScheme::Sips: return sipUriEquals(a, b);
    case UriScheme::Tel: return telUriEquals(a, b);
    case UriScheme::Other: break;
  }
  return iequals(a.schemeText, b.schemeText) && a.opaque == b.opaque;
}

std::string Uri::userUnescaped() const { return unescape(user); }

std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && validEscape(s, i)) {
      out.push_back(static_cast<char>(chars::hexValue(s[i + 1]) * 16 + chars::hexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string escape(std::string_view s, std::uint16_t allowed) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (chars::is(c, allowed)) {
      out.push_back(c);
    } else {
      auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace sipwarden::sip
