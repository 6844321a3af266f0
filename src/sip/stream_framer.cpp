#include "sip/stream_framer.hpp"

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {
namespace {

// Finds the Content-Length value in a complete header section (first line excluded). Returns
// nullptr on success with `found` telling whether one exists.
Why findContentLength(std::string_view head, bool& found, std::uint64_t& value) {
  found = false;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::size_t lineStart = pos + 2;
    std::size_t lineEnd = head.find("\r\n", lineStart);
    if (lineEnd == std::string_view::npos || lineEnd == lineStart) break;
    std::string_view line = head.substr(lineStart, lineEnd - lineStart);
    std::size_t n = 0;
    while (n < line.size() && chars::isToken(line[n])) ++n;
    std::string_view name = line.substr(0, n);
    if (headerIdFromName(name) == HeaderId::ContentLength) {
      while (n < line.size() && chars::isWsp(line[n])) ++n;
      if (n < line.size() && line[n] == ':') {
        // The value may continue on folded lines.
        std::size_t valueEnd = lineEnd;
        while (valueEnd + 2 < head.size() && chars::isWsp(head[valueEnd + 2])) {
          std::size_t next = head.find("\r\n", valueEnd + 2);
          if (next == std::string_view::npos) break;
          valueEnd = next;
        }
        std::string_view v = trimLws(head.substr(lineStart + n + 1, valueEnd - (lineStart + n + 1)));
        std::uint64_t parsed = 0;
        if (Why w = parseNumber(v, 0xffffffffULL, parsed)) return w;
        if (found && parsed != value) return "conflicting Content-Length values";
        found = true;
        value = parsed;
      }
    }
    pos = lineEnd;
  }
  return nullptr;
}

}  // namespace

void StreamFramer::feed(std::string_view bytes) {
  keepLentRest();
  compact();
  buf_.append(bytes);
}

void StreamFramer::lend(std::string_view bytes) {
  keepLentRest();
  if (buffered() != 0 || headerEnd_ != 0 || messageEnd_ != 0) {
    feed(bytes);  // the start of a message is buffered: the rest goes after it
    return;
  }
  buf_.clear();
  start_ = scanFrom_ = lineStart_ = 0;
  lent_ = true;
  lentBytes_ = bytes;
}

void StreamFramer::settle() {
  keepLentRest();
  releaseIfEmpty();
}

void StreamFramer::keepLentRest() {
  if (!lent_) return;
  const std::string_view rest = lentBytes_.substr(start_);
  lent_ = false;
  lentBytes_ = {};
  buf_.assign(rest);
  scanFrom_ = scanFrom_ > start_ ? scanFrom_ - start_ : 0;
  headerEnd_ = headerEnd_ > start_ ? headerEnd_ - start_ : 0;
  messageEnd_ = messageEnd_ > start_ ? messageEnd_ - start_ : 0;
  lineStart_ = lineStart_ > start_ ? lineStart_ - start_ : 0;
  start_ = 0;
}

bool StreamFramer::releaseIfEmpty() {
  if (lent_ || buffered() != 0 || headerEnd_ != 0 || messageEnd_ != 0) return false;
  std::string().swap(buf_);
  start_ = scanFrom_ = lineStart_ = 0;
  return true;
}

void StreamFramer::compact() {
  if (start_ == 0 || lent_) return;
  buf_.erase(0, start_);
  scanFrom_ = scanFrom_ > start_ ? scanFrom_ - start_ : 0;
  headerEnd_ = headerEnd_ > start_ ? headerEnd_ - start_ : 0;
  messageEnd_ = messageEnd_ > start_ ? messageEnd_ - start_ : 0;
  lineStart_ = lineStart_ > start_ ? lineStart_ - start_ : 0;
  start_ = 0;
}

StreamFramer::Result StreamFramer::fatal(ParseErrorKind kind, const char* detail, HeaderId id) {
  broken_ = true;
  Result r;
  r.status = Status::Fatal;
  r.error.kind = kind;
  r.error.detail = detail;
  r.error.header = id;
  r.error.headerName = headerName(id);
  return r;
}

bool StreamFramer::lineTooLong() const {
  std::size_t lineStart = lineStart_ > start_ ? lineStart_ : start_;
  return data().size() - lineStart > limits_.maxLineLength;
}

StreamFramer::Result StreamFramer::next(Message& out) {
  // Whatever `out` held pointed into this buffer: never leave it looking valid after a compaction.
  out.clear();
  if (broken_) return fatal(ParseErrorKind::BadContentLength, "stream framing was lost earlier");
  if (start_ == data().size()) compact();  // cheap: nothing left to move
  const std::string_view view = data();
  if (headerEnd_ == 0) {
    // Keep-alives between messages (RFC 5626 §4.4.1).
    constexpr std::string_view kPing = "\r\n\r\n";
    while (view.size() - start_ >= 2 && view[start_] == '\r' && view[start_ + 1] == '\n') {
      if (view.size() - start_ >= 4 && view.substr(start_, 4) == kPing) {
        start_ += 4;
        scanFrom_ = start_;
        return Result{Status::KeepAlive, {}};
      }
      std::size_t have = view.size() - start_;
      if (have < 4 && view.substr(start_) == kPing.substr(0, have)) {
        return Result{Status::NeedMore, {}};  // maybe a ping still arriving
      }
      start_ += 2;  // a lone CRLF (a pong, or stray): skip it
    }
    if (scanFrom_ < start_) scanFrom_ = start_;
    std::size_t end = findHeaderEnd(view.substr(start_), scanFrom_ - start_);
    if (end == std::string_view::npos) {
      // Remember where the current line starts, looking only at the bytes not scanned before.
      std::size_t from = scanFrom_ > start_ ? scanFrom_ : start_;
      std::size_t lf = view.substr(from).rfind('\n');
      if (lf != std::string_view::npos) lineStart_ = from + lf + 1;
      scanFrom_ = view.size();
      if (view.size() - start_ > limits_.maxMessageSize) {
        return fatal(ParseErrorKind::TooLarge, "header section exceeds the message size limit");
      }
      if (lineTooLong()) return fatal(ParseErrorKind::LineTooLong, "line exceeds the line length limit");
      return Result{Status::NeedMore, {}};
    }
    headerEnd_ = start_ + end;
    bool found = false;
    std::uint64_t length = 0;
    if (Why w = findContentLength(view.substr(start_, end), found, length)) {
      return fatal(ParseErrorKind::BadContentLength, w, HeaderId::ContentLength);
    }
    if (!found) {
      return fatal(ParseErrorKind::BadContentLength, "required on stream transports", HeaderId::ContentLength);
    }
    if (end + length > limits_.maxMessageSize) {
      return fatal(ParseErrorKind::TooLarge, "message exceeds the size limit", HeaderId::ContentLength);
    }
    messageEnd_ = headerEnd_ + static_cast<std::size_t>(length);
  }
  if (view.size() < messageEnd_) return Result{Status::NeedMore, {}};

  std::string_view message(view.data() + start_, messageEnd_ - start_);
  start_ = messageEnd_;
  scanFrom_ = start_;
  headerEnd_ = messageEnd_ = 0;
  Result r;
  r.error = parseMessage(message, out, limits_, Framing::Stream);
  r.status = r.error.ok() ? Status::Message : Status::Invalid;
  return r;
}

}  // namespace sipwarden::sip
