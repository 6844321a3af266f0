#include "sip/params.hpp"

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {
namespace {

constexpr std::uint16_t kUriParamChars = chars::kUnreserved | chars::kParamExtra;

// gen-value = token / host / quoted-string; host adds ':' and '[' ']' for IPv6 references.
constexpr std::uint16_t kGenValueChars = chars::kToken;

bool isGenValueChar(char c) { return chars::is(c, kGenValueChars) || c == ':' || c == '[' || c == ']'; }

// Parses one parameter starting just after its ';'. On success `s` is left after the parameter.
Why parseOne(Scanner& s, ParamList::Syntax syntax, Param& p) {
  p = Param{};
  if (syntax == ParamList::Syntax::Uri) {
    std::size_t start = s.pos();
    while (!s.atEnd()) {
      char c = s.peek();
      if (c == '%') {
        std::string_view r = s.rest();
        if (r.size() < 3 || !chars::isHex(r[1]) || !chars::isHex(r[2])) return "bad %-escape in URI parameter";
        s.advance(3);
      } else if (chars::is(c, kUriParamChars)) {
        s.advance();
      } else {
        break;
      }
    }
    p.name = s.source().substr(start, s.pos() - start);
    if (p.name.empty()) return "empty URI parameter";
    if (s.consume('=')) {
      start = s.pos();
      while (!s.atEnd()) {
        char c = s.peek();
        if (c == '%') {
          std::string_view r = s.rest();
          if (r.size() < 3 || !chars::isHex(r[1]) || !chars::isHex(r[2])) return "bad %-escape in URI parameter";
          s.advance(3);
        } else if (chars::is(c, kUriParamChars)) {
          s.advance();
        } else {
          break;
        }
      }
      p.value = s.source().substr(start, s.pos() - start);
      p.hasValue = true;
      if (p.value.empty()) return "empty URI parameter value";
    }
    return nullptr;
  }
  s.skipLws();
  p.name = s.token();
  if (p.name.empty()) return "empty parameter";
  if (s.consumeSeparator('=')) {
    p.hasValue = true;
    if (s.peek() == '"') {
      auto q = s.quotedString();
      if (!q) return "unterminated quoted string in parameter";
      p.value = *q;
      p.quoted = true;
    } else {
      std::size_t start = s.pos();
      while (!s.atEnd() && isGenValueChar(s.peek())) s.advance();
      p.value = s.source().substr(start, s.pos() - start);
      if (p.value.empty()) return "empty parameter value";
    }
  }
  return nullptr;
}

}  // namespace

Why ParamList::scan(std::string_view text, Syntax syntax, std::size_t& consumed) {
  Scanner s(text);
  consumed = 0;
  while (true) {
    std::size_t before = s.pos();
    if (syntax == Syntax::Header) {
      if (!s.consumeSeparator(';')) {
        s.seek(before);
        break;
      }
    } else if (!s.consume(';')) {
      break;
    }
    Param p;
    if (Why w = parseOne(s, syntax, p)) return w;
    consumed = s.pos();
  }
  return nullptr;
}

void ParamList::Iterator::advance() {
  Scanner s(rest_);
  bool found = syntax_ == Syntax::Header ? s.consumeSeparator(';') : s.consume(';');
  if (!found || parseOne(s, syntax_, current_) != nullptr) {
    done_ = true;
    rest_ = {};
    return;
  }
  done_ = false;
  rest_ = s.rest();
}

std::optional<Param> ParamList::find(std::string_view name) const {
  for (const Param& p : *this) {
    if (iequals(p.name, name)) return p;
  }
  return std::nullopt;
}

std::optional<std::string_view> ParamList::value(std::string_view name) const {
  if (auto p = find(name)) return p->value;
  return std::nullopt;
}

std::size_t ParamList::size() const {
  std::size_t n = 0;
  for (auto it = begin(); it != end(); ++it) ++n;
  return n;
}

}  // namespace sipwarden::sip
