// Parsing a whole SIP message (RFC 3261 §7, §18.3, §25). The message keeps views into `bytes`:
// the caller keeps them alive (or uses Message::adoptCopy first).
#pragma once

#include <cstddef>
#include <string_view>

#include "sip/message.hpp"
#include "sip/parse_error.hpp"

namespace sipwarden::sip {

struct Limits {
  std::size_t maxMessageSize = 64 * 1024;
  std::size_t maxHeaders = 128;
  std::size_t maxLineLength = 8 * 1024;
};

enum class Framing : unsigned char {
  Datagram,  ///< UDP/WebSocket message: the body runs to the end unless Content-Length says less
  Stream,    ///< TCP/TLS: `bytes` is exactly one framed message; Content-Length is mandatory
};

/// Parses one message. On error, `out` still holds everything that parsed (check
/// out.canBuildResponse() before answering a request with error.status()).
ParseError parseMessage(std::string_view bytes, Message& out, const Limits& limits = {},
                        Framing framing = Framing::Datagram);

/// Where the header section of `bytes` ends (just past CRLF CRLF), skipping leading CRLFs;
/// npos when it is not complete. Used by the stream framer.
std::size_t findHeaderEnd(std::string_view bytes, std::size_t searchFrom = 0);

}  // namespace sipwarden::sip
