#include "sip/header_values.hpp"

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {
namespace {

// Parses the generic-param tail that must make up the rest of `s` (after optional LWS).
Why parseTrailingParams(Scanner& s, ParamList& out) {
  std::string_view rest = s.rest();
  std::size_t consumed = 0;
  if (Why w = ParamList::scan(rest, ParamList::Syntax::Header, consumed)) return w;
  out = ParamList(rest.substr(0, consumed), ParamList::Syntax::Header);
  if (!trimLws(rest.substr(consumed)).empty()) return "unexpected text after parameters";
  return nullptr;
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
  out = Via{};
  out.raw = text;
  Scanner s(text);
  s.skipLws();
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
  } else {
    s.span(chars::kHost);
  }
  out.host = text.substr(hostStart, s.pos() - hostStart);
  if (out.host.empty()) return "missing sent-by host";
  if (parseHost(out.host, out.hostKind) != nullptr) return "invalid sent-by host";
  if (s.consumeSeparator(':')) {
    std::string_view digits = s.span(chars::kAlnum);
    std::uint64_t port = 0;
    if (!parseDecimal(digits, 65535, port)) return "invalid sent-by port";
    out.port = static_cast<std::uint16_t>(port);
    out.hasPort = true;
  }
  if (Why w = parseTrailingParams(s, out.params)) return w;
  for (const Param& p : out.params) {
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
  }
  return nullptr;
}

Why parseNameAddr(std::string_view text, NameAddr& out, bool requireAngle) {
  out = NameAddr{};
  out.raw = text;
  Scanner s(text);
  s.skipLws();
  if (s.peek() == '"') {
    auto q = s.quotedString();
    if (!q) return "unterminated quoted display name";
    out.displayName = *q;
    out.displayQuoted = true;
    s.skipLws();
    if (s.peek() != '<') return "display name without <URI>";
  }
  std::size_t laquot = std::string_view::npos;
  if (!out.displayQuoted) {
    // display-name = *(token LWS): everything before '<', if there is a '<'.
    std::string_view rest = s.rest();
    laquot = rest.find('<');
    if (laquot != std::string_view::npos) {
      std::string_view dn = trimLws(rest.substr(0, laquot));
      for (char c : dn) {
        if (!chars::isToken(c) && !chars::isLws(c)) return "display name with unquoted special characters";
      }
      out.displayName = dn;
      s.advance(laquot);
    }
  }
  if (s.peek() == '<') {
    s.advance();
    std::string_view rest = s.rest();
    std::size_t raquot = rest.find('>');
    if (raquot == std::string_view::npos) return "missing '>'";
    std::string_view uri = rest.substr(0, raquot);
    if (!uri.empty() && (chars::isLws(uri.front()) || chars::isLws(uri.back()))) return "white space inside <URI>";
    if (Why w = parseUri(uri, out.uri)) return w;
    out.angleBrackets = true;
    s.advance(raquot + 1);
  } else {
    if (requireAngle) return "URI not enclosed in <>";
    // addr-spec: the URI runs to the first ';' or white space; its own parameters would be
    // ambiguous, so a URI with ';', ',' or '?' must use <> (RFC 3261 §20.10).
    std::string_view rest = s.rest();
    std::size_t end = 0;
    while (end < rest.size() && rest[end] != ';' && !chars::isLws(rest[end])) ++end;
    std::string_view uri = rest.substr(0, end);
    if (uri.empty()) return "missing URI";
    if (uri.find_first_of("?,<>\"") != std::string_view::npos) return "URI with '?' not enclosed in <>";
    if (Why w = parseUri(uri, out.uri)) return w;
    s.advance(end);
  }
  return parseTrailingParams(s, out.params);
}

Why parseContact(std::string_view text, Contact& out) {
  out = Contact{};
  if (trimLws(text) == "*") {
    out.star = true;
    return nullptr;
  }
  if (Why w = parseNameAddr(text, out.address)) return w;
  for (const Param& p : out.address.params) {
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
  }
  return nullptr;
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

Why parseAuth(std::string_view text, AuthValue& out) {
  out = AuthValue{};
  out.raw = text;
  Scanner s(text);
  s.skipLws();
  out.scheme = s.token();
  if (out.scheme.empty()) return "missing auth scheme";
  if (!s.skipLws() && !s.atEnd()) return "missing white space after auth scheme";
  out.paramsText = trimLws(s.rest());
  // auth-param = auth-param-name EQUAL ( token / quoted-string ), separated by COMMA.
  ListSplitter split(out.paramsText);
  std::string_view element;
  bool unbalanced = false;
  while (split.next(element, unbalanced)) {
    if (unbalanced) return "unterminated quoted string";
    Scanner e(element);
    std::string_view name = e.token();
    if (name.empty()) return "empty auth parameter";
    if (!e.consumeSeparator('=')) return "auth parameter without '='";
    std::string_view value;
    if (e.peek() == '"') {
      auto q = e.quotedString();
      if (!q) return "unterminated quoted string";
      value = *q;
    } else {
      // token, plus the characters of unquoted nc (LHEX) and of Base64 tokens seen in the wild.
      std::size_t start = e.pos();
      while (!e.atEnd() && (chars::isToken(e.peek()) || e.peek() == '/' || e.peek() == '=' || e.peek() == ':')) {
        e.advance();
      }
      value = element.substr(start, e.pos() - start);
      if (value.empty()) return "empty auth parameter value";
    }
    e.skipLws();
    if (!e.atEnd()) return "unexpected text in auth parameter";
    struct Field {
      std::string_view name;
      std::string_view AuthValue::*member;
    };
    static constexpr Field kFields[] = {
        {"username", &AuthValue::username}, {"realm", &AuthValue::realm},
        {"nonce", &AuthValue::nonce},       {"uri", &AuthValue::uri},
        {"response", &AuthValue::response}, {"algorithm", &AuthValue::algorithm},
        {"cnonce", &AuthValue::cnonce},     {"opaque", &AuthValue::opaque},
        {"qop", &AuthValue::qop},           {"nc", &AuthValue::nc},
        {"stale", &AuthValue::stale},       {"domain", &AuthValue::domain},
        {"userhash", &AuthValue::userhash}, {"charset", &AuthValue::charset},
    };
    for (const Field& f : kFields) {
      if (iequals(name, f.name)) {
        out.*(f.member) = value;
        break;
      }
    }
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
  ListSplitter split(text);
  std::string_view element;
  bool unbalanced = false;
  while (split.next(element, unbalanced)) {
    if (!chars::isTokenString(element)) return element.empty() ? "empty list element" : "list element is not a token";
  }
  return nullptr;
}

}  // namespace sipwarden::sip
