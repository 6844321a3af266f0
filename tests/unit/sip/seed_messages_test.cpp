// The messages of the project's seed document (../shared/seeds/001_…: the SIP primer): the
// MESSAGE pager flow (steps 1-4) and the REGISTER exchanges with and without digest. The
// fixtures in examples/seed/ are the seed's text with CRLF line ends and without the blank line
// the blog's layout put after each start line.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::sip {
namespace {

struct Fixture {
  std::string bytes;
  Message msg;
};

void load(const char* name, Fixture& f) {
  std::string path = std::string(SIPWARDEN_SEED_DIR) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  f.bytes = ss.str();
  ParseError e = parseMessage(f.bytes, f.msg);
  ASSERT_TRUE(e.ok()) << name << ": " << e.reasonPhrase();
  // Every seed message also survives a serialize/parse round trip unchanged.
  std::string wire = toWire(f.msg);
  Message again;
  ASSERT_TRUE(parseMessage(wire, again).ok()) << wire;
  EXPECT_EQ(toWire(again), wire);
}

TEST(SeedPagerModel, Step1MessageFromUser1) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(load("message_step1_user1_to_proxy.sip", f));
  const Message& m = f.msg;
  EXPECT_EQ(m.method(), Method::Message);
  EXPECT_EQ(m.requestUriText(), "sip:user2@domain.com");
  EXPECT_EQ(m.viaCount(), 1u);
  EXPECT_EQ(m.topVia().transport, "TCP");
  EXPECT_EQ(m.topVia().host, "user1pc.domain.com");
  EXPECT_EQ(m.topVia().branch, "z9hG4bK776sgdkse");
  EXPECT_EQ(m.maxForwards(), 70u);
  EXPECT_EQ(m.from().uri.raw, "sip:user1@domain.com");
  EXPECT_FALSE(m.from().angleBrackets);
  EXPECT_EQ(m.from().tag(), "49583");
  EXPECT_EQ(m.to().uri.user, "user2");
  EXPECT_FALSE(m.to().tag().has_value());
  EXPECT_EQ(m.callId(), "asd88asd77a@1.2.3.4");
  EXPECT_EQ(m.cseq().number, 1u);
  EXPECT_EQ(m.cseq().method, Method::Message);
  EXPECT_EQ(m.header("Content-Type"), "text/plain");
  EXPECT_EQ(m.contentLength(), 18u);
  EXPECT_EQ(m.body(), "user2, come here.\n");
}

TEST(SeedPagerModel, Step2ProxyForwardsWithItsVia) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(load("message_step2_proxy_to_user2.sip", f));
  const Message& m = f.msg;
  std::vector<Via> vias = m.vias();
  ASSERT_EQ(vias.size(), 2u);
  EXPECT_EQ(vias[0].host, "proxy.domain.com");
  EXPECT_EQ(vias[0].branch, "z9hG4bK123dsghds");
  EXPECT_EQ(vias[1].host, "user1pc.domain.com");
  EXPECT_EQ(vias[1].received, "1.2.3.4");
  EXPECT_EQ(m.maxForwards(), 69u);  // decremented by the proxy
  EXPECT_EQ(m.from().tag(), "49394");
  EXPECT_EQ(m.body(), "user2, come here.\n");
}

// Step 1 -> step 2 done with the edit API: push the proxy's Via, decrement Max-Forwards, record
// the client's address in received (RFC 3261 §18.2.1).
TEST(SeedPagerModel, ProxyEditsTurnStep1IntoStep2Shape) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(load("message_step1_user1_to_proxy.sip", f));
  Message& m = f.msg;
  ASSERT_EQ(m.setHeader(HeaderId::Via, "SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse;received=1.2.3.4"),
            nullptr);
  ASSERT_EQ(m.pushVia("SIP/2.0/TCP proxy.domain.com;branch=z9hG4bK123dsghds"), nullptr);
  EXPECT_EQ(m.decrementMaxForwards(), 69u);
  std::string wire = toWire(m);
  EXPECT_NE(wire.find("Via: SIP/2.0/TCP proxy.domain.com;branch=z9hG4bK123dsghds\r\n"
                      "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse;received=1.2.3.4\r\n"
                      "Max-Forwards: 69\r\n"),
            std::string::npos)
      << wire;
}

TEST(SeedPagerModel, Step3And4The200OkGoesBack) {
  Fixture f3;
  Fixture f4;
  ASSERT_NO_FATAL_FAILURE(load("message_step3_user2_200.sip", f3));
  ASSERT_NO_FATAL_FAILURE(load("message_step4_proxy_200.sip", f4));
  EXPECT_EQ(f3.msg.statusCode(), 200);
  EXPECT_EQ(f3.msg.reason(), "OK");
  EXPECT_EQ(f3.msg.viaCount(), 2u);
  EXPECT_EQ(f3.msg.topVia().received, "192.0.2.1");
  EXPECT_EQ(f3.msg.to().tag(), "ab8asdasd9");
  EXPECT_EQ(f3.msg.find(HeaderId::Contact), nullptr);  // "no body, no Contact"
  EXPECT_TRUE(f3.msg.body().empty());
  // The proxy removes its own (top) Via: step 3 becomes step 4.
  ASSERT_TRUE(f3.msg.popVia());
  EXPECT_EQ(toWire(f3.msg), toWire(f4.msg));
  EXPECT_EQ(f4.msg.viaCount(), 1u);
  EXPECT_EQ(f4.msg.cseq().method, Method::Message);
}

// The seed prints steps 3 and 4 with ";;" (an empty parameter) in Via and From. That is not
// valid SIP (RFC 4475 §3.1.2.1 treats the same thing as malformed), so the verbatim text gets a
// 400 that names the header; the fixtures above carry the evident intent.
TEST(SeedPagerModel, VerbatimDoubleSemicolonsAreRejectedNamingTheHeader) {
  std::string step3 =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/TCP proxy.domain.com;branch=z9hG4bK123dsghds;received=192.0.2.1\r\n"
      "Via: SIP/2.0/TCP user1pc.domain.com;;branch=z9hG4bK776sgdkse;received=1.2.3.4\r\n"
      "From: sip:user1@domain.com;tag=49394\r\n"
      "To: sip:user2@domain.com;tag=ab8asdasd9\r\n"
      "Call-ID: asd88asd77a@1.2.3.4\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
  Message m;
  ParseError e = parseMessage(step3, m);
  EXPECT_EQ(e.status(), 400);
  EXPECT_EQ(e.header, HeaderId::Via);
  EXPECT_EQ(e.reasonPhrase(), "Bad Via: empty parameter");

  std::string step4 =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse;received=1.2.3.4\r\n"
      "From: sip:user1@domain.com;;tag=49394\r\n"
      "To: sip:user2@domain.com;tag=ab8asdasd9\r\n"
      "Call-ID: asd88asd77a@1.2.3.4\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
  e = parseMessage(step4, m);
  EXPECT_EQ(e.header, HeaderId::From);
  EXPECT_EQ(e.reasonPhrase(), "Bad From: empty parameter");
}

TEST(SeedRegister, UnauthenticatedRegisterAnd200) {
  Fixture req;
  Fixture ok;
  ASSERT_NO_FATAL_FAILURE(load("register_noauth_request.sip", req));
  ASSERT_NO_FATAL_FAILURE(load("register_noauth_200.sip", ok));
  const Message& r = req.msg;
  EXPECT_EQ(r.method(), Method::Register);
  EXPECT_EQ(r.requestUri().host, "192.168.2.89");
  EXPECT_EQ(r.requestUri().hostKind, HostKind::IPv4);
  EXPECT_EQ(r.topVia().host, "192.168.2.161");
  EXPECT_EQ(r.topVia().port, 10586);
  EXPECT_FALSE(r.topVia().branch.has_value());  // RFC 2543-style: matched per §17.2.3
  EXPECT_EQ(r.from().uri.user, "01062237496");
  EXPECT_EQ(r.from().tag(), "ca04c1391af3429491f2c4dfbe5e1b2e");
  EXPECT_EQ(r.from().param("epid"), "4f2e395931");
  std::vector<Contact> contacts = r.contacts();
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0].address.uri.host, "192.168.2.161");
  EXPECT_EQ(contacts[0].address.uri.port, 10586);
  EXPECT_FALSE(contacts[0].address.uri.hasUserInfo);
  EXPECT_EQ(contacts[0].address.param("methods"),
            "INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER");
  EXPECT_EQ(r.header("User-Agent"), "RTC/1.2.4949 (BOL SIP Phone 1005)");
  EXPECT_EQ(r.header("Event"), "registration");
  EXPECT_EQ(r.header("Allow-Events"), "presence");

  const Message& o = ok.msg;
  EXPECT_EQ(o.statusCode(), 200);
  EXPECT_EQ(o.to().tag(), "-00834-14d0805b62bc026d");
  EXPECT_EQ(o.expires(), 3600u);
  ASSERT_EQ(o.contacts().size(), 1u);
  EXPECT_EQ(o.contacts()[0].address.uri.raw, "sip:192.168.2.161:10586");
  std::vector<std::string_view> allow;
  o.forEachValue(HeaderId::Allow, [&](std::string_view v) {
    allow.push_back(v);
    return true;
  });
  ASSERT_EQ(allow.size(), 13u);
  EXPECT_EQ(allow.front(), "INVITE");
  EXPECT_EQ(allow.back(), "MESSAGE");
}

TEST(SeedRegister, DigestChallengeAndCredentials) {
  Fixture s1, s2, s3, s4;
  ASSERT_NO_FATAL_FAILURE(load("register_auth_step1_request.sip", s1));
  ASSERT_NO_FATAL_FAILURE(load("register_auth_step2_401.sip", s2));
  ASSERT_NO_FATAL_FAILURE(load("register_auth_step3_request.sip", s3));
  ASSERT_NO_FATAL_FAILURE(load("register_auth_step4_200.sip", s4));

  EXPECT_EQ(s1.msg.cseq().number, 1u);
  EXPECT_EQ(s2.msg.statusCode(), 401);
  EXPECT_EQ(s2.msg.reason(), "Unauthorized");
  AuthValue challenge;
  ASSERT_EQ(parseAuth(*s2.msg.header("WWW-Authenticate"), challenge), nullptr);
  EXPECT_TRUE(challenge.isDigest());
  EXPECT_EQ(challenge.realm, "192.168.2.89");
  EXPECT_EQ(challenge.qop, "auth");
  EXPECT_EQ(challenge.nonce, "e17d377c3d2d9c343e26576a7fd04738481dfc10");
  EXPECT_EQ(challenge.opaque, "");
  EXPECT_EQ(challenge.stale, "FALSE");
  EXPECT_EQ(challenge.algorithm, "MD5");

  EXPECT_EQ(s3.msg.cseq().number, 2u);
  EXPECT_EQ(s3.msg.callId(), s1.msg.callId());
  AuthValue cred;
  ASSERT_EQ(parseAuth(*s3.msg.header("Authorization"), cred), nullptr);
  EXPECT_EQ(cred.username, "01062237493");
  EXPECT_EQ(cred.realm, "192.168.2.89");
  EXPECT_EQ(cred.qop, "auth");
  EXPECT_EQ(cred.algorithm, "MD5");
  EXPECT_EQ(cred.uri, "sip:192.168.2.89");
  EXPECT_EQ(cred.nonce, challenge.nonce);
  EXPECT_EQ(cred.nc, "00000001");
  EXPECT_EQ(cred.cnonce, "12660455546344082314666316435946");
  EXPECT_EQ(cred.response, "f57e47ce03162293b9ced07362ce2b79");

  EXPECT_EQ(s4.msg.statusCode(), 200);
  EXPECT_EQ(s4.msg.cseq().number, 2u);
  EXPECT_EQ(s4.msg.to().tag(), "-001894-a5eb977c8969aa51");
  EXPECT_EQ(s4.msg.expires(), 3600u);
}

TEST(SeedRegister, FreeSwitchChallenge) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(load("freeswitch_401.sip", f));
  const Message& m = f.msg;
  EXPECT_EQ(m.statusCode(), 401);
  EXPECT_EQ(m.topVia().branch, "z9hG4bK-524287-1---e4fb8a53caa2f313");
  EXPECT_EQ(m.topVia().rport, "50024");
  EXPECT_EQ(m.from().displayName, "1015");  // "1015"<sip:...> with no space before '<'
  EXPECT_EQ(m.from().uri.host, "www.freeswitch.com");
  EXPECT_EQ(m.to().tag(), "pjeF9m9c63Nym");
  AuthValue c;
  ASSERT_EQ(parseAuth(*m.header("WWW-Authenticate"), c), nullptr);
  EXPECT_EQ(c.realm, "www.freeswitch.com");
  EXPECT_EQ(c.nonce, "3135ef65-3466-4f70-8035-ec70ff10ae75");
  EXPECT_EQ(c.algorithm, "MD5");
  EXPECT_EQ(c.qop, "auth");
  std::vector<std::string_view> supported;
  m.forEachValue(HeaderId::Supported, [&](std::string_view v) {
    supported.push_back(v);
    return true;
  });
  EXPECT_EQ(supported, (std::vector<std::string_view>{"precondition", "100rel", "timer", "path", "replaces"}));
}

}  // namespace
}  // namespace sipwarden::sip
