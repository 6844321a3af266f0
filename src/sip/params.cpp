#include "sip/params.hpp"

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {
namespace {

// A run of uri-parameter characters (paramchar, RFC 3261 §25.1) with well-formed %-escapes.
Why spanUriParam(Scanner& s, std::string_view& out) {
  bool badEscape = false;
  std::size_t n = spanEscaped(s.rest(), chars::kUnreserved | chars::kParamExtra, badEscape);
  if (badEscape) return "bad %-escape in URI parameter";
  out = s.rest().substr(0, n);
  s.advance(n);
  return nullptr;
}

}  // namespace

bool consumeParamSeparator(Scanner& s, ParamList::Syntax syntax) {
  return syntax == ParamList::Syntax::Header ? s.consumeSeparator(';') : s.consume(';');
}

Why parseParam(Scanner& s, ParamList::Syntax syntax, Param& p) {
  p = Param{};
  if (syntax == ParamList::Syntax::Uri) {
    if (Why w = spanUriParam(s, p.name)) return w;
    if (p.name.empty()) return "empty URI parameter";
    if (s.consume('=')) {
      if (Why w = spanUriParam(s, p.value)) return w;
      p.hasValue = true;
      if (p.value.empty()) return "empty URI parameter value";
    }
    return nullptr;
  }
  // generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string
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
      p.value = s.span(chars::kGenValue);
      if (p.value.empty()) return "empty parameter value";
    }
  }
  return nullptr;
}

void ParamList::Iterator::advance() {
  Scanner s(rest_);
  if (!consumeParamSeparator(s, syntax_) || parseParam(s, syntax_, current_) != nullptr) {
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
