// URI parsing, escaping and comparison (RFC 3261 §19.1, §19.1.4; RFC 3966 for tel).
#include "sip/uri.hpp"

#include <gtest/gtest.h>

#include "sip/chars.hpp"

namespace sipwarden::sip {
namespace {

Uri parsed(std::string_view text) {
  Uri u;
  Why w = parseUri(text, u);
  EXPECT_EQ(w, nullptr) << text << ": " << (w ? w : "");
  return u;
}

bool equal(std::string_view a, std::string_view b) { return uriEquals(parsed(a), parsed(b)); }

TEST(Uri, SipComponents) {
  Uri u =
      parsed("sips:alice:secret@[2001:db8::10]:5061;transport=tcp;lr;maddr=239.255.255.1?subject=hi&priority=urgent");
  EXPECT_EQ(u.scheme, UriScheme::Sips);
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "secret");
  EXPECT_EQ(u.host, "[2001:db8::10]");
  EXPECT_EQ(u.hostBare(), "2001:db8::10");
  EXPECT_EQ(u.hostKind, HostKind::IPv6);
  EXPECT_TRUE(u.hasPort);
  EXPECT_EQ(u.port, 5061);
  EXPECT_EQ(u.param("transport"), "tcp");
  EXPECT_EQ(u.param("LR"), "");  // present without value; names compare case-insensitively
  EXPECT_EQ(u.param("maddr"), "239.255.255.1");
  EXPECT_FALSE(u.param("ttl").has_value());
  EXPECT_EQ(u.params.size(), 3u);
  EXPECT_EQ(u.headers, "subject=hi&priority=urgent");
}

TEST(Uri, HostKinds) {
  EXPECT_EQ(parsed("sip:192.0.2.4").hostKind, HostKind::IPv4);
  EXPECT_EQ(parsed("sip:example.com").hostKind, HostKind::Name);
  EXPECT_EQ(parsed("sip:example.com.").hostKind, HostKind::Name);  // trailing dot allowed
  EXPECT_EQ(parsed("sip:[::1]:5060").hostKind, HostKind::IPv6);
  EXPECT_FALSE(parsed("sip:bob@example.com").hasPort);
}

TEST(Uri, UserWithReservedCharacters) {
  // user-unreserved allows ';' '?' '/' in the user part (RFC 4475 §3.1.1.9 semiuri).
  Uri u = parsed("sip:user;par=u%40example.net@example.com");
  EXPECT_EQ(u.user, "user;par=u%40example.net");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_TRUE(u.params.empty());
  EXPECT_EQ(u.userUnescaped(), "user;par=u@example.net");
}

TEST(Uri, Unescaping) {
  EXPECT_EQ(unescape("sip%3Auser%40example.com"), "sip:user@example.com");
  EXPECT_EQ(unescape("%41%62c"), "Abc");
  EXPECT_EQ(unescape("100%"), "100%");  // not an escape: copied literally
  std::string withNul = unescape("a%00b");
  EXPECT_EQ(withNul, std::string("a\0b", 3));
  EXPECT_EQ(parsed("sip:%61lice@atlanta.com").userUnescaped(), "alice");
}

TEST(Uri, Escaping) {
  EXPECT_EQ(escape("alice smith@x", chars::kUnreserved), "alice%20smith%40x");
  EXPECT_EQ(escape("a-b_c.d", chars::kUnreserved), "a-b_c.d");
  EXPECT_EQ(unescape(escape("\x01\xff;?", chars::kUnreserved)), "\x01\xff;?");
}

TEST(Uri, TelUri) {
  Uri u = parsed("tel:+1-201-555-0123;ext=1234");
  EXPECT_EQ(u.scheme, UriScheme::Tel);
  EXPECT_EQ(u.user, "+1-201-555-0123");
  EXPECT_EQ(u.param("ext"), "1234");
  Uri local = parsed("tel:7042;phone-context=example.com");
  EXPECT_EQ(local.user, "7042");
  EXPECT_EQ(local.param("phone-context"), "example.com");
}

TEST(Uri, OtherSchemesAreAbsoluteUris) {
  Uri u = parsed("soap.beep://192.0.2.103:3002");
  EXPECT_EQ(u.scheme, UriScheme::Other);
  EXPECT_EQ(u.schemeText, "soap.beep");
  EXPECT_EQ(parsed("isbn:2983792873").scheme, UriScheme::Other);
  EXPECT_EQ(parsed("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6").scheme, UriScheme::Other);
}

TEST(Uri, RejectsMalformed) {
  const char* bad[] = {
      "sip:",                           // no host
      "sip:alice@",                     // no host after userinfo
      "sip:alice@exa mple.com",         // space
      "sip:alice@example.com:99999",    // port out of range
      "sip:alice@example.com:",         // empty port
      "sip:alice@[::1",                 // unterminated IPv6 reference
      "sip:alice@[zz::1]",              // not an IPv6 address
      "sip:alice@-example.com",         // label starts with '-'
      "sip:alice@example.123",          // toplabel must start with a letter
      "sip:al%zzice@example.com",       // bad escape
      "sip:alice@example.com;",         // empty parameter
      "sip:alice@example.com;=x",       // empty parameter name
      "sip:alice@example.com?",         // empty headers
      "sip:alice@example.com?subject",  // header without '='
      "<sip:alice@example.com>",        // brackets are not part of a URI
      "1sip:alice@example.com",         // scheme must start with a letter
      "nocolon",
      "tel:",
      "tel:+",      // no digits
      "tel:+12a4",  // hex digit in a global number
  };
  for (const char* text : bad) {
    Uri u;
    EXPECT_NE(parseUri(text, u), nullptr) << text;
  }
}

// RFC 3261 §19.1.4: the equivalent pairs listed in the RFC.
TEST(UriCompare, Rfc3261EquivalentExamples) {
  EXPECT_TRUE(equal("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
  EXPECT_TRUE(equal("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
  EXPECT_TRUE(equal("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
  EXPECT_TRUE(equal("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"));
  EXPECT_TRUE(equal("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                    "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
  EXPECT_TRUE(equal("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                    "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
}

// RFC 3261 §19.1.4: the non-equivalent pairs listed in the RFC.
TEST(UriCompare, Rfc3261NonEquivalentExamples) {
  EXPECT_FALSE(equal("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"));  // user case
  EXPECT_FALSE(equal("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));           // explicit default port
  EXPECT_FALSE(equal("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));  // explicit default transport
  EXPECT_FALSE(equal("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
  EXPECT_FALSE(equal("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));  // headers
  EXPECT_FALSE(equal("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));                    // no DNS equivalence
  EXPECT_FALSE(equal("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"));
}

TEST(UriCompare, SchemeAndParameterRules) {
  EXPECT_FALSE(equal("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
  EXPECT_TRUE(equal("SIP:alice@atlanta.com", "sip:alice@atlanta.com"));  // scheme is case-insensitive
  EXPECT_FALSE(equal("sip:alice@atlanta.com;maddr=192.0.2.1", "sip:alice@atlanta.com"));
  EXPECT_FALSE(equal("sip:alice@atlanta.com;user=phone", "sip:alice@atlanta.com"));
  EXPECT_FALSE(equal("sip:alice@atlanta.com;ttl=1", "sip:alice@atlanta.com"));
  EXPECT_FALSE(equal("sip:alice@atlanta.com;method=INVITE", "sip:alice@atlanta.com"));
  EXPECT_TRUE(equal("sip:alice@atlanta.com;lr", "sip:alice@atlanta.com"));  // other params ignored when in one only
  EXPECT_FALSE(equal("sip:alice:pw@atlanta.com", "sip:alice@atlanta.com"));
  EXPECT_FALSE(equal("sip:alice@atlanta.com", "sip:atlanta.com"));
  // An escaped unreserved character equals the character; an escaped reserved one does not.
  EXPECT_TRUE(equal("sip:%41lice@atlanta.com", "sip:Alice@atlanta.com"));
  EXPECT_FALSE(equal("sip:atlanta.com?to=bob%40b", "sip:atlanta.com?to=bob@b"));
  // Parameter names compare after decoding escapes (RFC 4475 §3.1.1.3 esc01).
  EXPECT_FALSE(equal("sip:h.example.net;tr%61nsport=tcp", "sip:h.example.net"));
  EXPECT_TRUE(equal("sip:h.example.net;tr%61nsport=tcp", "sip:h.example.net;transport=TCP"));
  EXPECT_FALSE(equal("sip:h.example.net;n%61me=v%61lue%25%34%31", "sip:h.example.net;name=valueA"));
  EXPECT_TRUE(equal("sip:h.example.net;n%61me=v%61lue%25%34%31", "sip:h.example.net;name=value%2541"));
  // URI headers compare with the same count, whatever the order.
  EXPECT_FALSE(equal("sip:a@b?x=1", "sip:a@b?x=1&y=2"));
}

// Found by fuzz_uri: with a repeated parameter name, first-match lookup made a URI differ from itself.
TEST(UriCompare, RepeatedParameterNamesStayReflexive) {
  EXPECT_TRUE(equal("sip:biloxi.com;transport=udp;transport=tcp", "sip:biloxi.com;transport=udp;transport=tcp"));
  EXPECT_TRUE(equal("sip:biloxi.com;transport=udp;transport=tcp", "sip:biloxi.com;transport=tcp;transport=udp"));
  EXPECT_FALSE(equal("sip:biloxi.com;transport=udp;transport=tcp", "sip:biloxi.com;transport=udp"));
}

TEST(UriCompare, TelRfc3966) {
  EXPECT_TRUE(equal("tel:+1-201-555-0123", "tel:+12015550123"));
  EXPECT_TRUE(equal("tel:7042;phone-context=EXAMPLE.com", "tel:7042;phone-context=example.com"));
  EXPECT_FALSE(equal("tel:+12015550123", "tel:+12015550124"));
  EXPECT_FALSE(equal("tel:+12015550123;ext=1", "tel:+12015550123"));
  EXPECT_FALSE(equal("tel:+12015550123", "sip:+12015550123@example.com"));
}

}  // namespace
}  // namespace sipwarden::sip
