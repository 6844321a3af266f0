// libFuzzer target: the PROXY protocol header parser (the first bytes of a connection on a
// listener behind a load balancer). Properties: an accepted header's length is within the input
// and the cap; every prefix of an accepted header is "need more" (a header split across reads is
// never refused nor misread); the same bytes give the same answer.
#include <cstdint>
#include <string_view>

#include "transport/proxy_protocol.hpp"

using namespace sipwarden::transport;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ProxyHeader h = parseProxyHeader(input);
  if (h.status == ProxyHeader::Status::Ok) {
    if (h.length == 0 || h.length > input.size() || h.length > kMaxProxyHeader) __builtin_trap();
    for (std::size_t n = 0; n < h.length; ++n) {
      if (parseProxyHeader(input.substr(0, n)).status != ProxyHeader::Status::NeedMore) __builtin_trap();
    }
    ProxyHeader again = parseProxyHeader(input.substr(0, h.length));
    if (again.status != ProxyHeader::Status::Ok || again.length != h.length || again.local != h.local ||
        !(again.source == h.source) || again.sourcePort != h.sourcePort) {
      __builtin_trap();
    }
  }
  return 0;
}
