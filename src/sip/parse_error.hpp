// What went wrong with an incoming message, and the status a server should answer with.
// One table (statusForError in parse_error.cpp) maps error kinds to SIP responses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sip/header_id.hpp"

namespace sipwarden::sip {

enum class ParseErrorKind : std::uint8_t {
  None,
  NeedMore,               ///< stream framing only: the message is not complete yet
  TooLarge,               ///< message over the size limit (413; a stream is closed)
  TooManyHeaders,         ///< header count over the limit
  LineTooLong,            ///< a line over the length limit
  BadStartLine,           ///< malformed request-line or status-line
  BadVersion,             ///< well-formed SIP-Version other than 2.0 (505)
  BadHeaderLine,          ///< a header line without a colon, a bad name, a fold before any header
  BadHeaderValue,         ///< a known header whose value does not match its grammar
  DuplicateHeader,        ///< a single-value header (From, To, Call-ID, CSeq...) present twice
  MissingHeader,          ///< Via, From, To, Call-ID or CSeq absent
  BadRequestUri,          ///< malformed Request-URI
  UnsupportedScheme,      ///< Request-URI scheme other than sip, sips, tel (416)
  CSeqMismatch,           ///< CSeq method differs from the request method
  UnknownMethodMismatch,  ///< an extension method whose CSeq names another method (RFC 4475 §3.1.2.18: 501)
  BadContentLength,       ///< missing on a stream, negative, or larger than the message
};

struct ParseError {
  ParseErrorKind kind = ParseErrorKind::None;
  HeaderId header = HeaderId::Unknown;
  std::string_view headerName;  ///< as written for unknown headers, canonical otherwise
  const char* detail = "";      ///< static text, e.g. "empty parameter"

  [[nodiscard]] bool ok() const { return kind == ParseErrorKind::None; }
  explicit operator bool() const { return !ok(); }
  /// The response status a server should answer with (400, 413, 416, 505...).
  [[nodiscard]] int status() const;
  /// A reason phrase naming the header and the problem, e.g. "Bad Via: empty parameter".
  [[nodiscard]] std::string reasonPhrase() const;
};

}  // namespace sipwarden::sip
