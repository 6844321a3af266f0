// The message model: header names and compact forms, folding, typed header values, edits,
// serialization, and the errors (with the status a server answers) for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::sip {
namespace {

// Test messages are written with '\n' and sent with CRLF, as on the wire.
std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

constexpr std::string_view kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "From: \"Alice A.\" <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 4\n"
    "\n"
    "v=0\n";

ParseError parseText(std::string& storage, std::string_view text, Message& m, const Limits& limits = {}) {
  storage = crlf(text);
  return parseMessage(storage, m, limits);
}

TEST(Message, ParsesRequest) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf, kInvite, m).ok());
  EXPECT_TRUE(m.isRequest());
  EXPECT_EQ(m.method(), Method::Invite);
  EXPECT_EQ(m.requestUri().user, "bob");
  EXPECT_EQ(m.topVia().transport, "UDP");
  EXPECT_EQ(m.topVia().host, "pc33.atlanta.example.com");
  EXPECT_EQ(m.topVia().port, 5060);
  EXPECT_EQ(m.topVia().branch, "z9hG4bK776asdhds");
  EXPECT_TRUE(m.topVia().isRfc3261Branch());
  EXPECT_EQ(m.topVia().rport, "");  // present, no value yet (RFC 3581)
  EXPECT_EQ(m.from().displayName, "Alice A.");
  EXPECT_TRUE(m.from().displayQuoted);
  EXPECT_EQ(m.from().tag(), "1928301774");
  EXPECT_EQ(m.to().displayName, "Bob");
  EXPECT_FALSE(m.to().tag().has_value());
  EXPECT_EQ(m.callId(), "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(m.cseq().number, 314159u);
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.maxForwards(), 70u);
  EXPECT_EQ(m.contentLength(), 4u);
  EXPECT_EQ(m.body(), "v=0\r");  // 4 bytes of the body; the final '\n' is beyond Content-Length
  EXPECT_TRUE(m.canBuildResponse());
}

TEST(Message, CompactFormsAndCaseInsensitiveNames) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf,
                        "MESSAGE sip:u2@d SIP/2.0\n"
                        "v: SIP/2.0/TCP h1;branch=z9hG4bKa\n"
                        "f: <sip:u1@d>;tag=1\n"
                        "t: sip:u2@d\n"
                        "i: cid-1\n"
                        "CSEQ: 1 MESSAGE\n"
                        "m: <sip:u1@h1>;expires=60\n"
                        "c: text/plain\n"
                        "k: path, outbound\n"
                        "o: presence\n"
                        "u: presence, dialog\n"
                        "e: gzip\n"
                        "s: hello\n"
                        "l: 2\n\nhi",
                        m)
                  .ok());
  EXPECT_EQ(m.topVia().host, "h1");
  EXPECT_EQ(m.from().tag(), "1");
  EXPECT_EQ(m.callId(), "cid-1");
  EXPECT_EQ(m.cseq().number, 1u);
  EXPECT_EQ(m.contentLength(), 2u);
  EXPECT_EQ(m.body(), "hi");
  EXPECT_EQ(m.header("Content-Type"), "text/plain");
  EXPECT_EQ(m.header("content-type"), "text/plain");
  EXPECT_EQ(m.header("Subject"), "hello");
  EXPECT_EQ(m.header("Event"), "presence");
  EXPECT_EQ(m.header("Allow-Events"), "presence, dialog");
  EXPECT_EQ(m.header("Content-Encoding"), "gzip");
  ASSERT_EQ(m.contacts().size(), 1u);
  EXPECT_EQ(m.contacts()[0].expires, 60u);
  std::vector<std::string_view> supported;
  m.forEachValue(HeaderId::Supported, [&](std::string_view v) {
    supported.push_back(v);
    return true;
  });
  EXPECT_EQ(supported, (std::vector<std::string_view>{"path", "outbound"}));
  EXPECT_EQ(headerIdFromName("V"), HeaderId::Via);
  EXPECT_EQ(headerIdFromName("WWW-AUTHENTICATE"), HeaderId::WwwAuthenticate);
  EXPECT_EQ(headerIdFromName("X-Custom"), HeaderId::Unknown);
  EXPECT_EQ(headerIdFromName("CONTENT-length"), HeaderId::ContentLength);
  EXPECT_EQ(headerIdFromName("Content_Length"), HeaderId::Unknown);
  EXPECT_FALSE(m.header("Content\rType").has_value());  // not a token: never a header name
  EXPECT_EQ(compactForm(HeaderId::CallId), 'i');
  EXPECT_EQ(headerName(HeaderId::CallId), "Call-ID");
}

TEST(Message, LineFoldingAndListsAcrossLines) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf,
                        "OPTIONS sip:x@d SIP/2.0\n"
                        "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1,\n"
                        "  SIP/2.0/TCP b.example.com:5070\n"
                        "\t;branch=z9hG4bK2\n"
                        "Via: SIP/2.0/TLS c.example.com;branch=z9hG4bK3;received=192.0.2.9;ttl=16;maddr=239.1.1.1\n"
                        "From: <sip:a@d>\n"
                        "  ;tag=x\n"
                        "To: <sip:x@d>\n"
                        "Call-ID: c\n"
                        "CSeq: 7\n"
                        "  OPTIONS\n"
                        "X-Folded: one\n"
                        " two\n"
                        "Content-Length: 0\n\n",
                        m)
                  .ok());
  std::vector<Via> vias = m.vias();
  ASSERT_EQ(vias.size(), 3u);
  EXPECT_EQ(m.viaCount(), 3u);
  EXPECT_EQ(vias[1].transport, "TCP");
  EXPECT_EQ(vias[1].port, 5070);
  EXPECT_EQ(vias[1].branch, "z9hG4bK2");
  EXPECT_EQ(vias[2].received, "192.0.2.9");
  EXPECT_EQ(vias[2].ttl, 16);
  EXPECT_EQ(vias[2].maddr, "239.1.1.1");
  EXPECT_EQ(m.from().tag(), "x");
  EXPECT_EQ(m.cseq().number, 7u);
  EXPECT_EQ(m.cseq().method, Method::Options);
  EXPECT_EQ(m.header("x-folded"), "one\r\n two");  // the fold is kept as written; it reads as LWS
}

TEST(Message, ContactValues) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf,
                        "REGISTER sip:d SIP/2.0\n"
                        "Via: SIP/2.0/UDP h;branch=z9hG4bKr\n"
                        "From: <sip:a@d>;tag=1\nTo: <sip:a@d>\nCall-ID: r\nCSeq: 2 REGISTER\n"
                        "Contact: <sip:a@192.0.2.1:5060;transport=tcp>;expires=3600;q=0.7,\n"
                        " \"Desk, Phone\" "
                        "<sip:a@192.0.2.2>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\n"
                        "Contact: sip:a@192.0.2.3;q=1.0;expires=99999999999\n"
                        "Expires: 1800\n"
                        "Content-Length: 0\n\n",
                        m)
                  .ok());
  std::vector<Contact> c = m.contacts();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].address.uri.param("transport"), "tcp");
  EXPECT_EQ(c[0].expires, 3600u);
  EXPECT_EQ(c[0].qThousandths, 700);
  EXPECT_EQ(c[1].address.displayName, "Desk, Phone");  // the comma inside quotes does not split
  EXPECT_EQ(c[1].instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
  EXPECT_EQ(c[1].regId, 1u);
  EXPECT_EQ(c[1].qThousandths, -1);
  EXPECT_EQ(c[2].qThousandths, 1000);
  EXPECT_EQ(c[2].expires, 0xffffffffu);  // overlarge delta-seconds saturate
  EXPECT_FALSE(c[2].address.angleBrackets);
  EXPECT_EQ(m.expires(), 1800u);
}

TEST(Message, ContactStar) {
  std::string buf;
  Message m;
  const char* base =
      "REGISTER sip:d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKr\n"
      "From: <sip:a@d>;tag=1\nTo: <sip:a@d>\nCall-ID: r\nCSeq: 2 REGISTER\nExpires: 0\n";
  ASSERT_TRUE(parseText(buf, std::string(base) + "Contact: *\nContent-Length: 0\n\n", m).ok());
  ASSERT_EQ(m.contacts().size(), 1u);
  EXPECT_TRUE(m.contacts()[0].star);
  ParseError e = parseText(buf, std::string(base) + "Contact: *, <sip:a@h>\nContent-Length: 0\n\n", m);
  EXPECT_EQ(e.kind, ParseErrorKind::BadHeaderValue);
  EXPECT_EQ(e.header, HeaderId::Contact);
}

TEST(Message, AuthorizationDigestParameters) {
  AuthValue a;
  ASSERT_EQ(parseAuth("Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                      "uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
                      "response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", "
                      "algorithm=SHA-256, userhash=false",
                      a),
            nullptr);
  EXPECT_TRUE(a.isDigest());
  EXPECT_EQ(a.username, "bob");
  EXPECT_EQ(a.realm, "biloxi.com");
  EXPECT_EQ(a.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
  EXPECT_EQ(a.uri, "sip:bob@biloxi.com");
  EXPECT_EQ(a.qop, "auth");
  EXPECT_EQ(a.nc, "00000001");
  EXPECT_EQ(a.cnonce, "0a4f113b");
  EXPECT_EQ(a.response, "6629fae49393a05397450978507c4ef1");
  EXPECT_EQ(a.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
  EXPECT_EQ(a.algorithm, "SHA-256");
  EXPECT_EQ(a.userhash, "false");
  EXPECT_EQ(a.param("CNONCE"), "0a4f113b");

  AuthValue c;
  ASSERT_EQ(parseAuth("Digest realm=\"atlanta.com\", domain=\"sip:boxesbybob.com\", qop=\"auth,auth-int\", "
                      "nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=MD5",
                      c),
            nullptr);
  EXPECT_EQ(c.qop, "auth,auth-int");  // the comma inside quotes does not split parameters
  EXPECT_EQ(c.domain, "sip:boxesbybob.com");
  EXPECT_EQ(c.opaque, "");
  EXPECT_EQ(c.stale, "FALSE");

  AuthValue bad;
  EXPECT_NE(parseAuth("Digest realm=\"unterminated", bad), nullptr);
  EXPECT_NE(parseAuth("Digest realm", bad), nullptr);
  EXPECT_NE(parseAuth("", bad), nullptr);
}

TEST(Message, OtherTypedHeaders) {
  MediaType mt;
  ASSERT_EQ(parseMediaType("multipart/mixed ; boundary=\"unique-boundary-1\"", mt), nullptr);
  EXPECT_EQ(mt.type, "multipart");
  EXPECT_EQ(mt.subtype, "mixed");
  EXPECT_EQ(mt.params.value("boundary"), "unique-boundary-1");
  EXPECT_NE(parseMediaType("text", mt), nullptr);

  TokenWithParams ev;
  ASSERT_EQ(parseEvent("presence.winfo;id=42", ev), nullptr);
  EXPECT_EQ(ev.value, "presence.winfo");
  EXPECT_EQ(ev.params.value("id"), "42");
  TokenWithParams ss;
  ASSERT_EQ(parseTokenWithParams("active;expires=600", ss), nullptr);
  EXPECT_EQ(ss.value, "active");
  EXPECT_EQ(ss.params.value("expires"), "600");

  EXPECT_EQ(parseTokenList("100rel, timer ,path"), nullptr);
  EXPECT_EQ(parseTokenList(""), nullptr);
  EXPECT_NE(parseTokenList("100rel,,timer"), nullptr);
  EXPECT_NE(parseTokenList("a b"), nullptr);

  std::int64_t t = 0;
  ASSERT_EQ(parseDate("Sat, 13 Nov 2010 23:29:00 GMT", t), nullptr);
  EXPECT_EQ(t, 1289690940);
  ASSERT_EQ(parseDate("Thu, 01 Jan 1970 00:00:00 GMT", t), nullptr);
  EXPECT_EQ(t, 0);
  EXPECT_NE(parseDate("Fri, 01 Jan 2010 16:00:00 EST", t), nullptr);
  EXPECT_NE(parseDate("Fri, 32 Jan 2010 16:00:00 GMT", t), nullptr);

  EXPECT_EQ(parseCallId("f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com"), nullptr);
  EXPECT_NE(parseCallId("a b"), nullptr);
  EXPECT_NE(parseCallId("a@"), nullptr);

  CSeq cs;
  EXPECT_EQ(parseCSeq("2147483647 REGISTER", cs), nullptr);
  EXPECT_NE(parseCSeq("2147483648 REGISTER", cs), nullptr);  // must be below 2^31
  EXPECT_NE(parseCSeq("-1 INVITE", cs), nullptr);
  EXPECT_NE(parseCSeq("1INVITE", cs), nullptr);
}

TEST(Message, EditsForAProxy) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf, kInvite, m).ok());

  ASSERT_EQ(m.pushVia("SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy1"), nullptr);
  EXPECT_EQ(m.topVia().host, "proxy.example.com");
  EXPECT_EQ(m.viaCount(), 2u);
  ASSERT_EQ(m.addRecordRoute("<sip:proxy.example.com;lr>"), nullptr);
  EXPECT_EQ(m.decrementMaxForwards(), 69u);
  EXPECT_EQ(m.maxForwards(), 69u);
  EXPECT_NE(m.pushVia("garbage"), nullptr);
  EXPECT_NE(m.addRecordRoute("sip:no-brackets.example.com"), nullptr);

  std::string wire = toWire(m);
  EXPECT_NE(wire.find("Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy1\r\n"
                      "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060"),
            std::string::npos)
      << wire;
  EXPECT_NE(wire.find("Record-Route: <sip:proxy.example.com;lr>\r\n"), std::string::npos);
  EXPECT_NE(wire.find("Max-Forwards: 69\r\n"), std::string::npos);

  Message again;
  ASSERT_TRUE(parseMessage(wire, again).ok()) << wire;
  EXPECT_EQ(again.topVia().branch, "z9hG4bKproxy1");
  EXPECT_EQ(again.maxForwards(), 69u);
  EXPECT_EQ(again.routeSet(HeaderId::RecordRoute).size(), 1u);
  EXPECT_EQ(again.body(), m.body());

  // The response path pops the proxy's own Via.
  ASSERT_TRUE(again.popVia());
  EXPECT_EQ(again.topVia().host, "pc33.atlanta.example.com");
  ASSERT_TRUE(again.popVia());
  EXPECT_FALSE(again.hasVia());
  EXPECT_FALSE(again.popVia());
}

TEST(Message, PopViaFromACommaList) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf,
                        "SIP/2.0 200 OK\n"
                        "Via: SIP/2.0/UDP p1;branch=z9hG4bK1, SIP/2.0/UDP p2;branch=z9hG4bK2\n"
                        "Via: SIP/2.0/UDP p3;branch=z9hG4bK3\n"
                        "From: <sip:a@d>;tag=1\nTo: <sip:b@d>;tag=2\nCall-ID: x\nCSeq: 1 BYE\nContent-Length: 0\n\n",
                        m)
                  .ok());
  ASSERT_TRUE(m.popVia());
  EXPECT_EQ(m.topVia().host, "p2");
  EXPECT_EQ(m.viaCount(), 2u);
  ASSERT_TRUE(m.popVia());
  EXPECT_EQ(m.topVia().host, "p3");
  EXPECT_EQ(toWire(m).find("p1"), std::string::npos);
}

TEST(Message, RouteHandling) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf,
                        "BYE sip:bob@192.0.2.4 SIP/2.0\n"
                        "Via: SIP/2.0/UDP h;branch=z9hG4bKb\n"
                        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n"
                        "From: <sip:a@d>;tag=1\nTo: <sip:b@d>;tag=2\nCall-ID: x\nCSeq: 2 BYE\nContent-Length: 0\n\n",
                        m)
                  .ok());
  std::vector<NameAddr> routes = m.routeSet(HeaderId::Route);
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_TRUE(routes[0].uri.param("lr").has_value());
  ASSERT_TRUE(m.popRoute());
  ASSERT_EQ(m.routeSet(HeaderId::Route).size(), 1u);
  EXPECT_EQ(m.routeSet(HeaderId::Route)[0].uri.host, "p2.example.com");
  ASSERT_TRUE(m.popRoute());
  EXPECT_EQ(m.find(HeaderId::Route), nullptr);
  EXPECT_FALSE(m.popRoute());
}

TEST(Message, ResponseBuiltFromRequest) {
  std::string buf;
  Message req;
  ASSERT_TRUE(parseText(buf, kInvite, req).ok());
  Message resp = Message::responseTo(req, 180, {}, "as9f8d7");
  EXPECT_TRUE(resp.isResponse());
  EXPECT_EQ(resp.statusCode(), 180);
  EXPECT_EQ(resp.reason(), "Ringing");
  EXPECT_EQ(resp.to().tag(), "as9f8d7");
  EXPECT_EQ(resp.from().tag(), "1928301774");
  EXPECT_EQ(resp.callId(), req.callId());
  EXPECT_EQ(resp.cseq().number, 314159u);
  EXPECT_EQ(resp.topVia().branch, "z9hG4bK776asdhds");
  EXPECT_EQ(resp.find(HeaderId::Contact), nullptr);
  EXPECT_NE(resp.setToTag("again"), nullptr);  // To already has a tag

  std::string wire = toWire(resp);
  EXPECT_EQ(wire.substr(0, 21), "SIP/2.0 180 Ringing\r\n");
  EXPECT_NE(wire.find("Content-Length: 0\r\n\r\n"), std::string::npos);
  Message parsed;
  ASSERT_TRUE(parseMessage(wire, parsed).ok()) << wire;
  EXPECT_EQ(parsed.to().tag(), "as9f8d7");
}

// Every field of the typed values, to compare a response's with a fresh parse of its own text.
std::string describe(const Uri& u) {
  return std::string(u.raw) + "|" + std::string(u.schemeText) + "|" + std::string(u.user) + "|" +
         std::string(u.password) + "|" + std::string(u.host) + "|" + std::to_string(u.port) + (u.hasPort ? "p" : "") +
         (u.hasUserInfo ? "u" : "") + "|" + std::string(u.params.text()) + "|" + std::string(u.headers) + "|" +
         std::string(u.opaque) + "|" + std::to_string(static_cast<int>(u.scheme)) +
         std::to_string(static_cast<int>(u.hostKind));
}
std::string describe(const NameAddr& a) {
  return std::string(a.raw) + "|" + std::string(a.displayName) + (a.displayQuoted ? "q" : "") +
         (a.angleBrackets ? "a" : "") + "|" + describe(a.uri) + "|" + std::string(a.params.text());
}
std::string describe(const Via& v) {
  auto opt = [](const std::optional<std::string_view>& o) { return o ? "=" + std::string(*o) : std::string("-"); };
  return std::string(v.raw) + "|" + std::string(v.protocolName) + "/" + std::string(v.protocolVersion) + "/" +
         std::string(v.transport) + "|" + std::string(v.host) + ":" + std::to_string(v.port) + (v.hasPort ? "p" : "") +
         std::to_string(static_cast<int>(v.hostKind)) + "|" + std::string(v.params.text()) + "|" + opt(v.branch) +
         opt(v.received) + opt(v.rport) + opt(v.maddr) + std::to_string(v.ttl);
}
std::string describeTyped(const Message& m) {
  return describe(m.topVia()) + "\n" + describe(m.from()) + "\n" + describe(m.to()) + "\n" + std::string(m.callId()) +
         "\n" + std::to_string(m.cseq().number) + " " + std::string(m.cseq().methodText) +
         std::to_string(static_cast<int>(m.cseq().method));
}

TEST(Message, AResponsesTypedValuesAreItsOwnOnceTheRequestIsGone) {
  // The response takes the request's parsed Via, From, To, Call-ID and CSeq over instead of
  // parsing its copies again: they must describe its own text, also after the request's bytes
  // are freed (AddressSanitizer reports any view left behind), and equal a fresh parse.
  const char* requests[] = {
      // compact forms, white space, several Vias in one header and in two
      "MESSAGE sip:bob@example.com SIP/2.0\r\n"
      "v:  SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKa;rport=5062;received=192.0.2.9 , SIP/2.0/TCP "
      "h2;branch=z9hG4bKb\r\n"
      "v: SIP/2.0/UDP h3;branch=z9hG4bKc\r\n"
      "f:   \"A \\\"q\\\" B\" <sip:alice:pw@[2001:db8::1]:5070;transport=tcp?h=v>;tag=ft;x\r\n"
      "t: sip:bob@example.com;user=phone\r\n"
      "i: c-1@192.0.2.1\r\nCSeq:  7   MESSAGE\r\nl: 0\r\n\r\n",
      // To with a tag already, a maddr and ttl, an extension method
      "FOO sips:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS [2001:db8::2]:5061;maddr=239.1.1.1;ttl=16;branch=z9hG4bKd\r\n"
      "From: <tel:+15551234;phone-context=example.com>;tag=t1\r\n"
      "To: Bob <sips:bob@example.com>;tag=tt\r\n"
      "Call-ID: x\r\nCSeq: 1 FOO\r\nContent-Length: 0\r\n\r\n",
  };
  for (const char* text : requests) {
    for (const char* tag : {"", "newtag"}) {
      Message resp;
      {
        auto bytes = std::make_unique<std::string>(text);
        auto req = std::make_unique<Message>();
        ASSERT_TRUE(parseMessage(*bytes, *req).ok()) << text;
        resp.assignResponseTo(*req, 200, {}, tag);
        std::fill(bytes->begin(), bytes->end(), '#');  // a view left in the request would read '#'
      }
      const std::string wire = toWire(resp);
      Message parsed;
      ASSERT_TRUE(parseMessage(wire, parsed).ok()) << wire;
      EXPECT_EQ(describeTyped(resp), describeTyped(parsed)) << text;
      EXPECT_EQ(describeTyped(resp).find('#'), std::string::npos) << describeTyped(resp);
      if (*tag != 0 && std::string(text).find(";tag=tt") == std::string::npos) {
        EXPECT_EQ(resp.to().tag(), tag);
      }
    }
  }
}

TEST(Message, OwnTextKeepsAParsedMessageWholeWhenItsBufferIsReused) {
  // A response handed to another worker: parsed from a read buffer that is reused at once, it
  // copies its text and moves every view (start line, headers, body, typed values) onto the
  // copy, without parsing again. Edits made before (in the arena) and after survive too.
  const char* texts[] = {
      "SIP/2.0 180 Ringing\r\n"
      "v:  SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKa;rport=5062;received=192.0.2.9 , SIP/2.0/TCP "
      "h2;branch=z9hG4bKb\r\n"
      "f:   \"A \\\"q\\\" B\" <sip:alice:pw@[2001:db8::1]:5070;transport=tcp?h=v>;tag=ft;x\r\n"
      "t: sip:bob@example.com;user=phone;tag=tt\r\n"
      "i: c-1@192.0.2.1\r\nCSeq:  7   INVITE\r\nContact: <sip:bob@192.0.2.2>\r\n"
      "Content-Type: application/sdp\r\nl: 4\r\n\r\nv=0\n",
      "INVITE sips:bob@example.com;transport=tls SIP/2.0\r\n"
      "Via: SIP/2.0/TLS [2001:db8::2]:5061;maddr=239.1.1.1;ttl=16;branch=z9hG4bKd\r\n"
      "From: <tel:+15551234;phone-context=example.com>;tag=t1\r\n"
      "To: Bob <sips:bob@example.com>\r\nMax-Forwards: 9\r\n"
      "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
  };
  for (const char* text : texts) {
    auto buffer = std::make_unique<std::string>(text);
    Message scratch;
    ASSERT_TRUE(parseMessage(*buffer, scratch).ok()) << text;
    ASSERT_FALSE(scratch.addHeader("X-Before", "in the arena"));
    const std::string expected = toWire(scratch);
    const std::string typed = describeTyped(scratch);
    auto moved = std::make_unique<Message>(std::move(scratch));
    moved->ownText();
    std::fill(buffer->begin(), buffer->end(), '#');  // a view left in the buffer would read '#'
    buffer.reset();                                  // and AddressSanitizer reports any read of it
    scratch.clear();
    EXPECT_EQ(toWire(*moved), expected);
    EXPECT_EQ(describeTyped(*moved), typed);
    EXPECT_EQ(describeTyped(*moved).find('#'), std::string::npos) << describeTyped(*moved);
    moved->ownText();  // again: now from its own copy
    EXPECT_EQ(toWire(*moved), expected);
    ASSERT_FALSE(moved->addHeader("X-After", "1"));
    EXPECT_NE(toWire(*moved).find("X-After: 1\r\n"), std::string::npos);
    // A built message (nothing parsed) has nothing to copy and stays as it is.
    Message built = Message::request("OPTIONS", "sip:example.com");
    built.ownText();
    EXPECT_EQ(built.requestUri().host, "example.com");
  }
}

TEST(Message, ResponseAssignedOverAReusedMessage) {
  std::string buf;
  Message req;
  ASSERT_TRUE(parseText(buf, kInvite, req).ok());
  Message resp;
  resp.assignResponseTo(req, 180, {}, "first");
  resp.addHeader("Contact", "<sip:a@example.com>");
  // Used again (storage reused): nothing of the first response is left.
  resp.assignResponseTo(req, 200, "Fine", "second");
  EXPECT_EQ(resp.statusCode(), 200);
  EXPECT_EQ(resp.reason(), "Fine");
  EXPECT_EQ(resp.to().tag(), "second");
  EXPECT_EQ(resp.find(HeaderId::Contact), nullptr);
  EXPECT_EQ(toWire(resp), toWire(Message::responseTo(req, 200, "Fine", "second")));

  // A To that has a tag keeps it; every Via is copied, the first one is the typed top Via.
  Message tagged;
  ASSERT_TRUE(parseMessage("BYE sip:b@example.com SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKtop\r\n"
                           "Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bKua;rport=5062\r\n"
                           "From: <sip:a@example.com>;tag=aa\r\nTo: <sip:b@example.com>;tag=bb\r\n"
                           "Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
                           tagged)
                  .ok());
  resp.assignResponseTo(tagged, 200, {}, "ignored");
  EXPECT_EQ(resp.to().tag(), "bb");
  EXPECT_EQ(resp.count(HeaderId::Via), 2u);
  EXPECT_EQ(resp.topVia().branch, "z9hG4bKtop");
  EXPECT_EQ(resp.cseq().number, 2u);
  const std::string wire = toWire(resp);  // the parsed message views it
  Message parsed;
  ASSERT_TRUE(parseMessage(wire, parsed).ok());
  EXPECT_EQ(parsed.to().tag(), "bb");
  EXPECT_EQ(parsed.viaCount(), 2u);
}

TEST(Message, BuiltRequestWithBody) {
  Message m = Message::request("MESSAGE", "sip:user2@domain.com");
  ASSERT_EQ(m.addHeader("Via", "SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse"), nullptr);
  ASSERT_EQ(m.addHeader("Max-Forwards", "70"), nullptr);
  ASSERT_EQ(m.addHeader("From", "sip:user1@domain.com;tag=49583"), nullptr);
  ASSERT_EQ(m.addHeader("To", "sip:user2@domain.com"), nullptr);
  ASSERT_EQ(m.addHeader("Call-ID", "asd88asd77a@1.2.3.4"), nullptr);
  ASSERT_EQ(m.addHeader("CSeq", "1 MESSAGE"), nullptr);
  m.setBody("user2, come here.", "text/plain");
  EXPECT_EQ(m.contentLength(), 17u);
  std::string wire = toWire(m);
  EXPECT_EQ(wire,
            "MESSAGE sip:user2@domain.com SIP/2.0\r\n"
            "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse\r\n"
            "Max-Forwards: 70\r\n"
            "From: sip:user1@domain.com;tag=49583\r\n"
            "To: sip:user2@domain.com\r\n"
            "Call-ID: asd88asd77a@1.2.3.4\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Content-Length: 17\r\n"
            "Content-Type: text/plain\r\n"
            "\r\n"
            "user2, come here.");
  // Replacing the body keeps Content-Length true.
  m.setBody("bye");
  Message parsed;
  std::string wire2 = toWire(m);
  ASSERT_TRUE(parseMessage(wire2, parsed, {}, Framing::Stream).ok()) << wire2;
  EXPECT_EQ(parsed.body(), "bye");
  EXPECT_EQ(parsed.contentLength(), 3u);
  EXPECT_EQ(m.removeHeader(HeaderId::ContentType), 1u);
  EXPECT_EQ(m.find(HeaderId::ContentType), nullptr);
}

TEST(Message, ParseSerializeParseIsStable) {
  std::string buf;
  Message m;
  ASSERT_TRUE(parseText(buf, kInvite, m).ok());
  std::string first = toWire(m);
  Message m2;
  ASSERT_TRUE(parseMessage(first, m2).ok());
  EXPECT_EQ(toWire(m2), first);
  ASSERT_EQ(m2.headers().size(), m.headers().size());
  for (std::size_t i = 0; i < m.headers().size(); ++i) {
    EXPECT_EQ(m2.headers()[i].id, m.headers()[i].id);
    EXPECT_EQ(m2.headers()[i].name, m.headers()[i].name);
    EXPECT_EQ(m2.headers()[i].value, m.headers()[i].value);
  }
}

TEST(Message, OwnedCopyOutlivesTheBuffer) {
  Message m;
  {
    std::string temp = crlf(kInvite);
    ASSERT_TRUE(parseMessage(m.adoptCopy(temp), m).ok());
    temp.assign(temp.size(), 'X');  // scribble over the original
  }
  EXPECT_EQ(m.callId(), "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(m.topVia().branch, "z9hG4bK776asdhds");
}

TEST(Message, ViewOfSharesTheTextAndKeepsEditsApart) {
  std::string storage;
  Message base;
  ASSERT_TRUE(parseText(storage, kInvite, base).ok());
  base.decrementMaxForwards();
  std::string baseBytes;
  serialize(base, baseBytes);

  Message a;
  Message b;
  a.viewOf(base);
  b.viewOf(base);
  std::string copy;
  serialize(a, copy);
  EXPECT_EQ(copy, baseBytes);                          // the same message, edits of base included
  EXPECT_EQ(a.callId().data(), base.callId().data());  // shared, not copied
  EXPECT_EQ(a.method(), Method::Invite);
  EXPECT_EQ(a.cseq().number, 314159u);
  EXPECT_EQ(a.maxForwards(), 69u);
  EXPECT_EQ(a.from().tag(), "1928301774");
  EXPECT_EQ(a.body(), "v=0\r");  // Content-Length: 4

  // Each copy is edited as a proxy edits a branch; neither the base nor the other copy changes.
  a.setRequestUri("sip:bob@192.0.2.1:5070");
  ASSERT_EQ(a.pushVia("SIP/2.0/UDP proxy.example.com;branch=z9hG4bKa1"), nullptr);
  ASSERT_EQ(a.addRecordRoute("<sip:proxy.example.com;lr>"), nullptr);
  ASSERT_EQ(a.addHeader("Route", "<sip:edge.example.com;lr>"), nullptr);
  ASSERT_EQ(b.pushVia("SIP/2.0/TCP proxy.example.com;branch=z9hG4bKb2"), nullptr);

  EXPECT_EQ(a.requestUriText(), "sip:bob@192.0.2.1:5070");
  EXPECT_EQ(a.topVia().branch, "z9hG4bKa1");
  EXPECT_EQ(a.viaCount(), 2u);
  EXPECT_EQ(b.requestUriText(), "sip:bob@biloxi.example.com");
  EXPECT_EQ(b.topVia().branch, "z9hG4bKb2");
  EXPECT_EQ(b.count(HeaderId::RecordRoute), 0u);
  EXPECT_EQ(base.topVia().branch, "z9hG4bK776asdhds");
  EXPECT_EQ(base.viaCount(), 1u);
  std::string after;
  serialize(base, after);
  EXPECT_EQ(after, baseBytes);

  // What goes on the wire parses back to the edited message.
  std::string wire;
  serialize(a, wire);
  Message back;
  ASSERT_TRUE(parseMessage(wire, back).ok()) << wire;
  EXPECT_EQ(back.requestUriText(), "sip:bob@192.0.2.1:5070");
  EXPECT_EQ(back.topVia().branch, "z9hG4bKa1");
  EXPECT_EQ(back.routeSet(HeaderId::Route).size(), 1u);
  EXPECT_EQ(back.routeSet(HeaderId::RecordRoute).size(), 1u);
  EXPECT_EQ(back.maxForwards(), 69u);
  EXPECT_EQ(back.body(), "v=0\r");

  // A message that owned bytes drops them for the view; it stays usable after a move.
  Message c;
  std::string other = crlf(kInvite);
  ASSERT_TRUE(parseMessage(c.adoptCopy(other), c).ok());
  c.viewOf(base);
  Message moved = std::move(a);
  EXPECT_EQ(moved.topVia().branch, "z9hG4bKa1");
  EXPECT_EQ(c.callId().data(), base.callId().data());
}

struct BadCase {
  const char* name;
  std::string text;
  ParseErrorKind kind;
  int status;
  HeaderId header;
  const char* reasonContains;
};

std::string withHeaders(std::string_view startLine, std::string_view extra, bool skip = false) {
  std::string s(startLine);
  s += "\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bKx\nFrom: <sip:a@d>;tag=1\nTo: <sip:b@d>\n"
       "Call-ID: c1\n";
  if (!skip) s += "CSeq: 1 OPTIONS\n";
  s += extra;
  s += "Content-Length: 0\n\n";
  return s;
}

TEST(Message, BadInputGetsTheRightAnswer) {
  const BadCase cases[] = {
      {"bad Via", withHeaders("OPTIONS sip:b@d SIP/2.0", "Via: SIP/2.0/UDP\n"), ParseErrorKind::BadHeaderValue, 400,
       HeaderId::Via, "Bad Via"},
      {"bad From",
       "OPTIONS sip:b@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@d;tag=1\n"
       "To: <sip:b@d>\nCall-ID: c\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
       ParseErrorKind::BadHeaderValue, 400, HeaderId::From, "Bad From"},
      {"Max-Forwards over 255", withHeaders("OPTIONS sip:b@d SIP/2.0", "Max-Forwards: 256\n"),
       ParseErrorKind::BadHeaderValue, 400, HeaderId::MaxForwards, "Bad Max-Forwards"},
      {"negative Content-Length",
       "OPTIONS sip:b@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@d>;tag=1\n"
       "To: <sip:b@d>\nCall-ID: c\nCSeq: 1 OPTIONS\nContent-Length: -1\n\n",
       ParseErrorKind::BadContentLength, 400, HeaderId::ContentLength, "Content-Length"},
      {"missing Call-ID",
       "OPTIONS sip:b@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@d>;tag=1\n"
       "To: <sip:b@d>\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
       ParseErrorKind::MissingHeader, 400, HeaderId::CallId, "Missing Call-ID"},
      {"unknown scheme", withHeaders("OPTIONS im:b@d SIP/2.0", ""), ParseErrorKind::UnsupportedScheme, 416,
       HeaderId::Unknown, "Unsupported URI Scheme"},
      {"SIP/3.0", withHeaders("OPTIONS sip:b@d SIP/3.0", ""), ParseErrorKind::BadVersion, 505, HeaderId::Unknown,
       "Version Not Supported"},
      {"malformed version", withHeaders("OPTIONS sip:b@d HTTP/1.1", ""), ParseErrorKind::BadStartLine, 400,
       HeaderId::Unknown, "Request-Line"},
      {"lower-case method is an extension whose CSeq must match", withHeaders("options sip:b@d SIP/2.0", ""),
       ParseErrorKind::UnknownMethodMismatch, 501, HeaderId::CSeq, "Not Implemented"},
      {"header without colon", withHeaders("OPTIONS sip:b@d SIP/2.0", "Bogus header line\n"),
       ParseErrorKind::BadHeaderLine, 400, HeaderId::Unknown, "Malformed Header Line"},
      {"fold before any header", "OPTIONS sip:b@d SIP/2.0\n folded\nContent-Length: 0\n\n",
       ParseErrorKind::BadHeaderLine, 400, HeaderId::Unknown, "continuation"},
      {"Require list with an empty element", withHeaders("OPTIONS sip:b@d SIP/2.0", "Require: 100rel,,timer\n"),
       ParseErrorKind::BadHeaderValue, 400, HeaderId::Require, "Bad Require"},
      {"Route without <>", withHeaders("OPTIONS sip:b@d SIP/2.0", "Route: sip:p.example.com;lr\n"),
       ParseErrorKind::BadHeaderValue, 400, HeaderId::Route, "Bad Route"},
      {"bad status code", "SIP/2.0 20 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nContent-Length: 0\n\n",
       ParseErrorKind::BadStartLine, 400, HeaderId::Unknown, "three digits"},
      {"status out of range", "SIP/2.0 700 Odd\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nContent-Length: 0\n\n",
       ParseErrorKind::BadStartLine, 400, HeaderId::Unknown, "range"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::string buf = crlf(c.text);
    Message m;
    ParseError e = parseMessage(buf, m);
    EXPECT_EQ(e.kind, c.kind);
    EXPECT_EQ(e.status(), c.status);
    EXPECT_EQ(e.header, c.header);
    EXPECT_NE(e.reasonPhrase().find(c.reasonContains), std::string::npos) << e.reasonPhrase();
  }
}

TEST(Message, BareLineFeedsAreRejected) {
  std::string text = "OPTIONS sip:b@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\n\n";
  Message m;
  ParseError e = parseMessage(text, m);
  EXPECT_EQ(e.kind, ParseErrorKind::BadStartLine);
  EXPECT_EQ(e.status(), 400);
}

TEST(Message, LimitsAreEnforced) {
  Limits small;
  small.maxMessageSize = 200;
  small.maxHeaders = 8;
  small.maxLineLength = 64;
  std::string buf;
  Message m;

  std::string big = withHeaders("MESSAGE sip:b@d SIP/2.0", "") + std::string(300, 'x');
  EXPECT_EQ(parseText(buf, big, m, small).kind, ParseErrorKind::TooLarge);
  EXPECT_EQ(parseText(buf, big, m, small).status(), 413);

  Limits manyHeaders;
  manyHeaders.maxHeaders = 8;
  std::string many = withHeaders("OPTIONS sip:b@d SIP/2.0", "A: 1\nB: 2\nC: 3\nD: 4\n");
  EXPECT_EQ(parseText(buf, many, m, manyHeaders).kind, ParseErrorKind::TooManyHeaders);

  Limits shortLines;
  shortLines.maxLineLength = 64;
  std::string longLine = withHeaders("OPTIONS sip:b@d SIP/2.0", "X-Long: " + std::string(100, 'y') + "\n");
  EXPECT_EQ(parseText(buf, longLine, m, shortLines).kind, ParseErrorKind::LineTooLong);
}

TEST(Message, DatagramBodyRules) {
  std::string buf;
  Message m;
  // No Content-Length over UDP: the body runs to the end of the datagram (RFC 3261 §18.3).
  std::string noLength =
      "MESSAGE sip:b@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@d>;tag=1\n"
      "To: <sip:b@d>\nCall-ID: c\nCSeq: 1 MESSAGE\n\nhello";
  ASSERT_TRUE(parseText(buf, noLength, m).ok());
  EXPECT_EQ(m.body(), "hello");
  // Octets beyond Content-Length are discarded.
  std::string extra =
      "MESSAGE sip:b@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@d>;tag=1\n"
      "To: <sip:b@d>\nCall-ID: c\nCSeq: 1 MESSAGE\nContent-Length: 2\n\nhello";
  ASSERT_TRUE(parseText(buf, extra, m).ok());
  EXPECT_EQ(m.body(), "he");
  // Content-Length larger than the datagram: 400.
  std::string shortBody =
      "MESSAGE sip:b@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@d>;tag=1\n"
      "To: <sip:b@d>\nCall-ID: c\nCSeq: 1 MESSAGE\nContent-Length: 50\n\nhello";
  ParseError e = parseText(buf, shortBody, m);
  EXPECT_EQ(e.kind, ParseErrorKind::BadContentLength);
  EXPECT_EQ(e.status(), 400);
  EXPECT_TRUE(m.canBuildResponse());  // the answer can still be routed back
  // Over a stream, Content-Length is mandatory.
  std::string buf2 = crlf(noLength);
  EXPECT_EQ(parseMessage(buf2, m, {}, Framing::Stream).kind, ParseErrorKind::BadContentLength);
}

TEST(Message, ReasonPhraseCannotInjectLines) {
  ParseError e;
  e.kind = ParseErrorKind::BadHeaderValue;
  e.headerName = "X\r\nEvil";
  e.detail = "oops";
  std::string r = e.reasonPhrase();
  EXPECT_EQ(r.find('\r'), std::string::npos);
  EXPECT_EQ(r.find('\n'), std::string::npos);
}

TEST(Message, MethodNamesAreCaseSensitive) {
  EXPECT_EQ(methodFromName("INVITE"), Method::Invite);
  EXPECT_EQ(methodFromName("invite"), Method::Extension);
  EXPECT_EQ(methodFromName("SUBSCRIBE"), Method::Subscribe);
  EXPECT_EQ(methodName(Method::Prack), "PRACK");
  EXPECT_EQ(reasonPhrase(423), "Interval Too Brief");
  EXPECT_EQ(reasonPhrase(799), "");
}

}  // namespace
}  // namespace sipwarden::sip
