// libFuzzer target: the datagram message parser, the typed accessors, the edit API and the
// serializer. Properties checked on every input that parses:
//   parse -> serialize -> parse succeeds and serializes to the same bytes (round trip);
//   the model (start line, headers, body) is the same after the round trip;
//   a proxy's edits (push Via, Record-Route, Max-Forwards, To tag) still serialize to a valid message.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"

using namespace sipwarden::sip;

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    __builtin_trap();  // a property failed: make libFuzzer record the input
  }
  (void)what;
}

void touchAccessors(const Message& m, const ParseError& e) {
  volatile std::size_t sink = e.reasonPhrase().size();
  for (const Contact& c : m.contacts()) sink = sink + c.address.uri.params.size() + (c.expires ? 1 : 0);
  for (const Via& v : m.vias()) sink = sink + v.params.size();
  sink = sink + m.routeSet(HeaderId::Route).size() + m.routeSet(HeaderId::RecordRoute).size();
  for (const HeaderField& h : m.headers()) {
    if (h.id == HeaderId::Authorization || h.id == HeaderId::WwwAuthenticate) {
      AuthValue a;
      if (parseAuth(h.value, a) == nullptr) sink = sink + a.param("nonce").value_or("").size();
    } else if (h.id == HeaderId::Date) {
      std::int64_t t = 0;
      sink = sink + (parseDate(h.value, t) == nullptr ? 1 : 0);
    }
  }
  if (m.requestUri().isSip()) sink = sink + m.requestUri().userUnescaped().size();
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Message m;
  ParseError e = parseMessage(input, m);
  touchAccessors(m, e);
  if (!e.ok()) return 0;

  std::string first = toWire(m);
  Message again;
  ParseError e2 = parseMessage(first, again, Limits{first.size() + 1, 1 << 20, first.size() + 1}, Framing::Stream);
  check(e2.ok(), "serialized message parses");
  std::string second = toWire(again);
  check(first == second, "round trip is stable");
  check(again.headers().size() >= m.headers().size(), "headers kept");
  check(again.isRequest() == m.isRequest(), "kind kept");
  check(again.methodText() == m.methodText() && again.statusCode() == m.statusCode(), "start line kept");
  check(again.callId() == m.callId() && again.body() == m.body(), "call-id and body kept");
  for (std::size_t i = 0; i < m.headers().size(); ++i) {
    check(again.headers()[i].id == m.headers()[i].id, "header id kept");
    if (m.headers()[i].id != HeaderId::ContentLength) {
      check(again.headers()[i].value == m.headers()[i].value, "header value kept");
    }
  }

  if (m.isRequest()) {
    check(m.pushVia("SIP/2.0/UDP proxy.example.com;branch=z9hG4bKfuzz") == nullptr, "push Via");
    check(m.addRecordRoute("<sip:proxy.example.com;lr>") == nullptr, "add Record-Route");
    m.decrementMaxForwards();
    if (!m.to().tag()) check(m.setToTag("fuzztag") == nullptr, "set To tag");
    std::string edited = toWire(m);
    Message parsedEdited;
    ParseError e3 = parseMessage(edited, parsedEdited, Limits{edited.size() + 1, 1 << 20, edited.size() + 1});
    check(e3.ok(), "edited message parses");
    check(parsedEdited.topVia().branch == std::string_view("z9hG4bKfuzz"), "pushed Via is on top");
    check(parsedEdited.popVia(), "pop Via");
  } else {
    Message::responseTo(m, 200);
  }
  return 0;
}
