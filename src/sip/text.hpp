// Small text helpers shared by the SIP parsers. Everything works on views into the buffer that
// owns the bytes; nothing here allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sip/chars.hpp"

namespace sipwarden::sip {

/// ASCII case-insensitive equality (header names, tokens, hosts).
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (chars::toLower(a[i]) != chars::toLower(b[i])) return false;
  }
  return true;
}

/// A well-formed escape ("%" HEXDIG HEXDIG) starts at s[i].
constexpr bool validEscape(std::string_view s, std::size_t i) {
  return i + 2 < s.size() && chars::isHex(s[i + 1]) && chars::isHex(s[i + 2]);
}

/// The first character in [p, end) that is not of class `cls` (or `end`). Unrolled by four: the
/// loop is the inner loop of every token, host and parameter scan.
constexpr const char* skipClass(const char* p, const char* end, std::uint16_t cls) {
  while (end - p >= 4) {
    if (!chars::is(p[0], cls)) return p;
    if (!chars::is(p[1], cls)) return p + 1;
    if (!chars::is(p[2], cls)) return p + 2;
    if (!chars::is(p[3], cls)) return p + 3;
    p += 4;
  }
  while (p < end && chars::is(*p, cls)) ++p;
  return p;
}

/// The end of the run of `cls` characters and %-escapes starting at `p`; sets `badEscape` on a
/// '%' that does not start a valid escape (the run then ends before it).
constexpr const char* skipEscaped(const char* p, const char* end, std::uint16_t cls, bool& badEscape) {
  if (chars::is('%', cls)) {
    // A class holding '%' itself (token): every '%' must still be a valid escape here.
    while (p < end) {
      if (*p == '%') {
        if (end - p < 3 || !chars::isHex(p[1]) || !chars::isHex(p[2])) {
          badEscape = true;
          return p;
        }
        p += 3;
      } else if (chars::is(*p, cls)) {
        ++p;
      } else {
        break;
      }
    }
    return p;
  }
  while (true) {
    p = skipClass(p, end, cls);
    if (p == end || *p != '%') return p;
    if (end - p < 3 || !chars::isHex(p[1]) || !chars::isHex(p[2])) {
      badEscape = true;
      return p;
    }
    p += 3;
  }
}

/// Length of the run of `cls` characters and %-escapes at the start of `s`; sets `badEscape` on a
/// '%' that does not start a valid escape (the run then ends before it).
constexpr std::size_t spanEscaped(std::string_view s, std::uint16_t cls, bool& badEscape) {
  const char* b = s.data();
  return static_cast<std::size_t>(skipEscaped(b, b + s.size(), cls, badEscape) - b);
}

/// The closing DQUOTE of a quoted-string whose text starts at `p` (just after the opening
/// DQUOTE), or nullptr when it is unterminated or holds an invalid quoted-pair (RFC 3261 §25.1:
/// quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)). Quoted-pairs are skipped, not decoded.
/// Two memchr calls (char_traits::find at run time) find the closing quote and any backslash
/// before it: a character loop costs about ten instructions a byte, and quoted values
/// (+sip.instance, display names, digest parameters) are long.
constexpr const char* findClosingQuote(const char* p, const char* end) {
  while (p < end) {
    const char* q = std::char_traits<char>::find(p, static_cast<std::size_t>(end - p), '"');
    const char* close = q == nullptr ? end : q;
    const char* b = std::char_traits<char>::find(p, static_cast<std::size_t>(close - p), '\\');
    if (b == nullptr) return q;
    if (end - b < 2) return nullptr;
    char next = b[1];
    if (next == '\r' || next == '\n' || static_cast<unsigned char>(next) > 0x7f) return nullptr;
    p = b + 2;
  }
  return nullptr;
}

/// Strips linear white space (SP, HTAB and the CR LF of a folded line) from both ends.
constexpr std::string_view trimLws(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && chars::isLws(s[b])) ++b;
  while (e > b && chars::isLws(s[e - 1])) --e;
  return s.substr(b, e - b);
}

/// Parses an unsigned decimal number (leading zeros allowed, as in RFC 4475 wsinv's "0068") into
/// `out`; fails on an empty string, a non-digit, or a value above `maxValue`.
constexpr bool parseDecimal(std::string_view s, std::uint64_t maxValue, std::uint64_t& out) {
  if (s.empty()) return false;
  // Once v exceeds maxValue it stays above it, so a compare per digit suffices (no division).
  std::uint64_t v = 0;
  for (char c : s) {
    if (!chars::isDigit(c)) return false;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, static_cast<std::uint64_t>(c - '0'), &v) ||
        v > maxValue) {
      return false;
    }
  }
  out = v;
  return true;
}

/// A cursor over one header value (or one element of a comma-separated list). The value was
/// delimited by the message parser, so any CR LF inside it belongs to a fold and counts as LWS.
class Scanner {
 public:
  constexpr explicit Scanner(std::string_view s) : s_(s) {}

  [[nodiscard]] constexpr bool atEnd() const { return pos_ >= s_.size(); }
  [[nodiscard]] constexpr char peek() const { return atEnd() ? '\0' : s_[pos_]; }
  [[nodiscard]] constexpr std::size_t pos() const { return pos_; }
  [[nodiscard]] constexpr std::string_view rest() const { return s_.substr(pos_); }
  [[nodiscard]] constexpr std::string_view source() const { return s_; }
  constexpr void advance(std::size_t n = 1) { pos_ += n; }
  constexpr void seek(std::size_t p) { pos_ = p; }

  /// Skips SWS; returns whether anything was skipped.
  constexpr bool skipLws() {
    std::size_t p = pos_;
    const std::size_t n = s_.size();
    while (p < n && chars::isLws(s_[p])) ++p;
    bool skipped = p != pos_;
    pos_ = p;
    return skipped;
  }

  constexpr bool consume(char c) {
    if (!atEnd() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  /// SWS c SWS (RFC 3261 §25.1 SEMI, COMMA, EQUAL, SLASH, COLON). Restores the position on failure.
  constexpr bool consumeSeparator(char c) {
    std::size_t save = pos_;
    skipLws();
    if (consume(c)) {
      skipLws();
      return true;
    }
    pos_ = save;
    return false;
  }

  /// The longest run of characters of class `cls` (may be empty).
  constexpr std::string_view span(std::uint16_t cls) {
    const std::size_t start = pos_;
    const char* base = s_.data();
    pos_ = static_cast<std::size_t>(skipClass(base + start, base + s_.size(), cls) - base);
    return s_.substr(start, pos_ - start);
  }

  constexpr std::string_view token() { return span(chars::kToken); }

  /// quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE. Returns the text between the
  /// quotes with quoted-pairs left escaped; nullopt (position unchanged) on an unterminated string.
  constexpr std::optional<std::string_view> quotedString() {
    std::size_t save = pos_;
    skipLws();
    if (!consume('"')) {
      pos_ = save;
      return std::nullopt;
    }
    const char* base = s_.data();
    const char* close = findClosingQuote(base + pos_, base + s_.size());
    if (close != nullptr) {
      const std::size_t start = pos_;
      pos_ = static_cast<std::size_t>(close - base) + 1;
      return s_.substr(start, pos_ - 1 - start);
    }
    pos_ = save;
    return std::nullopt;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

/// Walks the elements of a comma-separated header value (RFC 3261 §7.3.1), respecting quoted
/// strings and <...>. An empty element (",," or a trailing ",") is produced as an empty view so
/// that callers reject it where the grammar forbids it.
class ListSplitter {
 public:
  constexpr explicit ListSplitter(std::string_view value) : rest_(value), done_(trimLws(value).empty()) {}

  /// Produces the next element; false when none is left. `unbalanced` is set on an unterminated
  /// quoted string or angle bracket (the element then runs to the end of the value).
  constexpr bool next(std::string_view& element, bool& unbalanced) {
    if (done_) return false;
    bool inQuote = false;
    bool inAngle = false;
    std::size_t i = 0;
    for (; i < rest_.size(); ++i) {
      char c = rest_[i];
      if (!chars::is(c, chars::kListSpecial)) continue;
      if (inQuote) {
        if (c == '\\' && i + 1 < rest_.size()) {
          ++i;
        } else if (c == '"') {
          inQuote = false;
        }
      } else if (c == '"') {
        inQuote = true;
      } else if (c == '<') {
        inAngle = true;
      } else if (c == '>') {
        inAngle = false;
      } else if (c == ',' && !inAngle) {
        break;
      }
    }
    unbalanced = inQuote || inAngle;
    element = trimLws(rest_.substr(0, i));
    if (i < rest_.size()) {
      rest_ = rest_.substr(i + 1);
    } else {
      done_ = true;
    }
    return true;
  }

  /// The text after the last element produced (what follows its comma).
  [[nodiscard]] constexpr std::string_view rest() const { return done_ ? std::string_view() : rest_; }

 private:
  std::string_view rest_;
  bool done_;
};

}  // namespace sipwarden::sip
