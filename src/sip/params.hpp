// Parameter lists: the ";name=value" tails of header values (generic-param, RFC 3261 §25.1) and of
// SIP URIs (uri-parameters, §19.1.1). A ParamList is a view; iterating it re-scans the text, so it
// never allocates. Lists are validated once by the parser; iteration assumes valid text.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <string_view>

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

template <typename F>
Why ParamList::scanEach(std::string_view text, Syntax syntax, std::size_t& consumed, F&& onParam) {
  Scanner s(text);
  consumed = 0;
  while (consumeParamSeparator(s, syntax)) {
    Param p;
    if (Why w = parseParam(s, syntax, p)) return w;
    if (Why w = onParam(p)) return w;
    consumed = s.pos();
  }
  return nullptr;
}

}  // namespace sipwarden::sip
