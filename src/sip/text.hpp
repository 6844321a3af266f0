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

/// Length of the run of `cls` characters and %-escapes at the start of `s`; sets `badEscape` on a
/// '%' that does not start a valid escape (the run then ends before it).
constexpr std::size_t spanEscaped(std::string_view s, std::uint16_t cls, bool& badEscape) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '%') {
      if (!validEscape(s, i)) {
        badEscape = true;
        return i;
      }
      i += 3;
    } else if (chars::is(s[i], cls)) {
      ++i;
    } else {
      break;
    }
  }
  return i;
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
    // Local copies: a store to pos_ per character would otherwise be needed (char loads may alias it).
    const std::size_t start = pos_;
    const std::size_t n = s_.size();
    std::size_t p = start;
    while (p < n && chars::is(s_[p], cls)) ++p;
    pos_ = p;
    return s_.substr(start, p - start);
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
    const std::size_t start = pos_;
    const std::size_t n = s_.size();
    std::size_t p = start;
    // Two memchr calls (char_traits::find at run time) find the closing quote and any backslash
    // before it: a character loop costs about ten instructions a byte, and quoted values
    // (+sip.instance, display names, digest parameters) are long.
    while (p < n) {
      const char* base = s_.data();
      const char* q = std::char_traits<char>::find(base + p, n - p, '"');
      std::size_t close = q == nullptr ? n : static_cast<std::size_t>(q - base);
      const char* b = std::char_traits<char>::find(base + p, close - p, '\\');
      if (b == nullptr) {
        if (q == nullptr) break;
        pos_ = close + 1;
        return s_.substr(start, close - start);
      }
      // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
      p = static_cast<std::size_t>(b - base);
      if (p + 1 >= n) break;
      char next = s_[p + 1];
      if (next == '\r' || next == '\n' || static_cast<unsigned char>(next) > 0x7f) break;
      p += 2;
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
