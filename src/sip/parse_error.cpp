#include "sip/parse_error.hpp"

namespace sipwarden::sip {

int ParseError::status() const {
  switch (kind) {
    case ParseErrorKind::None: return 0;
    case ParseErrorKind::NeedMore: return 0;
    case ParseErrorKind::TooLarge: return 413;
    case ParseErrorKind::BadVersion: return 505;
    case ParseErrorKind::UnsupportedScheme: return 416;
    case ParseErrorKind::UnknownMethodMismatch: return 501;
    case ParseErrorKind::TooManyHeaders:
    case ParseErrorKind::LineTooLong:
    case ParseErrorKind::BadStartLine:
    case ParseErrorKind::BadHeaderLine:
    case ParseErrorKind::BadHeaderValue:
    case ParseErrorKind::DuplicateHeader:
    case ParseErrorKind::MissingHeader:
    case ParseErrorKind::BadRequestUri:
    case ParseErrorKind::CSeqMismatch:
    case ParseErrorKind::BadContentLength: return 400;
  }
  return 400;
}

std::string ParseError::reasonPhrase() const {
  std::string r;
  switch (kind) {
    case ParseErrorKind::None: return "OK";
    case ParseErrorKind::NeedMore: return "Incomplete message";
    case ParseErrorKind::TooLarge: r = "Message Too Large"; break;
    case ParseErrorKind::TooManyHeaders: r = "Too Many Header Fields"; break;
    case ParseErrorKind::LineTooLong: r = "Line Too Long"; break;
    case ParseErrorKind::BadStartLine: r = "Bad Request-Line"; break;
    case ParseErrorKind::BadVersion: return "Version Not Supported";
    case ParseErrorKind::BadHeaderLine: r = "Malformed Header Line"; break;
    case ParseErrorKind::BadHeaderValue:
      r = "Bad ";
      r += headerName;
      break;
    case ParseErrorKind::DuplicateHeader:
      r = "Duplicate ";
      r += headerName;
      break;
    case ParseErrorKind::MissingHeader:
      r = "Missing ";
      r += headerName;
      break;
    case ParseErrorKind::BadRequestUri: r = "Bad Request-URI"; break;
    case ParseErrorKind::UnsupportedScheme: r = "Unsupported URI Scheme"; break;
    case ParseErrorKind::CSeqMismatch: r = "CSeq Method Mismatch"; break;
    case ParseErrorKind::UnknownMethodMismatch: r = "Not Implemented"; break;
    case ParseErrorKind::BadContentLength: r = "Bad Content-Length"; break;
  }
  if (detail != nullptr && *detail != '\0') {
    r += ": ";
    r += detail;
  }
  // A reason phrase is one line of text (RFC 3261 §25.1): drop anything that could break it.
  for (char& c : r) {
    if (c == '\r' || c == '\n' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return r;
}

}  // namespace sipwarden::sip
