// libFuzzer target: URI and name-addr parsing, escaping, and comparison. Properties: a parsed
// URI equals itself and an independent parse of the same text; unescape(escape(x)) == x.
#include <cstdint>
#include <string>
#include <string_view>

#include "sip/chars.hpp"
#include "sip/header_values.hpp"
#include "sip/uri.hpp"

using namespace sipwarden::sip;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  Uri a;
  if (parseUri(input, a) == nullptr) {
    Uri b;
    if (parseUri(input, b) != nullptr) __builtin_trap();
    if (!uriEquals(a, a) || !uriEquals(a, b) || !uriEquals(b, a)) __builtin_trap();
    volatile std::size_t sink = a.userUnescaped().size() + a.params.size();
    for (const Param& p : a.params) sink = sink + p.name.size() + p.value.size();
    (void)sink;
  }

  std::string plain(input);
  if (unescape(escape(plain, chars::kUnreserved)) != plain) __builtin_trap();

  NameAddr na;
  if (parseNameAddr(input, na) == nullptr) {
    if (!uriEquals(na.uri, na.uri)) __builtin_trap();
    volatile std::size_t sink = na.params.size() + na.tag().value_or("").size();
    (void)sink;
  }
  Contact c;
  (void)parseContact(input, c);
  Via v;
  (void)parseVia(input, v);
  return 0;
}
