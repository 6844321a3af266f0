// The PROXY protocol header parser (HAProxy's specification, versions 1 and 2): headers byte by
// byte (NeedMore until complete), the address it names, and what must be refused.
#include "transport/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace sipwarden::transport;
using Status = ProxyHeader::Status;

namespace {

std::string v2(unsigned char verCmd, unsigned char famProto, const std::string& block) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(verCmd);
  h += static_cast<char>(famProto);
  h += static_cast<char>(block.size() >> 8);
  h += static_cast<char>(block.size() & 0xFF);
  return h + block;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

}  // namespace

TEST(ProxyProtocol, V1Tcp4NamesTheClientAndStopsAtCrlf) {
  const std::string header = "PROXY TCP4 203.0.113.7 192.0.2.1 40000 5060\r\n";
  ProxyHeader h = parseProxyHeader(header + "REGISTER sip:x SIP/2.0\r\n");
  ASSERT_EQ(h.status, Status::Ok) << h.error;
  EXPECT_EQ(h.length, header.size());
  EXPECT_FALSE(h.local);
  EXPECT_EQ(h.source.toString(), "203.0.113.7");
  EXPECT_EQ(h.sourcePort, 40000);
}

TEST(ProxyProtocol, V1Tcp6AndUnknown) {
  ProxyHeader h = parseProxyHeader("PROXY TCP6 2001:db8::7 2001:db8::1 5070 5061\r\n");
  ASSERT_EQ(h.status, Status::Ok) << h.error;
  EXPECT_TRUE(h.source.v6);
  EXPECT_EQ(h.source.toString(), "2001:db8::7");
  EXPECT_EQ(h.sourcePort, 5070);
  h = parseProxyHeader("PROXY UNKNOWN\r\n");
  ASSERT_EQ(h.status, Status::Ok);
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.length, 15u);
}

TEST(ProxyProtocol, EveryPrefixOfAHeaderNeedsMore) {
  const std::string v1 = "PROXY TCP4 203.0.113.7 192.0.2.1 40000 5060\r\n";
  for (std::size_t n = 0; n < v1.size(); ++n) {
    EXPECT_EQ(parseProxyHeader(v1.substr(0, n)).status, Status::NeedMore) << n;
  }
  const std::string h2 = v2(0x21, 0x11, bytes({203, 0, 113, 7, 192, 0, 2, 1, 0x9C, 0x40, 0x13, 0xC4}));
  for (std::size_t n = 0; n < h2.size(); ++n) {
    EXPECT_EQ(parseProxyHeader(h2.substr(0, n)).status, Status::NeedMore) << n;
  }
}

TEST(ProxyProtocol, V1MalformedIsRefused) {
  for (const char* bad : {"PROXY TCP4 203.0.113.7 192.0.2.1 40000\r\n", "PROXY TCP4 nowhere 192.0.2.1 1 2\r\n",
                          "PROXY TCP4 203.0.113.7 192.0.2.1 70000 5060\r\n", "PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n",
                          "PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n", "PROXY TCP4 203.0.113.7 192.0.2.1 01 2\r\n",
                          "PROXY TCP4 203.0.113.7 192.0.2.1 1 2 extra\r\n"}) {
    EXPECT_EQ(parseProxyHeader(bad).status, Status::Invalid) << bad;
  }
  // No CRLF within the 107 bytes the specification allows.
  EXPECT_EQ(parseProxyHeader("PROXY " + std::string(120, 'A')).status, Status::Invalid);
}

TEST(ProxyProtocol, WithoutAHeaderTheConnectionIsRefused) {
  EXPECT_EQ(parseProxyHeader("REGISTER sip:example.com SIP/2.0\r\n").status, Status::Invalid);
  EXPECT_EQ(parseProxyHeader(bytes({0x16, 0x03, 0x01, 0x02, 0x00})).status, Status::Invalid);  // a TLS ClientHello
  EXPECT_EQ(parseProxyHeader("P").status, Status::NeedMore);
}

TEST(ProxyProtocol, V2Ipv4Ipv6LocalAndTlvs) {
  // PROXY, TCP over IPv4: 203.0.113.7:40000 -> 192.0.2.1:5060, then a TLV (ignored).
  std::string block = bytes({203, 0, 113, 7, 192, 0, 2, 1, 0x9C, 0x40, 0x13, 0xC4, 0x04, 0x00, 0x01, 0x00});
  std::string h = v2(0x21, 0x11, block);
  ProxyHeader p = parseProxyHeader(h + "\x16\x03\x01");
  ASSERT_EQ(p.status, Status::Ok) << p.error;
  EXPECT_EQ(p.length, h.size());
  EXPECT_EQ(p.source.toString(), "203.0.113.7");
  EXPECT_EQ(p.sourcePort, 40000);

  std::string six(16, '\0');
  six[0] = 0x20;
  six[1] = 0x01;
  six[2] = 0x0d;
  six[3] = static_cast<char>(0xb8);
  six[15] = 7;
  p = parseProxyHeader(v2(0x21, 0x21, six + std::string(16, '\0') + bytes({0x13, 0xCE, 0x13, 0xC5})));
  ASSERT_EQ(p.status, Status::Ok) << p.error;
  EXPECT_EQ(p.source.toString(), "2001:db8::7");
  EXPECT_EQ(p.sourcePort, 5070);

  p = parseProxyHeader(v2(0x20, 0x00, ""));  // LOCAL: a health check by the balancer itself
  ASSERT_EQ(p.status, Status::Ok);
  EXPECT_TRUE(p.local);
  EXPECT_EQ(p.length, 16u);
}

TEST(ProxyProtocol, V2MalformedIsRefused) {
  EXPECT_EQ(parseProxyHeader(v2(0x11, 0x11, std::string(12, '\0'))).status, Status::Invalid);  // version 1 in v2
  EXPECT_EQ(parseProxyHeader(v2(0x2F, 0x11, std::string(12, '\0'))).status, Status::Invalid);  // command 15
  EXPECT_EQ(parseProxyHeader(v2(0x21, 0x11, std::string(8, '\0'))).status, Status::Invalid);   // short block
  std::string huge = v2(0x21, 0x11, "");
  huge[14] = static_cast<char>(0xFF);
  huge[15] = static_cast<char>(0xFF);
  EXPECT_EQ(parseProxyHeader(huge).status, Status::Invalid);  // longer than we accept
}
