// The secured mode's SRTP requirement on real offers and answers: which m= line fails and why,
// the Warning header (RFC 3261 §20.43) and the 400 for bodies that cannot be inspected.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "sdp_samples.hpp"
#include "security/security_policy.hpp"
#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::security {
namespace {

using testing::crlf;

constexpr std::string_view kAgent = "proxy.example.com";

PolicyDecision securedCheck(std::string_view sdp, std::string_view contentType = "application/sdp") {
  return checkMedia(SecurityMode::Secured, contentType, sdp, kAgent);
}

/// RFC 3261 §25.1: reason-phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB).
bool isReasonPhrase(std::string_view s) {
  static const std::regex kGrammar(R"(^([A-Za-z0-9;/?:@&=+$,\-_.!~*'() \t]|%[0-9A-Fa-f]{2})*$)");
  return std::regex_match(std::string(s), kGrammar);
}

/// RFC 3261 §20.43: warning-value = warn-code SP warn-agent SP warn-text; warn-text = quoted-string.
bool isWarningValue(std::string_view s) {
  static const std::regex kGrammar(
      R"(^[0-9]{3} [A-Za-z0-9.\-:\[\]!%*_+`'~]+ "([^"\\\x00-\x1f]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"$)");
  return std::regex_match(std::string(s), kGrammar);
}

TEST(MediaPolicy, PlainRtpOfferIsRefusedNamingTheMLine) {
  PolicyDecision d = securedCheck(crlf(testing::kRfc4317PlainOffer));
  EXPECT_EQ(d.status, 488);
  EXPECT_EQ(d.reasonPhrase, "Not Acceptable Here");
  EXPECT_EQ(d.warning,
            "302 proxy.example.com \"Incompatible transport protocol: m= line 1 (audio RTP/AVP) is not SRTP; this "
            "domain requires RTP/SAVP or RTP/SAVPF with a=crypto, or UDP/TLS/RTP/SAVPF with a=fingerprint\"");
  EXPECT_TRUE(isWarningValue(d.warning)) << d.warning;
}

TEST(MediaPolicy, SdesOffersPass) {
  EXPECT_TRUE(securedCheck(crlf(testing::kRfc4568SdesOffer)).allowed());
  EXPECT_TRUE(securedCheck(crlf(testing::kDeskPhoneSdesOffer)).allowed());
}

TEST(MediaPolicy, BrowserOffersPass) {
  // Chrome: a=fingerprint in each media section; Firefox: one at session level.
  EXPECT_TRUE(securedCheck(crlf(testing::kChromeOffer)).allowed());
  EXPECT_TRUE(securedCheck(crlf(testing::kFirefoxOffer)).allowed());
  EXPECT_TRUE(securedCheck(testing::kFirefoxOffer).allowed());  // LF line ends
}

TEST(MediaPolicy, MixedOfferIsRefusedOnItsPlainLine) {
  PolicyDecision d = securedCheck(crlf(testing::kMixedOffer));
  EXPECT_EQ(d.status, 488);
  EXPECT_NE(d.warning.find("m= line 2 (video RTP/AVP) is not SRTP"), std::string::npos) << d.warning;
  sip::SdpSession s;
  ASSERT_TRUE(sip::parseSdp(testing::kMixedOffer, s).ok());
  MediaFinding f = findUnprotectedMedia(s);
  EXPECT_EQ(f.problem, MediaProblem::InsecureProtocol);
  EXPECT_EQ(f.index, 2u);
  EXPECT_EQ(f.line, 8u);
  EXPECT_EQ(f.media, "video");
  EXPECT_EQ(f.proto, "RTP/AVP");
}

TEST(MediaPolicy, PortZeroLineIsIgnored) {
  EXPECT_TRUE(securedCheck(crlf(testing::kAnswerWithRejectedVideo)).allowed());
  // ... but not when it is bundle-only (RFC 8843 §6): that stream will flow on the BUNDLE transport.
  std::string bundleOnly = std::string(testing::kAnswerWithRejectedVideo) + "a=bundle-only\n";
  PolicyDecision d = securedCheck(bundleOnly);
  EXPECT_EQ(d.status, 488);
  EXPECT_NE(d.warning.find("m= line 2 (video RTP/AVP)"), std::string::npos) << d.warning;
}

TEST(MediaPolicy, SavpWithoutCryptoIsRefused) {
  PolicyDecision d = securedCheck(crlf(testing::kSavpWithoutCrypto));
  EXPECT_EQ(d.status, 488);
  EXPECT_EQ(d.warning,
            "302 proxy.example.com \"Incompatible transport protocol: m= line 1 (audio RTP/SAVP) has no a=crypto "
            "with an inline SRTP key\"");
}

TEST(MediaPolicy, CryptoMustBeValidAndInTheMediaSection) {
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n";
  const std::string crypto = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n";
  EXPECT_TRUE(securedCheck(head + "m=audio 4000 RTP/SAVPF 0\n" + crypto).allowed());
  // RFC 4568 §4: a=crypto belongs at media level; at session level it keys nothing.
  EXPECT_EQ(securedCheck(head + crypto + "m=audio 4000 RTP/SAVP 0\n").status, 488);
  // A malformed or non-inline a=crypto is no key.
  EXPECT_EQ(securedCheck(head + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80\n").status, 488);
  EXPECT_EQ(securedCheck(head + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 ext:abc\n").status, 488);
  // A fingerprint does not key SDES SRTP.
  EXPECT_EQ(securedCheck(head + "m=audio 4000 RTP/SAVP 0\na=fingerprint:sha-256 AB:CD\n").status, 488);
}

TEST(MediaPolicy, DtlsProtosNeedAFingerprint) {
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n";
  const std::string fp = "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B\n";
  for (std::string_view proto : {"UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "TCP/TLS/RTP/SAVPF", "TCP/TLS/RTP/SAVP"}) {
    std::string m = "m=audio 9 " + std::string(proto) + " 111\n";
    EXPECT_TRUE(securedCheck(head + m + fp).allowed()) << proto;
    EXPECT_TRUE(securedCheck(head + fp + m).allowed()) << proto;  // session level
    PolicyDecision d = securedCheck(head + m);
    EXPECT_EQ(d.status, 488) << proto;
    EXPECT_NE(d.warning.find("(audio " + std::string(proto) + ") has no a=fingerprint"), std::string::npos)
        << d.warning;
  }
  for (std::string_view data :
       {"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n", "m=application 9 TCP/DTLS/SCTP webrtc-datachannel\n",
        "m=application 9 DTLS/SCTP 5000\n"}) {
    EXPECT_TRUE(securedCheck(head + std::string(data) + fp).allowed()) << data;
    EXPECT_EQ(securedCheck(head + std::string(data)).status, 488) << data;
  }
  // A malformed fingerprint does not count.
  EXPECT_EQ(securedCheck(head + "m=audio 9 UDP/TLS/RTP/SAVPF 111\na=fingerprint:sha-256 4A:AD:\n").status, 488);
  // Protos compare exactly: a lower-case spelling is not a registered SRTP profile.
  EXPECT_EQ(securedCheck(head + "m=audio 9 udp/tls/rtp/savpf 111\n" + fp).status, 488);
}

TEST(MediaPolicy, BundledSectionsShareTheTaggedSectionsFingerprint) {
  // RFC 8843 §7: transport attributes, a=fingerprint among them, appear only in the tagged m=
  // section; the bundle-only sections (port 0) ride on its DTLS association.
  const std::string offer =
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=group:BUNDLE a v d\n"
      "m=audio 40000 UDP/TLS/RTP/SAVPF 111\na=mid:a\n"
      "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B\na=setup:actpass\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96\na=mid:v\na=bundle-only\n"
      "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\na=mid:d\na=bundle-only\n";
  EXPECT_TRUE(securedCheck(offer).allowed());
  // A section outside the group gets nothing from it.
  std::string outside = offer;
  outside.replace(outside.find("a=mid:v"), 7, "a=mid:x");
  PolicyDecision d = securedCheck(outside);
  EXPECT_EQ(d.status, 488);
  EXPECT_NE(d.warning.find("m= line 2 (video UDP/TLS/RTP/SAVPF) has no a=fingerprint"), std::string::npos);
  // Only a BUNDLE group counts (RFC 5888 LS groups share nothing).
  std::string ls = offer;
  ls.replace(ls.find("BUNDLE"), 6, "LS");
  EXPECT_EQ(securedCheck(ls).status, 488);
}

TEST(MediaPolicy, OtherMediaTransportsAreRefused) {
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n";
  // T.38 fax over UDPTL, an MSRP session, plain AVPF.
  for (std::string_view m : {"m=image 5006 udptl t38\n", "m=message 7394 TCP/MSRP *\n", "m=audio 5004 RTP/AVPF 0\n"}) {
    EXPECT_EQ(securedCheck(head + std::string(m)).status, 488) << m;
  }
}

TEST(MediaPolicy, NoSdpIsAllowed) {
  EXPECT_TRUE(securedCheck("", "").allowed());                              // INVITE without offer
  EXPECT_TRUE(securedCheck("Watson, come here.", "text/plain").allowed());  // MESSAGE (RFC 3428)
  EXPECT_TRUE(securedCheck("", "application/sdp").allowed());               // Content-Length: 0
  EXPECT_TRUE(securedCheck("v=0\n", "text/plain").allowed());               // not SDP, whatever it looks like
  EXPECT_TRUE(securedCheck("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n").allowed());  // no media at all
}

TEST(MediaPolicy, OnlyTheSecuredModeLooksAtMedia) {
  std::string plain = crlf(testing::kRfc4317PlainOffer);
  EXPECT_TRUE(checkMedia(SecurityMode::Unsecured, "application/sdp", plain, kAgent).allowed());
  EXPECT_TRUE(checkMedia(SecurityMode::SipSecured, "application/sdp", plain, kAgent).allowed());
  EXPECT_TRUE(checkMedia(SecurityMode::SipSecured, "application/sdp", "garbage", kAgent).allowed());
  EXPECT_EQ(checkMedia(SecurityMode::Secured, "application/sdp", plain, kAgent).status, 488);
}

TEST(MediaPolicy, MalformedSdpIs400NotA488) {
  PolicyDecision d = securedCheck("o=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 9 RTP/SAVP 0\n");
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reasonPhrase, "Malformed SDP: line 1: first line is not v=");
  EXPECT_TRUE(d.warning.empty());
  EXPECT_TRUE(isReasonPhrase(d.reasonPhrase)) << d.reasonPhrase;

  d = securedCheck("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 9 RTP/SAVP\n");
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reasonPhrase, "Malformed SDP: line 5: m= line without a format");

  std::string big = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 9 RTP/SAVP 0\n";
  while (big.size() <= 64 * 1024) big += "a=padding:0123456789abcdef0123456789abcdef\n";
  d = securedCheck(big);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reasonPhrase, "Malformed SDP: SDP larger than the limit");
  sip::SdpLimits roomy;
  roomy.maxBytes = big.size();
  roomy.maxLines = 100000;
  EXPECT_EQ(checkMedia(SecurityMode::Secured, "application/sdp", big, kAgent, roomy).status, 488);  // no crypto

  d = securedCheck("v=0\n", "multipart/mixed");
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reasonPhrase, "Malformed Message Body: multipart Content-Type without a boundary");
}

TEST(MediaPolicy, MultipartBodies) {
  std::string secure = crlf(testing::kRfc4568SdesOffer);
  std::string plain = crlf(testing::kRfc4317PlainOffer);
  auto mixed = [](const std::string& sdp) {
    return "--b\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
           "\r\n--b\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n"
           "<?xml version=\"1.0\"?><resource-lists/>\r\n--b--\r\n";
  };
  EXPECT_TRUE(securedCheck(mixed(secure), "multipart/mixed;boundary=b").allowed());
  PolicyDecision d = securedCheck(mixed(plain), "multipart/mixed;boundary=b");
  EXPECT_EQ(d.status, 488);
  EXPECT_NE(d.warning.find("m= line 1 (audio RTP/AVP)"), std::string::npos);

  // multipart/alternative: the receiver may pick either, so every SDP part must pass; the Warning
  // says which part failed.
  std::string alt = "--b\r\nContent-Type: application/sdp\r\n\r\n" + secure +
                    "\r\n--b\r\nContent-Type: application/sdp\r\n\r\n" + plain + "\r\n--b--";
  d = securedCheck(alt, "multipart/alternative; boundary=b");
  EXPECT_EQ(d.status, 488);
  EXPECT_NE(d.warning.find("Incompatible transport protocol: SDP part 2: m= line 1 (audio RTP/AVP)"), std::string::npos)
      << d.warning;
}

TEST(MediaPolicy, WarningTextStaysAQuotedStringAndShort) {
  // Echoed tokens are cut, and the warn-text stays a valid quoted-string whatever the proto says.
  std::string longProto(200, 'X');
  std::string sdp = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 9 RTP/" + longProto + " 0\n";
  PolicyDecision d = securedCheck(sdp);
  EXPECT_EQ(d.status, 488);
  EXPECT_TRUE(isWarningValue(d.warning)) << d.warning;
  EXPECT_LT(d.warning.size(), 300u);
}

TEST(MediaPolicy, DecisionSurvivesTheSipParserInAResponse) {
  // An INVITE as it arrives, the 488 built from the decision, serialized and parsed back.
  std::string body = crlf(testing::kMixedOffer);
  std::string wire =
      "INVITE sip:bob@secure.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.0.2.7:5061;branch=z9hG4bK74bf9\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:carol@secure.example.com>;tag=9fxced76sl\r\n"
      "To: <sip:bob@secure.example.com>\r\n"
      "Call-ID: 3848276298220188511@192.0.2.7\r\n"
      "CSeq: 1 INVITE\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  sip::Message req;
  ASSERT_TRUE(sip::parseMessage(wire, req).ok());
  PolicyDecision d = checkMedia(SecurityMode::Secured, *req.header("Content-Type"), req.body(), kAgent);
  ASSERT_EQ(d.status, 488);

  sip::Message resp = sip::Message::responseTo(req, d.status, d.reasonPhrase, "a6c85cf");
  ASSERT_EQ(resp.addHeader("Warning", d.warning), nullptr);
  std::string out = sip::toWire(resp);
  sip::Message back;
  ASSERT_TRUE(sip::parseMessage(out, back).ok()) << out;
  EXPECT_EQ(back.statusCode(), 488);
  EXPECT_EQ(back.reason(), "Not Acceptable Here");
  EXPECT_EQ(back.header("Warning"), std::optional<std::string_view>(d.warning));
}

}  // namespace
}  // namespace sipwarden::security
