// Parameter lists: the ";name=value" tails of header values (generic-param, RFC 3261 §25.1) and of
// SIP URIs (uri-parameters, §19.1.1). A ParamList is a view; iterating it re-scans the text, so it
// never allocates. Lists are validated once by the parser; iteration assumes valid text.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <string_view>

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {

/// A parse failure: a short static description, or nullptr for success.
using Why = const char*;

struct Param {
  std::string_view name;
  std::string_view value;  ///< raw; without the quotes when `quoted`; escapes not decoded
  bool hasValue = false;
  bool quoted = false;
};

class ParamList {
 public:
  enum class Syntax : unsigned char {
    Header,  ///< generic-param: SWS allowed around ";" and "=", values are token / host / quoted-string
    Uri,     ///< uri-parameter: no white space, pname/pvalue are paramchar (with %-escapes)
  };

  constexpr ParamList() = default;
  /// `text` starts at the first ';' (or is empty).
  constexpr ParamList(std::string_view text, Syntax syntax) : text_(text), syntax_(syntax) {}

  /// Checks `text` (starting at the first ';') and returns how many bytes belong to the list:
  /// scanning stops before the first character that cannot continue a parameter (e.g. ',' or '?').
  static Why scan(std::string_view text, Syntax syntax, std::size_t& consumed) {
    return scanEach(text, syntax, consumed, [](const Param&) -> Why { return nullptr; });
  }

  /// scan() that also calls `onParam(const Param&) -> Why` for each parameter, so that callers
  /// pick out the parameters they know in the same pass; a non-null result stops the scan.
  template <typename F>
  static Why scanEach(std::string_view text, Syntax syntax, std::size_t& consumed, F&& onParam);

  [[nodiscard]] constexpr std::string_view text() const { return text_; }
  [[nodiscard]] constexpr bool empty() const { return text_.empty(); }
  [[nodiscard]] constexpr Syntax syntax() const { return syntax_; }

  /// Case-insensitive lookup by name; the first match wins.
  [[nodiscard]] std::optional<Param> find(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const { return find(name).has_value(); }
  /// The value of `name` ("" when present without a value); nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> value(std::string_view name) const;
  [[nodiscard]] std::size_t size() const;

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Param;
    using difference_type = std::ptrdiff_t;
    using pointer = const Param*;
    using reference = const Param&;

    Iterator() = default;
    Iterator(std::string_view rest, Syntax syntax) : rest_(rest), syntax_(syntax) { advance(); }
    const Param& operator*() const { return current_; }
    const Param* operator->() const { return &current_; }
    Iterator& operator++() {
      advance();
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      advance();
      return old;
    }
    bool operator==(const Iterator& o) const { return done_ == o.done_ && (done_ || rest_.data() == o.rest_.data()); }

   private:
    void advance();
    std::string_view rest_;
    Syntax syntax_ = Syntax::Header;
    Param current_;
    bool done_ = true;
  };

  [[nodiscard]] Iterator begin() const { return Iterator(text_, syntax_); }
  [[nodiscard]] Iterator end() const { return Iterator(); }

 private:
  std::string_view text_;
  Syntax syntax_ = Syntax::Header;
};

/// Parses one parameter, `s` being just after its ';'.
Why parseParam(Scanner& s, ParamList::Syntax syntax, Param& p);
/// Consumes the ';' before a parameter (with SWS around it in header syntax); false if none.
bool consumeParamSeparator(Scanner& s, ParamList::Syntax syntax);

/// generic-params in header syntax from `p`: *( SEMI generic-param ) with SEMI = SWS ";" SWS,
/// generic-param = token [ EQUAL gen-value ], EQUAL = SWS "=" SWS, gen-value = token / host /
/// quoted-string (RFC 3261 §25.1). Calls onParam(const Param&) -> Why for each parameter; `stop`
/// is left after the last complete parameter (also on failure). One pass over pointers: this is
/// the inner loop of every Via, Contact, From and To.
template <typename F>
Why scanHeaderParams(const char* p, const char* end, const char*& stop, F&& onParam) {
  stop = p;
  while (true) {
    // White space around ';' and '=' is rare: look at the next character before scanning for it.
    const char* q = p;
    if (q != end && chars::isLws(*q)) q = skipClass(q, end, chars::kLws);
    if (q == end || *q != ';') return nullptr;
    ++q;
    if (q != end && chars::isLws(*q)) q = skipClass(q, end, chars::kLws);
    Param param;
    const char* name = q;
    q = skipClass(q, end, chars::kToken);
    if (q == name) return "empty parameter";
    param.name = std::string_view(name, static_cast<std::size_t>(q - name));
    const char* r = q;
    if (r != end && chars::isLws(*r)) r = skipClass(r, end, chars::kLws);
    if (r != end && *r == '=') {
      ++r;
      if (r != end && chars::isLws(*r)) r = skipClass(r, end, chars::kLws);
      param.hasValue = true;
      if (r != end && *r == '"') {
        const char* close = findClosingQuote(r + 1, end);
        if (close == nullptr) return "unterminated quoted string in parameter";
        param.value = std::string_view(r + 1, static_cast<std::size_t>(close - r - 1));
        param.quoted = true;
        q = close + 1;
      } else {
        q = skipClass(r, end, chars::kGenValue);
        if (q == r) return "empty parameter value";
        param.value = std::string_view(r, static_cast<std::size_t>(q - r));
      }
    }
    if (Why w = onParam(param)) return w;
    p = q;
    stop = q;
  }
}

/// uri-parameters from `p`: *( ";" pname [ "=" pvalue ] ), pname and pvalue 1*paramchar with
/// well-formed %-escapes, no white space (RFC 3261 §25.1). Like scanHeaderParams otherwise.
template <typename F>
Why scanUriParams(const char* p, const char* end, const char*& stop, F&& onParam) {
  constexpr std::uint16_t kParamChars = chars::kUnreserved | chars::kParamExtra;
  stop = p;
  while (p != end && *p == ';') {
    Param param;
    bool bad = false;
    const char* name = p + 1;
    const char* q = skipEscaped(name, end, kParamChars, bad);
    if (bad) return "bad %-escape in URI parameter";
    if (q == name) return "empty URI parameter";
    param.name = std::string_view(name, static_cast<std::size_t>(q - name));
    if (q != end && *q == '=') {
      const char* value = q + 1;
      q = skipEscaped(value, end, kParamChars, bad);
      if (bad) return "bad %-escape in URI parameter";
      param.hasValue = true;
      if (q == value) return "empty URI parameter value";
      param.value = std::string_view(value, static_cast<std::size_t>(q - value));
    }
    if (Why w = onParam(param)) return w;
    p = q;
    stop = q;
  }
  return nullptr;
}

template <typename F>
Why ParamList::scanEach(std::string_view text, Syntax syntax, std::size_t& consumed, F&& onParam) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  const char* stop = begin;
  Why w = syntax == Syntax::Header ? scanHeaderParams(begin, end, stop, onParam)
                                   : scanUriParams(begin, end, stop, onParam);
  consumed = static_cast<std::size_t>(stop - begin);
  return w;
}

}  // namespace sipwarden::sip
