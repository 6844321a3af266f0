// Incremental framing of SIP over a byte stream (TCP, TLS; RFC 3261 §18.3): bytes go in with
// feed(), whole messages come out of next(). CRLF keep-alives between messages are consumed
// (RFC 5626 §4.4.1: a double CRLF "ping" is reported so that the transport answers with a single
// CRLF "pong"). Content-Length is mandatory on streams; the limits of `Limits` are enforced
// while bytes arrive, so a peer cannot make the buffer grow without bound.
//
// Thread-safety: none; one framer per connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "sip/message.hpp"
#include "sip/parse_error.hpp"
#include "sip/parser.hpp"

namespace sipwarden::sip {

class StreamFramer {
 public:
  enum class Status : unsigned char {
    Message,    ///< `out` holds the next message (parsed without error)
    NeedMore,   ///< feed more bytes
    KeepAlive,  ///< a CRLF CRLF ping was consumed: answer with CRLF
    Invalid,    ///< a complete message that failed to parse: answer it (`error`) and go on
    Fatal,      ///< the stream cannot be framed any more (bad Content-Length, limits): close it
  };
  struct Result {
    Status status = Status::NeedMore;
    ParseError error;
  };

  explicit StreamFramer(const Limits& limits = {}) : limits_(limits) {}

  /// Appends received bytes. Invalidates views into messages returned earlier.
  void feed(std::string_view bytes);
  /// Like feed(), without the copy when nothing is buffered: the messages are framed straight
  /// from `bytes`, which must stay valid and unchanged until settle(). The usual case on a stream
  /// (each read holds whole messages) then costs no allocation and no copy.
  void lend(std::string_view bytes);
  /// Ends a lend(): the bytes not yet returned as a message (a partial one) are copied into the
  /// framer's buffer, and an empty buffer is freed (releaseIfEmpty). Views into messages returned
  /// earlier stay valid as long as the lent bytes do.
  void settle();

  /// Frames and parses the next message. On Message and Invalid, `out` points into the framer's
  /// buffer until the next call to feed() or next(); on any other status `out` is cleared.
  Result next(Message& out);

  /// Bytes received and not yet returned as a message.
  [[nodiscard]] std::size_t buffered() const { return data().size() - start_; }

  /// Frees the buffer when every received byte has been returned, so that an idle connection
  /// holds no buffer (views from earlier next() calls become invalid). Returns whether it did.
  bool releaseIfEmpty();
  [[nodiscard]] std::size_t capacity() const { return buf_.capacity(); }

 private:
  /// The bytes being framed: the lent ones, or the buffer. Offsets below are into these.
  [[nodiscard]] std::string_view data() const { return lent_ ? lentBytes_ : std::string_view(buf_); }
  /// Moves what is left of lent bytes into the buffer.
  void keepLentRest();
  void compact();
  Result fatal(ParseErrorKind kind, const char* detail, HeaderId id = HeaderId::Unknown);
  bool lineTooLong() const;

  Limits limits_;
  std::string buf_;
  std::size_t start_ = 0;       ///< first byte not yet consumed
  std::size_t scanFrom_ = 0;    ///< where to resume the search for the end of the header section
  std::size_t headerEnd_ = 0;   ///< absolute end of the header section once found, else 0
  std::size_t messageEnd_ = 0;  ///< absolute end of the message once known, else 0
  std::size_t lineStart_ = 0;   ///< start of the line being received (after the last LF scanned)
  bool broken_ = false;
  bool lent_ = false;
  std::string_view lentBytes_;
};

}  // namespace sipwarden::sip
