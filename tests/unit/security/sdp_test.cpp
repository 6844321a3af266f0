// The SDP inspector (RFC 8866): m= lines and attributes of real offers, line ends, limits, and
// the errors it names; a=crypto (RFC 4568) and a=fingerprint (RFC 8122) values.
#include "sip/sdp.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "sdp_samples.hpp"

namespace sipwarden::sip {
namespace {

using testing::crlf;

std::vector<std::string> words(SdpWords w) {
  std::vector<std::string> out;
  for (std::string_view s : w) out.emplace_back(s);
  return out;
}

TEST(SdpParse, Rfc4317PlainOffer) {
  std::string text = crlf(testing::kRfc4317PlainOffer);
  SdpSession s;
  SdpError e = parseSdp(text, s);
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_EQ(s.origin, "alice 2890844526 2890844526 IN IP4 host.atlanta.example.com");
  EXPECT_EQ(s.sessionName, "");
  ASSERT_EQ(s.media.size(), 2u);

  const SdpMedia& audio = s.media[0];
  EXPECT_EQ(audio.media, "audio");
  EXPECT_EQ(audio.port, 49170);
  EXPECT_EQ(audio.portCount, 1);
  EXPECT_EQ(audio.proto, "RTP/AVP");
  EXPECT_EQ(audio.formats, "0 8 97");
  EXPECT_EQ(audio.formatCount, 3u);
  EXPECT_EQ(audio.line, 6u);
  EXPECT_EQ(words(audio.formatList()), (std::vector<std::string>{"0", "8", "97"}));
  EXPECT_EQ(audio.attributes().count("rtpmap"), 3u);
  std::optional<SdpAttribute> rtpmap = audio.attributes().find("rtpmap");
  ASSERT_TRUE(rtpmap);
  EXPECT_EQ(rtpmap->value, "0 PCMU/8000");
  EXPECT_TRUE(rtpmap->hasValue);

  const SdpMedia& video = s.media[1];
  EXPECT_EQ(video.media, "video");
  EXPECT_EQ(video.port, 51372);
  EXPECT_EQ(video.formats, "31 32");
  EXPECT_EQ(video.line, 10u);
  EXPECT_EQ(video.attributes().count("rtpmap"), 2u);
  // Media attributes stay in their own section; the session has none.
  EXPECT_FALSE(s.attributes().has("rtpmap"));
  EXPECT_EQ(video.body, "a=rtpmap:31 H261/90000\r\na=rtpmap:32 MPV/90000\r\n");
}

TEST(SdpParse, LfOnlyLinesGiveTheSameResult) {
  // RFC 8866 §5: parsers SHOULD also accept lines ended by a lone LF.
  std::string withCrlf = crlf(testing::kChromeOffer);
  SdpSession a;
  SdpSession b;
  ASSERT_TRUE(parseSdp(withCrlf, a).ok());
  ASSERT_TRUE(parseSdp(testing::kChromeOffer, b).ok());
  ASSERT_EQ(a.media.size(), 3u);
  ASSERT_EQ(b.media.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.media[i].media, b.media[i].media);
    EXPECT_EQ(a.media[i].proto, b.media[i].proto);
    EXPECT_EQ(a.media[i].formats, b.media[i].formats);
    EXPECT_EQ(a.media[i].line, b.media[i].line);
    std::vector<std::string> na;
    std::vector<std::string> nb;
    for (const SdpAttribute& x : a.media[i].attributes())
      na.push_back(std::string(x.name) + "=" + std::string(x.value));
    for (const SdpAttribute& x : b.media[i].attributes())
      nb.push_back(std::string(x.name) + "=" + std::string(x.value));
    EXPECT_EQ(na, nb);
    EXPECT_FALSE(na.empty());
  }
  // Mixed line ends in one body are accepted too.
  std::string mixed = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\ns=-\r\nt=0 0\nm=audio 9 RTP/AVP 0\r\na=sendrecv";
  SdpSession c;
  ASSERT_TRUE(parseSdp(mixed, c).ok());
  ASSERT_EQ(c.media.size(), 1u);
  EXPECT_TRUE(c.media[0].attributes().has("sendrecv"));
}

TEST(SdpParse, ChromeOfferSectionsAndAttributes) {
  std::string text = crlf(testing::kChromeOffer);
  SdpSession s;
  ASSERT_TRUE(parseSdp(text, s).ok());
  ASSERT_EQ(s.media.size(), 3u);
  EXPECT_EQ(s.media[0].proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(s.media[0].port, 9);
  EXPECT_EQ(s.media[0].formatCount, 8u);
  EXPECT_EQ(s.media[1].media, "video");
  EXPECT_EQ(s.media[2].media, "application");
  EXPECT_EQ(s.media[2].proto, "UDP/DTLS/SCTP");
  EXPECT_EQ(s.media[2].formats, "webrtc-datachannel");

  std::optional<SdpAttribute> group = s.attributes().find("group");
  ASSERT_TRUE(group);
  EXPECT_EQ(group->value, "BUNDLE 0 1 2");
  EXPECT_EQ(words(SdpWords(group->value)), (std::vector<std::string>{"BUNDLE", "0", "1", "2"}));
  // A property attribute (no value) and one whose value holds spaces and colons.
  std::optional<SdpAttribute> mixed = s.attributes().find("extmap-allow-mixed");
  ASSERT_TRUE(mixed);
  EXPECT_FALSE(mixed->hasValue);
  EXPECT_EQ(s.attributes().find("msid-semantic")->value, " WMS 4f1c2a8e-6f0b-4b7e-9a51-0d3c2b1a9e77");

  for (const SdpMedia& m : s.media) {
    EXPECT_EQ(m.attributes().find("setup")->value, "actpass");
    EXPECT_EQ(m.attributes().count("fingerprint"), 1u);
  }
  EXPECT_EQ(s.media[2].attributes().find("mid")->value, "2");
  EXPECT_EQ(s.media[2].attributes().find("sctp-port")->value, "5000");
  EXPECT_FALSE(s.attributes().has("fingerprint"));
}

TEST(SdpParse, FirefoxOfferHasSessionLevelFingerprint) {
  std::string text = crlf(testing::kFirefoxOffer);  // the session's views point into it
  SdpSession s;
  ASSERT_TRUE(parseSdp(text, s).ok());
  ASSERT_EQ(s.media.size(), 3u);
  EXPECT_TRUE(s.attributes().has("fingerprint"));
  for (const SdpMedia& m : s.media) EXPECT_FALSE(m.attributes().has("fingerprint"));
}

TEST(SdpParse, PortCountAndPortZero) {
  SdpSession s;
  std::string text = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=video 49170/2 RTP/AVP 31\nm=audio 0 RTP/AVP 0\n";
  ASSERT_TRUE(parseSdp(text, s).ok());
  ASSERT_EQ(s.media.size(), 2u);
  EXPECT_EQ(s.media[0].port, 49170);
  EXPECT_EQ(s.media[0].portCount, 2);
  EXPECT_EQ(s.media[1].port, 0);
  EXPECT_EQ(s.media[1].body, "");
}

TEST(SdpParse, ToleratesMissingFinalLineEndAndTrailingEmptyLines) {
  SdpSession s;
  ASSERT_TRUE(parseSdp("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0", s).ok());
  EXPECT_EQ(s.media[0].formats, "0");
  ASSERT_TRUE(
      parseSdp("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=x\r\n\r\n\r\n", s).ok());
  EXPECT_EQ(s.media[0].body, "a=x\r\n");
  // A session without media is valid (RFC 8866 §5: zero or more media descriptions).
  ASSERT_TRUE(parseSdp("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=recvonly\n", s).ok());
  EXPECT_EQ(s.media.size(), 0u);
  EXPECT_TRUE(s.attributes().has("recvonly"));
}

TEST(SdpParse, Rfc4568OfferWithEveryOptionalSessionField) {
  std::string text = crlf(testing::kRfc4568SdesOffer);
  SdpSession s;
  SdpError e = parseSdp(text, s);
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_EQ(s.sessionName, "SRTP Discussion");
  ASSERT_EQ(s.media.size(), 1u);
  EXPECT_EQ(s.media[0].proto, "RTP/SAVP");
  EXPECT_EQ(s.media[0].attributes().find("crypto")->value,
            "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP");
}

struct BadSdp {
  const char* name;
  std::string text;
  SdpErrorKind kind;
  std::size_t line;
  const char* detail;
};

class SdpMalformed : public ::testing::TestWithParam<BadSdp> {};

TEST_P(SdpMalformed, NamesTheProblem) {
  const BadSdp& c = GetParam();
  SdpSession s;
  SdpError e = parseSdp(c.text, s);
  EXPECT_EQ(e.kind, c.kind) << c.name << ": " << e.describe();
  EXPECT_EQ(e.line, c.line) << c.name;
  EXPECT_STREQ(e.detail, c.detail) << c.name;
  EXPECT_FALSE(e.ok());
}

const std::string kHead = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";  // four lines

INSTANTIATE_TEST_SUITE_P(
    Cases, SdpMalformed,
    ::testing::Values(
        BadSdp{"empty", "", SdpErrorKind::Empty, 0, "empty SDP"},
        BadSdp{"no v=", "o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n",
               SdpErrorKind::MissingVersion, 1, "first line is not v="},
        BadSdp{"v=1", "v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n", SdpErrorKind::BadVersion, 1,
               "v= is not 0"},
        BadSdp{"only blank lines", "\r\n\r\n", SdpErrorKind::Empty, 0, "empty SDP"},
        BadSdp{"m= without format", kHead + "m=audio 49170 RTP/AVP\r\n", SdpErrorKind::BadMedia, 5,
               "m= line without a format"},
        BadSdp{"m= without proto", kHead + "m=audio 49170\r\n", SdpErrorKind::BadMedia, 5,
               "m= line without a transport protocol"},
        BadSdp{"m= without port", kHead + "m=audio\r\n", SdpErrorKind::BadMedia, 5, "m= line without a port"},
        BadSdp{"m= empty", kHead + "m=\r\n", SdpErrorKind::BadMedia, 5, "m= line without a media type"},
        BadSdp{"m= port too big", kHead + "m=audio 65536 RTP/AVP 0\r\n", SdpErrorKind::BadMedia, 5,
               "bad port in m= line"},
        BadSdp{"m= port not a number", kHead + "m=audio 12a RTP/AVP 0\r\n", SdpErrorKind::BadMedia, 5,
               "bad port in m= line"},
        BadSdp{"m= port count zero", kHead + "m=audio 5004/0 RTP/AVP 0\r\n", SdpErrorKind::BadMedia, 5,
               "bad port count in m= line"},
        BadSdp{"m= proto empty segment", kHead + "m=audio 5004 RTP//AVP 0\r\n", SdpErrorKind::BadMedia, 5,
               "bad transport protocol in m= line"},
        BadSdp{"m= tab in format", kHead + "m=audio 5004 RTP/AVP 0\t8\r\n", SdpErrorKind::BadMedia, 5,
               "bad format in m= line"},
        BadSdp{"m= before o=", "v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n", SdpErrorKind::MissingField, 4,
               "m= line before o="},
        BadSdp{"m= before t=", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n",
               SdpErrorKind::MissingField, 4, "m= line before t="},
        BadSdp{"no s=", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n", SdpErrorKind::MissingField, 0, "no s= line"},
        BadSdp{"short o=", "v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n", SdpErrorKind::BadField, 2,
               "o= line without its six fields"},
        BadSdp{"bad t=", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=now\r\n", SdpErrorKind::BadField, 4,
               "t= line is not two times"},
        BadSdp{"second v=", kHead + "v=0\r\n", SdpErrorKind::MisplacedField, 5, "v= after the first line"},
        BadSdp{"o= in media", kHead + "m=audio 9 RTP/AVP 0\r\no=- 2 2 IN IP4 192.0.2.1\r\n",
               SdpErrorKind::MisplacedField, 6, "o= twice or inside a media section"},
        BadSdp{"t= in media", kHead + "m=audio 9 RTP/AVP 0\r\nt=0 0\r\n", SdpErrorKind::MisplacedField, 6,
               "t= inside a media section"},
        BadSdp{"unknown type", kHead + "x=1\r\n", SdpErrorKind::UnknownType, 5, "unknown type letter"},
        BadSdp{"upper-case M", kHead + "M=audio 9 RTP/AVP 0\r\n", SdpErrorKind::UnknownType, 5, "unknown type letter"},
        BadSdp{"space before =", kHead + "m =audio 9 RTP/AVP 0\r\n", SdpErrorKind::BadLine, 5,
               "line is not type=value"},
        BadSdp{"empty line inside", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\r\ns=-\r\nt=0 0\r\n", SdpErrorKind::BadLine, 3,
               "empty line"},
        BadSdp{"bare CR", kHead + "m=audio 9 RTP/AVP 0\ra=crypto:1 X inline:QUJD\r\n", SdpErrorKind::BadLine, 5,
               "bare CR in line"},
        BadSdp{"NUL", kHead + std::string("a=tool:x\0y\r\n", 12), SdpErrorKind::BadLine, 5, "NUL in line"},
        BadSdp{"attribute without name", kHead + "a=:value\r\n", SdpErrorKind::BadAttribute, 5,
               "a= line without a valid attribute name"},
        BadSdp{"attribute name with space", kHead + "a=crypto 1:x\r\n", SdpErrorKind::BadAttribute, 5,
               "a= line without a valid attribute name"}),
    [](const ::testing::TestParamInfo<BadSdp>& p) {
      std::string n;
      for (const char* c = p.param.name; *c != '\0'; ++c) n += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
      return n;
    });

TEST(SdpLimitsTest, OversizedBody) {
  std::string text = crlf(testing::kChromeOffer);
  SdpSession s;
  SdpLimits limits;
  limits.maxBytes = text.size() - 1;
  SdpError e = parseSdp(text, s, limits);
  EXPECT_EQ(e.kind, SdpErrorKind::TooLarge);
  EXPECT_EQ(e.describe(), "SDP larger than the limit");
  limits.maxBytes = text.size();
  EXPECT_TRUE(parseSdp(text, s, limits).ok());
}

TEST(SdpLimitsTest, TooManyLines) {
  std::string text = kHead + "m=audio 9 RTP/AVP 0\r\n";
  for (int i = 0; i < 20; ++i) text += "a=x" + std::to_string(i) + "\r\n";  // lines 6..25
  SdpSession s;
  SdpLimits limits;
  limits.maxLines = 25;
  EXPECT_TRUE(parseSdp(text, s, limits).ok());
  limits.maxLines = 24;
  SdpError e = parseSdp(text, s, limits);
  EXPECT_EQ(e.kind, SdpErrorKind::TooManyLines);
  EXPECT_EQ(e.line, 25u);
  EXPECT_EQ(e.describe(), "line 25: more SDP lines than the limit");
}

TEST(SdpLimitsTest, TooManyMediaSections) {
  std::string text = kHead;
  for (int i = 0; i < 10; ++i) text += "m=audio " + std::to_string(5000 + 2 * i) + " RTP/AVP 0\r\n";
  SdpSession s;
  SdpLimits limits;
  limits.maxMedia = 10;
  ASSERT_TRUE(parseSdp(text, s, limits).ok());
  EXPECT_EQ(s.media.size(), 10u);  // more than the four kept inline
  EXPECT_EQ(s.media[9].port, 5018);
  limits.maxMedia = 9;
  SdpError e = parseSdp(text, s, limits);
  EXPECT_EQ(e.kind, SdpErrorKind::TooManyMedia);
  EXPECT_EQ(e.line, 14u);
}

TEST(SdpCryptoTest, Rfc4568Values) {
  SdpCrypto c;
  ASSERT_EQ(
      parseSdpCrypto(
          "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP", c),
      nullptr);
  EXPECT_EQ(c.tag, 1u);
  EXPECT_EQ(c.suite, "AES_CM_128_HMAC_SHA1_80");
  EXPECT_EQ(c.keyParams, "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4");
  EXPECT_EQ(c.sessionParams, "FEC_ORDER=FEC_SRTP");
  EXPECT_EQ(c.inlineKeys, 1u);

  // RFC 4568 §9.1: several key-params joined by ';', 1*WSP between fields.
  ASSERT_EQ(parseSdpCrypto("123456789 AES_CM_128_HMAC_SHA1_32  inline:QUJDREVG|2^20|1:4;inline:R0hJSktM|2^20|2:4", c),
            nullptr);
  EXPECT_EQ(c.tag, 123456789u);
  EXPECT_EQ(c.inlineKeys, 2u);
  EXPECT_EQ(c.sessionParams, "");
  // A key method other than inline parses but gives no SRTP key.
  ASSERT_EQ(parseSdpCrypto("2 F8_128_HMAC_SHA1_80 ext:something", c), nullptr);
  EXPECT_EQ(c.inlineKeys, 0u);
}

TEST(SdpCryptoTest, RejectsMalformedValues) {
  SdpCrypto c;
  EXPECT_STREQ(parseSdpCrypto("", c), "a=crypto tag is not 1 to 9 digits");
  EXPECT_STREQ(parseSdpCrypto("1234567890 AES_CM_128_HMAC_SHA1_80 inline:QUJD", c),
               "a=crypto tag is not 1 to 9 digits");
  EXPECT_STREQ(parseSdpCrypto("1", c), "a=crypto without a crypto-suite");
  EXPECT_STREQ(parseSdpCrypto("1 AES_CM_128_HMAC_SHA1_80", c), "a=crypto without key parameters");
  EXPECT_STREQ(parseSdpCrypto("1 AES-CM inline:QUJD", c), "bad crypto-suite in a=crypto");
  EXPECT_STREQ(parseSdpCrypto("1 AES_CM_128_HMAC_SHA1_80 QUJD", c), "a=crypto key parameter is not method:info");
  EXPECT_STREQ(parseSdpCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:", c), "a=crypto key parameter without key info");
  EXPECT_STREQ(parseSdpCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:|2^20", c), "a=crypto inline key is empty");
  EXPECT_STREQ(parseSdpCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64", c), "a=crypto inline key is not base64");
}

TEST(SdpFingerprintTest, Rfc8122Values) {
  SdpFingerprint f;
  ASSERT_EQ(parseSdpFingerprint("sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:"
                                "A1:58:D0:A1:2C:19:08",
                                f),
            nullptr);
  EXPECT_EQ(f.hashFunction, "sha-256");
  EXPECT_EQ(f.bytes, 32u);
  ASSERT_EQ(parseSdpFingerprint("sha-1 4a:ad:b9:b1:3f:82:18:3b:54:02:12:df:3e:5d:49:6b:19:e5:7c:ab", f), nullptr);
  EXPECT_EQ(f.bytes, 20u);

  EXPECT_STREQ(parseSdpFingerprint("sha-256", f), "a=fingerprint without a fingerprint");
  EXPECT_STREQ(parseSdpFingerprint("sha-256 ", f), "bad fingerprint in a=fingerprint");
  EXPECT_STREQ(parseSdpFingerprint("sha-256 7B:8B:", f), "bad fingerprint in a=fingerprint");
  EXPECT_STREQ(parseSdpFingerprint("sha-256 7B8B", f), "bad fingerprint in a=fingerprint");
  EXPECT_STREQ(parseSdpFingerprint("sha-256 7B:8G", f), "bad fingerprint in a=fingerprint");
  EXPECT_STREQ(parseSdpFingerprint("sha\"256 7B:8B", f), "bad hash function in a=fingerprint");
}

}  // namespace
}  // namespace sipwarden::sip
