#include "sip/header_values.hpp"

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {
namespace {

// Parses the generic-param tail at `s`, calling onParam(const Param&) -> Why for each parameter in
// the same pass; `s` is left after the last parameter (the caller decides what may follow).
template <typename F>
Why parseParamsAt(Scanner& s, ParamList& out, F&& onParam) {
  std::string_view rest = s.rest();
  std::size_t consumed = 0;
  if (Why w = ParamList::scanEach(rest, ParamList::Syntax::Header, consumed, onParam)) return w;
  out = ParamList(rest.substr(0, consumed), ParamList::Syntax::Header);
  s.advance(consumed);
  return nullptr;
}

Why noParamCheck(const Param&) { return nullptr; }

// The rest of a single-value header must be parameters, then nothing.
template <typename F>
Why parseTrailingParams(Scanner& s, ParamList& out, F&& onParam) {
  if (Why w = parseParamsAt(s, out, onParam)) return w;
  s.skipLws();
  return s.atEnd() ? nullptr : "unexpected text after parameters";
}

Why parseTrailingParams(Scanner& s, ParamList& out) { return parseTrailingParams(s, out, noParamCheck); }

// Runs parseAt(Scanner&) over the whole of `text`, then requires the end.
template <typename F>
Why parseWhole(std::string_view text, F&& parseAt) {
  Scanner s(text);
  if (Why w = parseAt(s)) return w;
  s.skipLws();
  return s.atEnd() ? nullptr : "unexpected text after parameters";
}

bool isIpAddress(std::string_view s) {
  HostKind kind = HostKind::None;
  if (!s.empty() && s.front() != '[' && s.find(':') != std::string_view::npos) {
    // RFC 3261 writes received=IPv6address without brackets; check it in bracketed form.
    if (s.size() > 45) return false;
    char buf[48];
    buf[0] = '[';
    for (std::size_t i = 0; i < s.size(); ++i) buf[i + 1] = s[i];
    buf[s.size() + 1] = ']';
    return parseHost(std::string_view(buf, s.size() + 2), kind) == nullptr && kind == HostKind::IPv6;
  }
  return parseHost(s, kind) == nullptr && (kind == HostKind::IPv4 || kind == HostKind::IPv6);
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
bool parseQValue(std::string_view v, int& thousandths) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return false;
  int whole = v[0] - '0';
  int frac = 0;
  if (v.size() > 1) {
    if (v[1] != '.' || v.size() > 5) return false;
    int scale = 100;
    for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
      if (!chars::isDigit(v[i])) return false;
      frac += (v[i] - '0') * scale;
    }
  }
  if (whole == 1 && frac != 0) return false;
  thousandths = whole * 1000 + frac;
  return true;
}

}  // namespace

Why parseVia(std::string_view text, Via& out) {
  return parseWhole(text, [&out](Scanner& s) { return parseViaAt(s, out); });
}

Why parseViaAt(Scanner& s, Via& out) {
  out = Via{};
  s.skipLws();
  std::size_t start = s.pos();
  std::string_view text = s.source();
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport
  out.protocolName = s.token();
  if (out.protocolName.empty()) return "missing protocol name";
  if (!s.consumeSeparator('/')) return "expected '/' after protocol name";
  out.protocolVersion = s.token();
  if (out.protocolVersion.empty()) return "missing protocol version";
  if (!s.consumeSeparator('/')) return "expected '/' after protocol version";
  out.transport = s.token();
  if (out.transport.empty()) return "missing transport";
  if (!s.skipLws()) return "missing white space before sent-by";
  // sent-by = host [ COLON port ]
  std::size_t hostStart = s.pos();
  if (s.peek() == '[') {
    std::size_t close = s.rest().find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 reference in sent-by";
    s.advance(close + 1);
    out.host = text.substr(hostStart, s.pos() - hostStart);
    if (parseHost(out.host, out.hostKind) != nullptr) return "invalid sent-by host";
  } else {
    std::size_t len = 0;
    out.hostKind = scanHostName(s.rest(), len);
    s.advance(len);
    out.host = text.substr(hostStart, len);
    if (out.host.empty()) return "missing sent-by host";
    if (out.hostKind == HostKind::None) return "invalid sent-by host";
  }
  if (s.consumeSeparator(':')) {
    std::string_view digits = s.span(chars::kAlnum);
    std::uint64_t port = 0;
    if (!parseDecimal(digits, 65535, port)) return "invalid sent-by port";
    out.port = static_cast<std::uint16_t>(port);
    out.hasPort = true;
  }
  Why w = parseParamsAt(s, out.params, [&out](const Param& p) -> Why {
    if (iequals(p.name, "branch")) {
      if (!chars::isTokenString(p.value)) return "invalid branch";
      out.branch = p.value;
    } else if (iequals(p.name, "received")) {
      if (!isIpAddress(p.value)) return "received is not an IP address";
      out.received = p.value;
    } else if (iequals(p.name, "rport")) {
      std::uint64_t port = 0;
      if (p.hasValue && !parseDecimal(p.value, 65535, port)) return "invalid rport";
      out.rport = p.value;
    } else if (iequals(p.name, "maddr")) {
      HostKind kind = HostKind::None;
      if (parseHost(p.value, kind) != nullptr) return "invalid maddr";
      out.maddr = p.value;
    } else if (iequals(p.name, "ttl")) {
      std::uint64_t ttl = 0;
      if (!parseDecimal(p.value, 255, ttl)) return "invalid ttl";
      out.ttl = static_cast<int>(ttl);
    }
    return nullptr;
  });
  out.raw = text.substr(start, s.pos() - start);
  return w;
}

namespace {

// name-addr / addr-spec and its parameters, starting at `s`; stops before anything that cannot
// continue the value (a ',' in a list). `wholeValue`: the text is the entire header value, so a
// '<' further on means the display name held characters that needed quotes. `out` is
// default-constructed (the callers reset it, a Contact with the rest of its fields).
template <typename F>
Why parseNameAddrWith(Scanner& s, NameAddr& out, bool requireAngle, bool wholeValue, F&& onParam) {
  s.skipLws();
  std::size_t start = s.pos();
  std::string_view text = s.source();
  if (s.peek() == '"') {
    auto q = s.quotedString();
    if (!q) return "unterminated quoted display name";
    out.displayName = *q;
    out.displayQuoted = true;
    s.skipLws();
    if (s.peek() != '<') return "display name without <URI>";
  } else {
    // display-name = *(token LWS) before '<'; anything else means there is no display name.
    std::size_t p = s.pos();
    while (p < text.size() && (chars::isToken(text[p]) || chars::isLws(text[p]))) ++p;
    if (p < text.size() && text[p] == '<') {
      out.displayName = trimLws(text.substr(s.pos(), p - s.pos()));
      s.seek(p);
    } else if (wholeValue && text.find('<', p) != std::string_view::npos) {
      return "display name with unquoted special characters";
    }
  }
  if (s.peek() == '<') {
    s.advance();
    std::string_view rest = s.rest();
    std::size_t raquot = rest.find('>');
    if (raquot == std::string_view::npos) return "missing '>'";
    std::string_view uri = rest.substr(0, raquot);
    if (!uri.empty() && (chars::isLws(uri.front()) || chars::isLws(uri.back()))) return "white space inside <URI>";
    if (Why w = parseUriInto(uri, out.uri)) return w;
    out.angleBrackets = true;
    s.advance(raquot + 1);
  } else {
    if (requireAngle) return "URI not enclosed in <>";
    // addr-spec: the URI runs to the first ';', ',' or white space; its own parameters would be
    // ambiguous, so a URI with ';', ',' or '?' must use <> (RFC 3261 §20.10).
    // One scan finds the end (';', ',' or white space) and any of the characters that need <>.
    std::string_view rest = s.rest();
    auto end = static_cast<std::size_t>(skipClass(rest.data(), rest.data() + rest.size(), chars::kAddrSpec) - rest.data());
    std::string_view uri = rest.substr(0, end);
    bool needsAngle = end < rest.size() && (rest[end] == '?' || rest[end] == '<' || rest[end] == '>' || rest[end] == '"');
    if (uri.empty() && !needsAngle) return "missing URI";
    if (needsAngle) return "URI with '?' not enclosed in <>";
    if (Why w = parseUriInto(uri, out.uri)) return w;
    s.advance(end);
  }
  Why w = parseParamsAt(s, out.params, onParam);
  out.raw = text.substr(start, s.pos() - start);
  return w;
}

// Contact parameters of RFC 3261 §20.10 and RFC 5626 §4.2.
Why contactParam(Contact& out, const Param& p) {
  if (iequals(p.name, "expires")) {
    std::uint32_t v = 0;
    if (Why w = parseDeltaSeconds(p.value, v)) return w;
    out.expires = v;
  } else if (iequals(p.name, "q")) {
    if (!parseQValue(p.value, out.qThousandths)) return "invalid q value";
  } else if (iequals(p.name, "+sip.instance")) {
    if (!p.quoted) return "+sip.instance must be a quoted string";
    out.instance = p.value;
  } else if (iequals(p.name, "reg-id")) {
    std::uint64_t v = 0;
    if (!parseDecimal(p.value, 0xffffffffULL, v) || v == 0) return "invalid reg-id";
    out.regId = static_cast<std::uint32_t>(v);
  }
  return nullptr;
}

}  // namespace

Why parseNameAddr(std::string_view text, NameAddr& out, bool requireAngle) {
  out = NameAddr{};
  return parseWhole(text, [&](Scanner& s) { return parseNameAddrWith(s, out, requireAngle, true, noParamCheck); });
}

Why parseNameAddrAt(Scanner& s, NameAddr& out, bool requireAngle) {
  out = NameAddr{};
  return parseNameAddrWith(s, out, requireAngle, false, noParamCheck);
}

Why parseContact(std::string_view text, Contact& out) {
  return parseWhole(text, [&out](Scanner& s) { return parseContactAt(s, out); });
}

Why parseContactAt(Scanner& s, Contact& out) {
  out = Contact{};
  s.skipLws();
  if (s.peek() == '*') {
    std::string_view after = s.rest().substr(1);
    if (after.empty() || after.front() == ',' || chars::isLws(after.front())) {
      s.advance();
      out.star = true;
      return nullptr;
    }
  }
  return parseNameAddrWith(s, out.address, false, false, [&out](const Param& p) { return contactParam(out, p); });
}

Why parseCSeq(std::string_view text, CSeq& out) {
  out = CSeq{};
  Scanner s(text);
  s.skipLws();
  std::string_view digits = s.span(chars::kAlnum);
  std::uint64_t n = 0;
  if (digits.empty()) return "missing sequence number";
  for (char c : digits) {
    if (!chars::isDigit(c)) return "sequence number is not a number";
  }
  if (!parseDecimal(digits, 0x7fffffffULL, n)) return "sequence number too large (must be below 2^31)";
  if (!s.skipLws()) return "missing white space before method";
  out.methodText = s.token();
  if (out.methodText.empty()) return "missing method";
  s.skipLws();
  if (!s.atEnd()) return "unexpected text after method";
  out.number = static_cast<std::uint32_t>(n);
  out.method = methodFromName(out.methodText);
  return nullptr;
}

bool AuthValue::isDigest() const { return iequals(scheme, "Digest"); }

std::optional<std::string_view> AuthValue::param(std::string_view name) const {
  ListSplitter split(paramsText);
  std::string_view element;
  bool unbalanced = false;
  while (split.next(element, unbalanced)) {
    std::size_t eq = element.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trimLws(element.substr(0, eq)), name)) continue;
    std::string_view v = trimLws(element.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return std::nullopt;
}

namespace {

// The AuthValue member for a parameter name, by length then name (RFC 7616 §3.3/§3.4 names).
std::string_view AuthValue::*authField(std::string_view name) {
  switch (name.size()) {
    case 2: return iequals(name, "nc") ? &AuthValue::nc : nullptr;
    case 3:
      if (iequals(name, "uri")) return &AuthValue::uri;
      return iequals(name, "qop") ? &AuthValue::qop : nullptr;
    case 5:
      if (iequals(name, "realm")) return &AuthValue::realm;
      if (iequals(name, "nonce")) return &AuthValue::nonce;
      return iequals(name, "stale") ? &AuthValue::stale : nullptr;
    case 6:
      if (iequals(name, "cnonce")) return &AuthValue::cnonce;
      if (iequals(name, "opaque")) return &AuthValue::opaque;
      return iequals(name, "domain") ? &AuthValue::domain : nullptr;
    case 7: return iequals(name, "charset") ? &AuthValue::charset : nullptr;
    case 8:
      if (iequals(name, "username")) return &AuthValue::username;
      if (iequals(name, "response")) return &AuthValue::response;
      return iequals(name, "userhash") ? &AuthValue::userhash : nullptr;
    case 9: return iequals(name, "algorithm") ? &AuthValue::algorithm : nullptr;
    default: return nullptr;
  }
}

bool isAuthTokenChar(char c) {
  // token, plus what unquoted values carry in practice: nc is LHEX, Base64 tokens have / and =.
  return chars::isToken(c) || c == '/' || c == '=' || c == ':';
}

}  // namespace

Why parseAuth(std::string_view text, AuthValue& out) {
  out = AuthValue{};
  out.raw = text;
  Scanner s(text);
  s.skipLws();
  out.scheme = s.token();
  if (out.scheme.empty()) return "missing auth scheme";
  if (!s.skipLws() && !s.atEnd()) return "missing white space after auth scheme";
  out.paramsText = trimLws(s.rest());
  // auth-param *(COMMA auth-param); auth-param = auth-param-name EQUAL ( token / quoted-string )
  Scanner p(out.paramsText);
  while (!p.atEnd()) {
    std::string_view name = p.token();
    if (name.empty()) return p.peek() == ',' ? "empty auth parameter" : "invalid auth parameter name";
    if (!p.consumeSeparator('=')) return "auth parameter without '='";
    std::string_view value;
    if (p.peek() == '"') {
      auto q = p.quotedString();
      if (!q) return "unterminated quoted string";
      value = *q;
    } else {
      std::size_t start = p.pos();
      while (!p.atEnd() && isAuthTokenChar(p.peek())) p.advance();
      value = out.paramsText.substr(start, p.pos() - start);
      if (value.empty()) return "empty auth parameter value";
    }
    if (auto field = authField(name)) out.*field = value;
    p.skipLws();
    if (p.atEnd()) break;
    if (!p.consume(',')) return "unexpected text in auth parameter";
    p.skipLws();
    if (p.atEnd()) return "empty auth parameter";
  }
  return nullptr;
}

Why parseMediaType(std::string_view text, MediaType& out) {
  out = MediaType{};
  Scanner s(text);
  s.skipLws();
  out.type = s.token();
  if (out.type.empty()) return "missing media type";
  if (!s.consumeSeparator('/')) return "expected '/' in media type";
  out.subtype = s.token();
  if (out.subtype.empty()) return "missing media subtype";
  return parseTrailingParams(s, out.params);
}

Why parseTokenWithParams(std::string_view text, TokenWithParams& out) {
  out = TokenWithParams{};
  Scanner s(text);
  s.skipLws();
  out.value = s.token();
  if (out.value.empty()) return "missing value";
  return parseTrailingParams(s, out.params);
}

Why parseEvent(std::string_view text, TokenWithParams& out) {
  // event-type = event-package *( "." event-template ): tokens that may contain '.', which token
  // characters already include.
  return parseTokenWithParams(text, out);
}

Why parseCallId(std::string_view text) {
  // callid = word [ "@" word ]
  if (text.empty()) return "empty Call-ID";
  std::size_t at = text.find('@');
  std::string_view first = text.substr(0, at);
  if (first.empty() || !chars::allOf(first, chars::kWord)) return "invalid character in Call-ID";
  if (at != std::string_view::npos) {
    std::string_view second = text.substr(at + 1);
    if (second.empty() || !chars::allOf(second, chars::kWord)) return "invalid character in Call-ID";
  }
  return nullptr;
}

Why parseDeltaSeconds(std::string_view text, std::uint32_t& out) {
  if (text.empty()) return "empty delta-seconds";
  for (char c : text) {
    if (!chars::isDigit(c)) return "delta-seconds is not a number";
  }
  std::uint64_t v = 0;
  out = parseDecimal(text, 0xffffffffULL, v) ? static_cast<std::uint32_t>(v) : 0xffffffffU;
  return nullptr;
}

Why parseNumber(std::string_view text, std::uint64_t maxValue, std::uint64_t& out) {
  if (text.empty()) return "empty value";
  for (char c : text) {
    if (!chars::isDigit(c)) return "not a number";
  }
  if (!parseDecimal(text, maxValue, out)) return "number too large";
  return nullptr;
}

Why parseDate(std::string_view text, std::int64_t& epochSeconds) {
  // rfc1123-date = wkday "," SP date1 SP time SP "GMT"; date1 = 2DIGIT SP month SP 4DIGIT;
  // time = 2DIGIT ":" 2DIGIT ":" 2DIGIT. Example: "Sat, 13 Nov 2010 23:29:00 GMT".
  static constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 29) return "not an RFC 1123 date";
  bool dayOk = false;
  for (auto d : kDays) dayOk = dayOk || text.substr(0, 3) == d;
  if (!dayOk || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' || text[19] != ':' ||
      text[22] != ':' || text[25] != ' ') {
    return "not an RFC 1123 date";
  }
  if (text.substr(26) != "GMT") return "time zone must be GMT";
  auto two = [&](std::size_t at, int& v) {
    if (!chars::isDigit(text[at]) || !chars::isDigit(text[at + 1])) return false;
    v = (text[at] - '0') * 10 + (text[at + 1] - '0');
    return true;
  };
  int day = 0, hour = 0, minute = 0, second = 0, month = -1;
  for (int m = 0; m < 12; ++m) {
    if (text.substr(8, 3) == kMonths[m]) month = m;
  }
  std::uint64_t year = 0;
  if (month < 0 || !two(5, day) || !two(17, hour) || !two(20, minute) || !two(23, second) ||
      !parseDecimal(text.substr(12, 4), 9999, year)) {
    return "not an RFC 1123 date";
  }
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return "date field out of range";
  // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
  int y = static_cast<int>(year) - (month < 2 ? 1 : 0);
  int era = (y >= 0 ? y : y - 399) / 400;
  int yoe = y - era * 400;
  int mp = (month + 10) % 12;  // March-based month index; `month` is 0-based
  int doy = (153 * mp + 2) / 5 + day - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  epochSeconds = days * 86400 + hour * 3600 + minute * 60 + second;
  return nullptr;
}

Why parseTokenList(std::string_view text) {
  Scanner s(text);
  s.skipLws();
  if (s.atEnd()) return nullptr;
  while (true) {
    if (s.token().empty()) return s.peek() == ',' ? "empty list element" : "list element is not a token";
    s.skipLws();
    if (s.atEnd()) return nullptr;
    if (!s.consume(',')) return "list element is not a token";
    s.skipLws();
    if (s.atEnd()) return "empty list element";
  }
}

}  // namespace sipwarden::sip
