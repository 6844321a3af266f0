// Finding the SDP of a message body: application/sdp, multipart/mixed and multipart/alternative
// (RFC 2046 §5.1), nested multiparts, and the bodies that cannot be inspected.
#include <gtest/gtest.h>

#include <string>

#include "sdp_samples.hpp"
#include "sip/sdp.hpp"

namespace sipwarden::sip {
namespace {

using testing::crlf;

// An ISUP IAM as SIP-T carries it (RFC 3204 §3 example bytes): binary, with CR and LF octets.
const std::string kIsup(
    "\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03\x0d\x0a"
    "\x06\x0d\x03\x80\x90\xa2\x07\x03\x10\x03\x63\x53\x00\x10\x0a\x07\x03\x10\x27\x80\x88",
    42);

TEST(SdpBody, PlainApplicationSdp) {
  std::string body = crlf(testing::kRfc4317PlainOffer);
  SdpBodies out;
  ASSERT_EQ(findSdpBodies("application/sdp", body, out), nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], body);
  // Media types compare case-insensitively (RFC 2045 §5.1) and may carry parameters.
  ASSERT_EQ(findSdpBodies("Application/SDP ; charset=utf-8", body, out), nullptr);
  EXPECT_EQ(out.size(), 1u);
}

TEST(SdpBody, NoSdp) {
  SdpBodies out;
  EXPECT_EQ(findSdpBodies("text/plain", "Hello, Bob", out), nullptr);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(findSdpBodies("", "", out), nullptr);
  EXPECT_TRUE(out.empty());
  // An INVITE without an offer sometimes still names application/sdp with Content-Length: 0.
  EXPECT_EQ(findSdpBodies("application/sdp", "", out), nullptr);
  EXPECT_TRUE(out.empty());
}

TEST(SdpBody, MultipartMixedWithIsup) {
  // SIP-T (RFC 3372): the SDP offer and the encapsulated ISUP message.
  std::string sdp = crlf(testing::kRfc4568SdesOffer);
  std::string body =
      "--unique-boundary-1\r\n"
      "Content-Type: application/sdp\r\n"
      "\r\n" +
      sdp +
      "\r\n--unique-boundary-1\r\n"
      "Content-Type: application/ISUP; version=nxv3; base=etsi121\r\n"
      "Content-Disposition: signal; handling=optional\r\n"
      "\r\n" +
      kIsup + "\r\n--unique-boundary-1--\r\n";
  SdpBodies out;
  ASSERT_EQ(findSdpBodies("multipart/mixed; boundary=unique-boundary-1", body, out), nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], sdp);  // the CRLF before the delimiter belongs to the delimiter (RFC 2046 §5.1.1)
}

TEST(SdpBody, MultipartWithPreambleEpilogueQuotedBoundaryAndLfLines) {
  std::string sdp = std::string(testing::kChromeOffer);  // LF line ends throughout
  std::string body =
      "This is a multi-part message in MIME format.\n"
      "--b1 'x(y)'\n"
      "content-type: text/plain\n"
      "\n"
      "Call me back\n"
      "--b1 'x(y)'   \n"  // transport padding after the boundary
      "Content-Type:\n"
      " application/sdp\n"  // a folded header value
      "Content-Transfer-Encoding: 8bit\n"
      "\n" +
      sdp + "\n--b1 'x(y)'--\nepilogue\n";
  SdpBodies out;
  ASSERT_EQ(findSdpBodies("multipart/alternative;boundary=\"b1 'x(y)'\"", body, out), nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], sdp);
  SdpSession s;
  EXPECT_TRUE(parseSdp(out[0], s).ok());
  EXPECT_EQ(s.media.size(), 3u);
}

TEST(SdpBody, NestedMultipartAndSeveralSdpParts) {
  std::string a = crlf(testing::kRfc4317PlainOffer);
  std::string b = crlf(testing::kRfc4568SdesOffer);
  std::string inner = "--inner\r\nContent-Type: application/sdp\r\n\r\n" + a +
                      "\r\n--inner\r\nContent-Type: application/sdp\r\n\r\n" + b + "\r\n--inner--";
  std::string body = "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" + inner +
                     "\r\n--outer\r\n\r\nno headers: text/plain\r\n--outer--\r\n";
  SdpBodies out;
  ASSERT_EQ(findSdpBodies("multipart/mixed;boundary=outer", body, out), nullptr);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], a);
  EXPECT_EQ(out[1], b);
}

TEST(SdpBody, BoundaryMustStartALineAndEndThere) {
  // "--xyz" inside a line, or followed by other text, is not a delimiter: the part runs on.
  std::string body = "--xyz\r\nContent-Type: application/sdp\r\n\r\nv=0\r\na=tool:--xyz\r\n--xyzzy\r\n--xyz--\r\n";
  SdpBodies out;
  ASSERT_EQ(findSdpBodies("multipart/mixed; boundary=xyz", body, out), nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], "v=0\r\na=tool:--xyz\r\n--xyzzy");
}

TEST(SdpBody, UninspectableBodies) {
  SdpBodies out;
  EXPECT_STREQ(findSdpBodies("", "v=0\r\n", out), "body without a Content-Type");
  EXPECT_STREQ(findSdpBodies("application", "v=0\r\n", out), "bad Content-Type");
  EXPECT_STREQ(findSdpBodies("multipart/mixed", "--a\r\n\r\n--a--", out), "multipart Content-Type without a boundary");
  EXPECT_STREQ(findSdpBodies("multipart/mixed;boundary=\"\"", "--\r\n", out), "bad multipart boundary");
  EXPECT_STREQ(findSdpBodies("multipart/mixed;boundary=a", "no delimiter at all", out),
               "multipart body without its boundary");
  EXPECT_STREQ(findSdpBodies("multipart/mixed;boundary=a", "--a\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", out),
               "multipart body without a closing delimiter");
  EXPECT_STREQ(
      findSdpBodies("multipart/mixed;boundary=a", "--a\r\nContent-Type application/sdp\r\n\r\nv=0\r\n--a--", out),
      "body part header line without a colon");
  EXPECT_STREQ(findSdpBodies("multipart/mixed;boundary=a", "--a\r\nContent-Type: application\r\n\r\nv=0\r\n--a--", out),
               "bad Content-Type in a body part");
  EXPECT_STREQ(findSdpBodies("multipart/mixed;boundary=a",
                             "--a\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                             "dj0wDQo=\r\n--a--",
                             out),
               "SDP part with an unsupported Content-Transfer-Encoding");
  // Four levels of nesting.
  std::string nested =
      "--l1\r\nContent-Type: multipart/mixed;boundary=l2\r\n\r\n"
      "--l2\r\nContent-Type: multipart/mixed;boundary=l3\r\n\r\n"
      "--l3\r\nContent-Type: multipart/mixed;boundary=l4\r\n\r\n"
      "--l4\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--l4--\r\n--l3--\r\n--l2--\r\n--l1--";
  EXPECT_STREQ(findSdpBodies("multipart/mixed;boundary=l1", nested, out), "multipart bodies nested too deeply");
  std::string many;
  for (int i = 0; i < 33; ++i) many += "--m\r\n\r\npart\r\n";
  many += "--m--";
  EXPECT_STREQ(findSdpBodies("multipart/mixed;boundary=m", many, out), "too many parts in a multipart body");
}

}  // namespace
}  // namespace sipwarden::sip
