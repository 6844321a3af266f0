#include "sip/parser.hpp"

#include <cstring>

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {

namespace {
constexpr std::size_t kNpos = std::string_view::npos;

// Position of the CR of the next CR LF at or after `from`, or npos. A bare LF (no CR before it)
// is reported through `bareLf`.
std::size_t findCrlf(std::string_view s, std::size_t from, bool& bareLf) {
  bareLf = false;
  if (from >= s.size()) return kNpos;
  const void* p = std::memchr(s.data() + from, '\n', s.size() - from);
  if (p == nullptr) return kNpos;
  auto lf = static_cast<std::size_t>(static_cast<const char*>(p) - s.data());
  if (lf == from || s[lf - 1] != '\r') {
    bareLf = true;
    return lf;
  }
  return lf - 1;
}

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; the literal is case-insensitive (RFC 3261 §25.1).
bool isVersionSyntax(std::string_view v) {
  if (v.size() < 7 || !iequals(v.substr(0, 4), "SIP/")) return false;
  std::size_t dot = v.find('.', 4);
  if (dot == kNpos || dot == 4 || dot + 1 == v.size()) return false;
  for (std::size_t i = 4; i < v.size(); ++i) {
    if (i != dot && !chars::isDigit(v[i])) return false;
  }
  return true;
}

bool isVersion20(std::string_view v) {
  return v.size() == 7 && iequals(v.substr(0, 4), "SIP/") && v.substr(4) == "2.0";
}

}  // namespace

class MessageParser {
 public:
  MessageParser(Message& m, const Limits& limits) : m_(m), limits_(limits) {}

  ParseError run(std::string_view bytes, Framing framing);

 private:
  void fail(ParseErrorKind kind, const char* detail, HeaderId id = HeaderId::Unknown, std::string_view name = {}) {
    if (!err_.ok()) return;
    err_.kind = kind;
    err_.detail = detail;
    err_.header = id;
    err_.headerName = id == HeaderId::Unknown ? name : headerName(id);
  }
  void parseStartLine(std::string_view line);
  void validateHeaders();

  Message& m_;
  const Limits& limits_;
  ParseError err_;
  bool uriSchemeUnsupported_ = false;
};

void MessageParser::parseStartLine(std::string_view line) {
  if (line.empty()) {
    fail(ParseErrorKind::BadStartLine, "empty start line");
    return;
  }
  if (line.size() >= 4 && iequals(line.substr(0, 4), "SIP/")) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    m_.isRequest_ = false;
    std::size_t sp = line.find(' ');
    std::string_view version = line.substr(0, sp);
    m_.version_ = version;
    if (!isVersionSyntax(version)) return fail(ParseErrorKind::BadStartLine, "malformed SIP-Version");
    if (!isVersion20(version)) return fail(ParseErrorKind::BadVersion, "only SIP/2.0 is supported");
    if (sp == kNpos) return fail(ParseErrorKind::BadStartLine, "missing status code");
    std::string_view rest = line.substr(sp + 1);
    std::size_t n = 0;
    while (n < rest.size() && chars::isDigit(rest[n])) ++n;
    if (n != 3 || (rest.size() > 3 && rest[3] != ' ')) {
      return fail(ParseErrorKind::BadStartLine, "status code must be three digits");
    }
    m_.status_ = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    if (m_.status_ < 100 || m_.status_ > 699) return fail(ParseErrorKind::BadStartLine, "status code out of range");
    m_.reason_ = rest.size() > 4 ? rest.substr(4) : std::string_view();
    for (char c : m_.reason_) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f)
        return fail(ParseErrorKind::BadStartLine, "control character in reason phrase");
    }
    return;
  }
  // Request-Line = Method SP Request-URI SP SIP-Version
  m_.isRequest_ = true;
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = line.rfind(' ');
  if (sp1 == kNpos || sp1 == sp2)
    return fail(ParseErrorKind::BadStartLine, "expected Method SP Request-URI SP SIP-Version");
  std::string_view method = line.substr(0, sp1);
  std::string_view uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  m_.methodText_ = method;
  m_.method_ = methodFromName(method);
  m_.version_ = version;
  m_.requestUriText_ = uri;
  if (!chars::isTokenString(method)) return fail(ParseErrorKind::BadStartLine, "method is not a token");
  if (version.empty()) return fail(ParseErrorKind::BadStartLine, "white space at the end of the request line");
  if (uri.empty() || uri.front() == ' ' || uri.back() == ' ') {
    return fail(ParseErrorKind::BadStartLine, "more than one SP between request-line elements");
  }
  if (!isVersionSyntax(version)) return fail(ParseErrorKind::BadStartLine, "malformed SIP-Version");
  if (!isVersion20(version)) return fail(ParseErrorKind::BadVersion, "only SIP/2.0 is supported");
  for (char c : uri) {
    if (chars::isLws(c)) return fail(ParseErrorKind::BadRequestUri, "white space in Request-URI");
  }
  if (uri.front() == '<') return fail(ParseErrorKind::BadRequestUri, "Request-URI must not be enclosed in <>");
  // m_.clear() reset requestUri_.
  if (Why w = parseUriInto(uri, m_.requestUri_)) return fail(ParseErrorKind::BadRequestUri, w);
  if (m_.requestUri_.isSip() && !m_.requestUri_.headers.empty()) {
    // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI.
    return fail(ParseErrorKind::BadRequestUri, "headers are not allowed in a Request-URI");
  }
  uriSchemeUnsupported_ = m_.requestUri_.scheme == UriScheme::Other;
}

// Headers parsed lazily, by the layer that uses them, are not checked here: Date (RFC 4475
// §3.1.2.12: a bad Date must not fail a request that does not need it) and the four
// authorization headers (the auth layer parses them once, with parseAuth, when it authenticates;
// a proxy forwarding credentials for another realm never needs them).
void MessageParser::validateHeaders() {
  bool seenFrom = false, seenTo = false, seenCallId = false, seenCSeq = false, seenMaxForwards = false,
       seenContentLength = false, seenContentType = false, seenExpires = false;
  std::size_t contacts = 0;
  bool star = false;
  // A single-value header: the first one is parsed into the message; a second one is an error.
  auto single = [&](bool& seen, const HeaderField& h) {
    if (seen) {
      fail(ParseErrorKind::DuplicateHeader, "only one is allowed", h.id);
      return false;
    }
    seen = true;
    return true;
  };
  auto typed = [&](const HeaderField& h, Why w) {
    if (w != nullptr) fail(ParseErrorKind::BadHeaderValue, w, h.id);
  };
  for (const HeaderField& h : m_.headers_) {
    switch (h.id) {
      case HeaderId::Via: {
        // Every via-parm is checked; the first one of the first Via header is kept as the top Via.
        Via scratch;
        typed(h, walkList(h.value, [&](Scanner& s) -> Why {
                Via& target = m_.hasVia_ ? scratch : m_.topVia_;
                if (Why w = parseViaAt(s, target)) return w;
                m_.hasVia_ = true;
                return nullptr;
              }));
        break;
      }
      case HeaderId::From:
        if (single(seenFrom, h)) typed(h, m_.parseTyped(h.id, h.value));
        break;
      case HeaderId::To:
        if (single(seenTo, h)) typed(h, m_.parseTyped(h.id, h.value));
        break;
      case HeaderId::CallId:
        if (single(seenCallId, h)) typed(h, m_.parseTyped(h.id, h.value));
        break;
      case HeaderId::CSeq:
        if (single(seenCSeq, h)) typed(h, m_.parseTyped(h.id, h.value));
        break;
      case HeaderId::MaxForwards:
        if (single(seenMaxForwards, h)) typed(h, m_.parseTyped(h.id, h.value));
        break;
      case HeaderId::ContentLength:
        if (single(seenContentLength, h)) {
          if (Why w = m_.parseTyped(h.id, h.value)) fail(ParseErrorKind::BadContentLength, w, h.id);
        }
        break;
      case HeaderId::Expires:
        if (single(seenExpires, h)) typed(h, m_.parseTyped(h.id, h.value));
        break;
      case HeaderId::MinExpires: {
        std::uint64_t n = 0;
        typed(h, parseNumber(h.value, 0xffffffffULL, n));
        break;
      }
      case HeaderId::ContentType: {
        MediaType mt;
        if (single(seenContentType, h)) typed(h, parseMediaType(h.value, mt));
        break;
      }
      case HeaderId::Contact: {
        Contact c;
        typed(h, walkList(h.value, [&](Scanner& s) -> Why {
                ++contacts;
                Why w = parseContactAt(s, c);
                star = star || c.star;
                return w;
              }));
        break;
      }
      case HeaderId::Route:
      case HeaderId::RecordRoute:
      case HeaderId::Path: {
        NameAddr na;
        typed(h, walkList(h.value, [&](Scanner& s) { return parseNameAddrAt(s, na, true); }));
        break;
      }
      case HeaderId::Supported:
      case HeaderId::Require:
      case HeaderId::ProxyRequire:
      case HeaderId::Unsupported:
      case HeaderId::Allow: typed(h, parseTokenList(h.value)); break;
      case HeaderId::Event: {
        TokenWithParams t;
        typed(h, parseEvent(h.value, t));
        break;
      }
      case HeaderId::SubscriptionState: {
        TokenWithParams t;
        typed(h, parseTokenWithParams(h.value, t));
        break;
      }
      default: break;
    }
  }
  if (star && contacts > 1) fail(ParseErrorKind::BadHeaderValue, "'*' must be the only Contact", HeaderId::Contact);
  if (m_.find(HeaderId::Via) == nullptr) fail(ParseErrorKind::MissingHeader, "", HeaderId::Via);
  if (!seenFrom) fail(ParseErrorKind::MissingHeader, "", HeaderId::From);
  if (!seenTo) fail(ParseErrorKind::MissingHeader, "", HeaderId::To);
  if (!seenCallId) fail(ParseErrorKind::MissingHeader, "", HeaderId::CallId);
  if (!seenCSeq) fail(ParseErrorKind::MissingHeader, "", HeaderId::CSeq);
}

ParseError MessageParser::run(std::string_view bytes, Framing framing) {
  m_.clear();
  m_.parsedFrom_ = bytes;
  if (bytes.size() > limits_.maxMessageSize) {
    fail(ParseErrorKind::TooLarge, "message exceeds the size limit");
    return err_;
  }
  std::size_t pos = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  while (pos + 1 < bytes.size() && bytes[pos] == '\r' && bytes[pos + 1] == '\n') pos += 2;
  bool bareLf = false;
  std::size_t eol = findCrlf(bytes, pos, bareLf);
  if (eol == kNpos || bareLf) {
    fail(ParseErrorKind::BadStartLine, eol == kNpos ? "start line not terminated" : "line ends in LF without CR");
    return err_;
  }
  if (eol - pos > limits_.maxLineLength) {
    fail(ParseErrorKind::LineTooLong, "start line exceeds the line length limit");
    return err_;
  }
  parseStartLine(bytes.substr(pos, eol - pos));
  pos = eol + 2;

  // Header fields (RFC 3261 §7.3): name HCOLON value, folded lines start with SP or HTAB.
  std::size_t lastValueStart = kNpos;
  while (true) {
    eol = findCrlf(bytes, pos, bareLf);
    if (eol == kNpos && framing == Framing::Datagram && pos == bytes.size()) {
      // A datagram that ends right after a complete header line: the datagram boundary ends the
      // header section (be liberal; RFC 4475 baddn.dat is written this way).
      break;
    }
    if (eol == kNpos) {
      fail(ParseErrorKind::BadHeaderLine, "header section not terminated by an empty line");
      return err_;
    }
    if (bareLf) {
      fail(ParseErrorKind::BadHeaderLine, "line ends in LF without CR");
      return err_;
    }
    if (eol == pos) {
      pos += 2;
      break;
    }
    if (eol - pos > limits_.maxLineLength) {
      fail(ParseErrorKind::LineTooLong, "header line exceeds the line length limit");
      return err_;
    }
    if (chars::isWsp(bytes[pos])) {
      if (lastValueStart == kNpos) {
        fail(ParseErrorKind::BadHeaderLine, "continuation line before the first header");
      } else {
        m_.headers_.back().value = trimLws(bytes.substr(lastValueStart, eol - lastValueStart));
      }
      pos = eol + 2;
      continue;
    }
    std::string_view line = bytes.substr(pos, eol - pos);
    auto n = static_cast<std::size_t>(skipClass(line.data(), line.data() + line.size(), chars::kToken) - line.data());
    std::string_view name = line.substr(0, n);
    while (n < line.size() && chars::isWsp(line[n])) ++n;
    if (name.empty() || n == line.size() || line[n] != ':') {
      fail(ParseErrorKind::BadHeaderLine, name.empty() ? "header name is not a token" : "header line without ':'");
      lastValueStart = kNpos;
      pos = eol + 2;
      continue;
    }
    if (m_.headers_.size() >= limits_.maxHeaders) {
      fail(ParseErrorKind::TooManyHeaders, "header count exceeds the limit");
      return err_;
    }
    lastValueStart = pos + n + 1;
    m_.headers_.push_back(HeaderField{headerIdFromName(name), name, trimLws(line.substr(n + 1))});
    pos = eol + 2;
  }

  validateHeaders();

  if (m_.isRequest_ && m_.hasCSeq_ && !m_.methodText_.empty() && m_.cseq_.methodText != m_.methodText_) {
    if (m_.method_ == Method::Extension) {
      fail(ParseErrorKind::UnknownMethodMismatch, "unknown method, and the CSeq method does not match it",
           HeaderId::CSeq);
    } else {
      fail(ParseErrorKind::CSeqMismatch, "CSeq method does not match the request method", HeaderId::CSeq);
    }
  }
  if (uriSchemeUnsupported_) fail(ParseErrorKind::UnsupportedScheme, "only sip, sips and tel URIs are served");

  // Body (RFC 3261 §18.3).
  std::string_view rest = bytes.substr(pos);
  if (m_.hasContentLength_) {
    if (m_.contentLength_ > rest.size()) {
      fail(ParseErrorKind::BadContentLength,
           framing == Framing::Datagram ? "larger than the datagram" : "larger than the message",
           HeaderId::ContentLength);
      m_.body_ = rest;
    } else {
      m_.body_ = rest.substr(0, m_.contentLength_);
    }
  } else if (framing == Framing::Stream) {
    if (m_.find(HeaderId::ContentLength) == nullptr) {
      fail(ParseErrorKind::BadContentLength, "required on stream transports", HeaderId::ContentLength);
    }
    m_.body_ = {};
  } else if (m_.find(HeaderId::ContentLength) == nullptr) {
    m_.body_ = rest;  // UDP without Content-Length: the body runs to the end of the datagram
    m_.contentLength_ = rest.size();
  }
  return err_;
}

ParseError parseMessage(std::string_view bytes, Message& out, const Limits& limits, Framing framing) {
  MessageParser parser(out, limits);
  return parser.run(bytes, framing);
}

std::size_t findHeaderEnd(std::string_view bytes, std::size_t searchFrom) {
  std::size_t start = 0;
  while (start + 1 < bytes.size() && bytes[start] == '\r' && bytes[start + 1] == '\n') start += 2;
  std::size_t from = searchFrom > start ? searchFrom : start;
  // Back up so that a CRLFCRLF straddling two feeds is found.
  from = from >= start + 3 ? from - 3 : start;
  std::size_t p = bytes.find("\r\n\r\n", from);
  return p == kNpos ? kNpos : p + 4;
}

}  // namespace sipwarden::sip
