#include "sip/sdp.hpp"

#include "sip/chars.hpp"
#include "sip/header_values.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {

namespace {

constexpr std::size_t kNpos = std::string_view::npos;

/// token-char of RFC 8866 §9: %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E.
/// Wider than SIP's token (it adds # $ & ^ { | }).
constexpr bool isSdpTokenChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x27) || u == 0x2a || u == 0x2b || u == 0x2d || u == 0x2e ||
         (u >= 0x30 && u <= 0x39) || (u >= 0x41 && u <= 0x5a) || (u >= 0x5e && u <= 0x7e);
}

constexpr bool isSdpToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isSdpTokenChar(c)) return false;
  }
  return true;
}

/// Takes the next line off `rest`: the text up to LF, without the LF and one CR before it.
constexpr std::string_view takeLine(std::string_view& rest) {
  std::size_t lf = rest.find('\n');
  std::string_view line = lf == kNpos ? rest : rest.substr(0, lf);
  rest = lf == kNpos ? std::string_view() : rest.substr(lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

/// The next space-separated word of `s` from `pos` (runs of SP are one separator); empty at the end.
constexpr std::string_view nextWord(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && s[pos] == ' ') ++pos;
  std::size_t start = pos;
  while (pos < s.size() && s[pos] != ' ') ++pos;
  return s.substr(start, pos - start);
}

constexpr bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!chars::isDigit(c)) return false;
  }
  return true;
}

/// proto = token *("/" token) (RFC 8866 §9).
constexpr bool isProto(std::string_view s) {
  std::size_t start = 0;
  while (true) {
    std::size_t slash = s.find('/', start);
    if (!isSdpToken(s.substr(start, slash == kNpos ? kNpos : slash - start))) return false;
    if (slash == kNpos) return true;
    start = slash + 1;
  }
}

/// media-field = "m=" media SP port ["/" integer] SP proto 1*(SP fmt) (RFC 8866 §5.14, §9).
Why parseMediaLine(std::string_view value, SdpMedia& m) {
  std::size_t pos = 0;
  m.media = nextWord(value, pos);
  if (m.media.empty()) return "m= line without a media type";
  if (!isSdpToken(m.media)) return "bad media type in m= line";

  std::string_view port = nextWord(value, pos);
  if (port.empty()) return "m= line without a port";
  std::size_t slash = port.find('/');
  std::uint64_t number = 0;
  if (!allDigits(port.substr(0, slash)) || !parseDecimal(port.substr(0, slash), 65535, number)) {
    return "bad port in m= line";
  }
  m.port = static_cast<std::uint16_t>(number);
  m.portCount = 1;
  if (slash != kNpos) {
    if (!parseDecimal(port.substr(slash + 1), 65535, number) || number == 0) return "bad port count in m= line";
    m.portCount = static_cast<std::uint16_t>(number);
  }

  m.proto = nextWord(value, pos);
  if (m.proto.empty()) return "m= line without a transport protocol";
  if (!isProto(m.proto)) return "bad transport protocol in m= line";

  while (pos < value.size() && value[pos] == ' ') ++pos;
  std::size_t end = value.size();
  while (end > pos && value[end - 1] == ' ') --end;
  m.formats = value.substr(pos, end - pos);
  m.formatCount = 0;
  for (std::string_view fmt : SdpWords(m.formats)) {
    if (!isSdpToken(fmt)) return "bad format in m= line";
    ++m.formatCount;
  }
  if (m.formatCount == 0) return "m= line without a format";
  return nullptr;
}

/// o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 8866 §5.2).
bool isOrigin(std::string_view value) {
  std::size_t pos = 0;
  for (int i = 0; i < 6; ++i) {
    if (nextWord(value, pos).empty()) return false;
  }
  return nextWord(value, pos).empty();
}

/// t=<start-time> <stop-time> (RFC 8866 §5.9): two decimal numbers.
bool isTiming(std::string_view value) {
  std::size_t pos = 0;
  if (!allDigits(nextWord(value, pos)) || !allDigits(nextWord(value, pos))) return false;
  return nextWord(value, pos).empty();
}

}  // namespace

std::string SdpError::describe() const {
  if (line == 0) return detail;
  return "line " + std::to_string(line) + ": " + detail;
}

void SdpAttributes::Iterator::advance() {
  while (!rest_.empty()) {
    std::string_view line = takeLine(rest_);
    if (line.size() < 2 || line[0] != 'a' || line[1] != '=') continue;
    std::string_view attr = line.substr(2);
    std::size_t colon = attr.find(':');
    current_.name = attr.substr(0, colon);
    current_.hasValue = colon != kNpos;
    current_.value = current_.hasValue ? attr.substr(colon + 1) : std::string_view();
    return;
  }
  done_ = true;
  current_ = SdpAttribute{};
}

std::optional<SdpAttribute> SdpAttributes::find(std::string_view name) const {
  for (const SdpAttribute& a : *this) {
    if (a.name == name) return a;
  }
  return std::nullopt;
}

std::size_t SdpAttributes::count(std::string_view name) const {
  std::size_t n = 0;
  for (const SdpAttribute& a : *this) n += a.name == name ? 1 : 0;
  return n;
}

void SdpWords::Iterator::advance() {
  std::size_t pos = 0;
  current_ = nextWord(rest_, pos);
  rest_ = rest_.substr(pos);
  if (current_.empty()) current_ = std::string_view();
}

bool SdpWords::contains(std::string_view word) const {
  for (std::string_view w : *this) {
    if (w == word) return true;
  }
  return false;
}

SdpError parseSdp(std::string_view text, SdpSession& out, const SdpLimits& limits) {
  out.origin = {};
  out.sessionName = {};
  out.sessionBody = {};
  out.media.clear();
  if (text.find_first_not_of("\r\n") == kNpos) return {SdpErrorKind::Empty, 0, "empty SDP"};
  if (text.size() > limits.maxBytes) return {SdpErrorKind::TooLarge, 0, "SDP larger than the limit"};

  bool haveOrigin = false;
  bool haveName = false;
  bool haveTime = false;
  bool haveUri = false;
  bool haveZone = false;
  std::size_t pos = 0;
  std::size_t lineNo = 0;
  std::size_t sectionStart = 0;  // where the body of the current section (session or media) starts
  std::size_t end = text.size();

  // The body of the section being read ends at `at` (the start of an m= line or of the end).
  auto closeSection = [&](std::size_t at) {
    std::string_view body = text.substr(sectionStart, at - sectionStart);
    if (out.media.empty()) {
      out.sessionBody = body;
    } else {
      out.media.back().body = body;
    }
  };

  while (pos < text.size()) {
    std::size_t lf = text.find('\n', pos);
    std::size_t next = lf == kNpos ? text.size() : lf + 1;
    std::string_view line = text.substr(pos, (lf == kNpos ? text.size() : lf) - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++lineNo;
    if (line.empty()) {
      // Some senders end the body with an extra CRLF; anything after an empty line is an error.
      if (text.find_first_not_of("\r\n", pos) == kNpos) {
        end = pos;
        break;
      }
      return {SdpErrorKind::BadLine, lineNo, "empty line"};
    }
    if (lineNo > limits.maxLines) return {SdpErrorKind::TooManyLines, lineNo, "more SDP lines than the limit"};
    // RFC 8866 §5: text fields are byte-strings without NUL, CR or LF.
    if (line.find('\0') != kNpos) return {SdpErrorKind::BadLine, lineNo, "NUL in line"};
    if (line.find('\r') != kNpos) return {SdpErrorKind::BadLine, lineNo, "bare CR in line"};
    // RFC 8866 §5: <type>=<value>, one type letter, no white space around "=".
    if (line.size() < 2 || line[1] != '=') return {SdpErrorKind::BadLine, lineNo, "line is not type=value"};
    const char type = line[0];
    const std::string_view value = line.substr(2);

    if (lineNo == 1) {
      if (type != 'v') return {SdpErrorKind::MissingVersion, lineNo, "first line is not v="};
      if (value != "0") return {SdpErrorKind::BadVersion, lineNo, "v= is not 0"};
      pos = next;
      sectionStart = next;
      continue;
    }

    const bool inMedia = !out.media.empty();
    switch (type) {
      case 'v': return {SdpErrorKind::MisplacedField, lineNo, "v= after the first line"};
      case 'o':
        if (inMedia || haveOrigin) return {SdpErrorKind::MisplacedField, lineNo, "o= twice or inside a media section"};
        if (!isOrigin(value)) return {SdpErrorKind::BadField, lineNo, "o= line without its six fields"};
        haveOrigin = true;
        out.origin = value;
        break;
      case 's':
        if (inMedia || haveName) return {SdpErrorKind::MisplacedField, lineNo, "s= twice or inside a media section"};
        haveName = true;
        out.sessionName = value;
        break;
      case 't':
        if (inMedia) return {SdpErrorKind::MisplacedField, lineNo, "t= inside a media section"};
        if (!isTiming(value)) return {SdpErrorKind::BadField, lineNo, "t= line is not two times"};
        haveTime = true;
        break;
      case 'r':
        if (inMedia || !haveTime) return {SdpErrorKind::MisplacedField, lineNo, "r= outside a time description"};
        break;
      case 'z':
        if (inMedia || haveZone) return {SdpErrorKind::MisplacedField, lineNo, "z= twice or inside a media section"};
        haveZone = true;
        break;
      case 'u':
        if (inMedia || haveUri) return {SdpErrorKind::MisplacedField, lineNo, "u= twice or inside a media section"};
        haveUri = true;
        break;
      case 'e':
      case 'p':
        if (inMedia) return {SdpErrorKind::MisplacedField, lineNo, "e= or p= inside a media section"};
        break;
      case 'i':
      case 'c':
      case 'b':
      case 'k': break;
      case 'a': {
        // attribute = (attribute-name ":" attribute-value) / attribute-name; the name is a token.
        std::string_view name = value.substr(0, value.find(':'));
        if (!isSdpToken(name)) return {SdpErrorKind::BadAttribute, lineNo, "a= line without a valid attribute name"};
        break;
      }
      case 'm': {
        if (!haveOrigin) return {SdpErrorKind::MissingField, lineNo, "m= line before o="};
        if (!haveName) return {SdpErrorKind::MissingField, lineNo, "m= line before s="};
        if (!haveTime) return {SdpErrorKind::MissingField, lineNo, "m= line before t="};
        if (out.media.size() >= limits.maxMedia) {
          return {SdpErrorKind::TooManyMedia, lineNo, "more m= lines than the limit"};
        }
        SdpMedia m;
        if (Why w = parseMediaLine(value, m)) return {SdpErrorKind::BadMedia, lineNo, w};
        m.line = static_cast<std::uint32_t>(lineNo);
        closeSection(pos);
        out.media.push_back(m);
        sectionStart = next;
        break;
      }
      default: return {SdpErrorKind::UnknownType, lineNo, "unknown type letter"};
    }
    pos = next;
  }
  closeSection(end);
  if (!haveOrigin) return {SdpErrorKind::MissingField, 0, "no o= line"};
  if (!haveName) return {SdpErrorKind::MissingField, 0, "no s= line"};
  if (!haveTime) return {SdpErrorKind::MissingField, 0, "no t= line"};
  return {};
}

Why parseSdpCrypto(std::string_view value, SdpCrypto& out) {
  out = SdpCrypto{};
  const std::size_t n = value.size();
  std::size_t i = 0;
  auto skipWsp = [&] {
    std::size_t start = i;
    while (i < n && chars::isWsp(value[i])) ++i;
    return i != start;
  };

  // tag = 1*9DIGIT
  while (i < n && chars::isDigit(value[i])) ++i;
  if (i == 0 || i > 9) return "a=crypto tag is not 1 to 9 digits";
  std::uint64_t tag = 0;
  (void)parseDecimal(value.substr(0, i), 999999999, tag);
  out.tag = static_cast<std::uint32_t>(tag);
  if (!skipWsp() || i == n) return "a=crypto without a crypto-suite";

  // crypto-suite = 1*(ALPHA / DIGIT / "_")
  std::size_t start = i;
  while (i < n && (chars::isAlnum(value[i]) || value[i] == '_')) ++i;
  out.suite = value.substr(start, i - start);
  if (out.suite.empty() || (i < n && !chars::isWsp(value[i]))) return "bad crypto-suite in a=crypto";
  if (!skipWsp() || i == n) return "a=crypto without key parameters";

  // key-params = key-param *(";" key-param); key-param = key-method ":" key-info
  start = i;
  while (i < n && !chars::isWsp(value[i])) ++i;
  out.keyParams = value.substr(start, i - start);
  std::string_view params = out.keyParams;
  while (true) {
    std::size_t semi = params.find(';');
    std::string_view param = params.substr(0, semi);
    std::size_t colon = param.find(':');
    if (colon == kNpos || colon == 0) return "a=crypto key parameter is not method:info";
    std::string_view method = param.substr(0, colon);
    std::string_view info = param.substr(colon + 1);
    for (char c : method) {
      if (!chars::isAlnum(c) && c != '_') return "bad key method in a=crypto";
    }
    // key-info = %x21-3A / %x3C-7E (visible characters but ';', which the split removed).
    if (info.empty()) return "a=crypto key parameter without key info";
    for (char c : info) {
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)
        return "bad key info in a=crypto";
    }
    // RFC 4568 §6.1: srtp-key-info = key-salt ["|" lifetime] ["|" mki], key-salt = 1*(base64).
    // ABNF literals are case-insensitive (RFC 5234 §2.3).
    if (iequals(method, "inline")) {
      std::string_view keySalt = info.substr(0, info.find('|'));
      if (keySalt.empty()) return "a=crypto inline key is empty";
      for (char c : keySalt) {
        if (!chars::isAlnum(c) && c != '+' && c != '/' && c != '=') return "a=crypto inline key is not base64";
      }
      ++out.inlineKeys;
    }
    if (semi == kNpos) break;
    params = params.substr(semi + 1);
  }

  // *(1*WSP session-param), session-param = 1*(VCHAR); trailing white space is tolerated.
  skipWsp();
  start = i;
  std::size_t last = i;
  for (; i < n; ++i) {
    auto u = static_cast<unsigned char>(value[i]);
    if (chars::isWsp(value[i])) continue;
    if (u < 0x21 || u > 0x7e) return "bad session parameter in a=crypto";
    last = i + 1;
  }
  out.sessionParams = value.substr(start, last - start);
  return nullptr;
}

Why parseSdpFingerprint(std::string_view value, SdpFingerprint& out) {
  out = SdpFingerprint{};
  std::size_t space = value.find(' ');
  if (space == kNpos) return "a=fingerprint without a fingerprint";
  out.hashFunction = value.substr(0, space);
  if (!isSdpToken(out.hashFunction)) return "bad hash function in a=fingerprint";
  std::size_t i = space;
  while (i < value.size() && value[i] == ' ') ++i;
  out.value = value.substr(i);
  // fingerprint = 2UHEX *(":" 2UHEX)
  std::string_view v = out.value;
  std::size_t bytes = 0;
  for (std::size_t k = 0;; k += 3) {
    if (k + 2 > v.size() || !chars::isHex(v[k]) || !chars::isHex(v[k + 1])) return "bad fingerprint in a=fingerprint";
    ++bytes;
    if (k + 2 == v.size()) break;
    if (v[k + 2] != ':') return "bad fingerprint in a=fingerprint";
  }
  out.bytes = bytes;
  return nullptr;
}

namespace {

constexpr int kMaxMultipartDepth = 3;
constexpr std::size_t kMaxParts = 32;
constexpr std::size_t kMaxPartHeaders = 32;

Why collectBodies(const MediaType& type, std::string_view body, SdpBodies& out, int depth);

/// The next delimiter line (RFC 2046 §5.1.1) at or after `from`: "--" boundary at the start of a
/// line, then "--" (the close-delimiter) or transport padding and a line end. Returns its offset
/// (npos when none), whether it closes the body, and where what follows it starts.
std::size_t findDelimiter(std::string_view body, std::string_view boundary, std::size_t from, bool& close,
                          std::size_t& after) {
  std::size_t search = from + 2;
  while (search <= body.size()) {
    std::size_t q = body.find(boundary, search);
    if (q == kNpos) return kNpos;
    std::size_t d = q - 2;
    if (body[d] == '-' && body[d + 1] == '-' && (d == 0 || body[d - 1] == '\n')) {
      std::size_t e = q + boundary.size();
      if (body.substr(e, 2) == "--") {
        close = true;
        after = e + 2;
        return d;
      }
      while (e < body.size() && chars::isWsp(body[e])) ++e;
      if (e == body.size() || body[e] == '\n' || (body[e] == '\r' && e + 1 < body.size() && body[e + 1] == '\n')) {
        close = false;
        after = e == body.size() ? e : body[e] == '\n' ? e + 1 : e + 2;
        return d;
      }
    }
    search = q + 1;
  }
  return kNpos;
}

/// One body part: MIME-part-headers [CRLF *OCTET] (RFC 2046 §5.1.1).
Why collectPart(std::string_view part, SdpBodies& out, int depth) {
  MediaType type;
  bool haveType = false;
  std::string_view encoding;
  std::string_view content;
  std::size_t headers = 0;
  std::string_view rest = part;
  while (!rest.empty()) {
    const std::size_t lineStart = static_cast<std::size_t>(rest.data() - part.data());
    std::string_view line = takeLine(rest);
    if (line.empty()) {
      content = rest;
      break;
    }
    if (chars::isWsp(line[0])) return "body part header continuation without a header";
    std::size_t colon = line.find(':');
    if (colon == kNpos) return "body part header line without a colon";
    std::string_view name = trimLws(line.substr(0, colon));
    if (!chars::isTokenString(name)) return "bad body part header name";
    // The value runs over continuation lines (those starting with white space).
    std::size_t valueEnd = lineStart + line.size();
    while (!rest.empty() && chars::isWsp(rest[0])) {
      std::string_view more = takeLine(rest);
      valueEnd = static_cast<std::size_t>(more.data() - part.data()) + more.size();
    }
    std::size_t valueStart = lineStart + colon + 1;
    std::string_view value = trimLws(part.substr(valueStart, valueEnd - valueStart));
    if (++headers > kMaxPartHeaders) return "too many headers in a body part";
    if (iequals(name, "Content-Type")) {
      if (haveType) return "two Content-Type headers in a body part";
      if (parseMediaType(value, type) != nullptr) return "bad Content-Type in a body part";
      haveType = true;
    } else if (iequals(name, "Content-Transfer-Encoding")) {
      encoding = value;
    }
  }
  // RFC 2046 §5.1: a part without Content-Type is text/plain; charset=us-ascii.
  if (!haveType) return nullptr;
  if (iequals(type.type, "application") && iequals(type.subtype, "sdp") && !encoding.empty() &&
      !iequals(encoding, "7bit") && !iequals(encoding, "8bit") && !iequals(encoding, "binary")) {
    return "SDP part with an unsupported Content-Transfer-Encoding";
  }
  return collectBodies(type, content, out, depth + 1);
}

Why collectMultipart(std::string_view boundary, std::string_view body, SdpBodies& out, int depth) {
  bool close = false;
  std::size_t after = 0;
  // The preamble before the first delimiter is ignored (RFC 2046 §5.1.1).
  std::size_t d = findDelimiter(body, boundary, 0, close, after);
  if (d == kNpos) return "multipart body without its boundary";
  std::size_t parts = 0;
  while (!close) {
    const std::size_t partStart = after;
    std::size_t next = findDelimiter(body, boundary, partStart, close, after);
    if (next == kNpos) return "multipart body without a closing delimiter";
    // The line end before a delimiter belongs to the delimiter, not to the part (§5.1.1).
    std::size_t partEnd = next;
    if (partEnd > partStart) {
      --partEnd;
      if (partEnd > partStart && body[partEnd - 1] == '\r') --partEnd;
    }
    if (++parts > kMaxParts) return "too many parts in a multipart body";
    if (Why w = collectPart(body.substr(partStart, partEnd - partStart), out, depth)) return w;
  }
  return nullptr;
}

Why collectBodies(const MediaType& type, std::string_view body, SdpBodies& out, int depth) {
  if (iequals(type.type, "application") && iequals(type.subtype, "sdp")) {
    if (!body.empty()) out.push_back(body);
    return nullptr;
  }
  if (!iequals(type.type, "multipart")) return nullptr;
  if (depth >= kMaxMultipartDepth) return "multipart bodies nested too deeply";
  std::optional<std::string_view> boundary = type.params.value("boundary");
  if (!boundary) return "multipart Content-Type without a boundary";
  // boundary := 0*69<bchars> bcharsnospace (RFC 2046 §5.1.1)
  if (boundary->empty() || boundary->size() > 70 || boundary->back() == ' ') return "bad multipart boundary";
  return collectMultipart(*boundary, body, out, depth);
}

}  // namespace

Why findSdpBodies(std::string_view contentType, std::string_view body, SdpBodies& out) {
  out.clear();
  if (trimLws(contentType).empty()) {
    // RFC 3261 §20.15: a non-empty body must have a Content-Type.
    return body.empty() ? nullptr : "body without a Content-Type";
  }
  MediaType type;
  if (parseMediaType(contentType, type) != nullptr) return "bad Content-Type";
  return collectBodies(type, body, out, 0);
}

}  // namespace sipwarden::sip
