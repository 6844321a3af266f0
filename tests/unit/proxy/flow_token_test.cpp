#include "proxy/flow_token.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "proxy/proxy.hpp"

namespace sipwarden::proxy {
namespace {

std::vector<std::uint8_t> secret(std::uint8_t fill) { return std::vector<std::uint8_t>(32, fill); }

transport::Peer peer(const char* address, std::uint16_t port, transport::TransportKind kind, std::uint64_t conn) {
  transport::Peer p;
  EXPECT_TRUE(transport::IpAddress::parse(address, p.address));
  p.port = port;
  p.transport = kind;
  p.connectionId = conn;
  p.listener = 3;
  return p;
}

TEST(FlowTokens, RoundTripsIpv4AndIpv6Flows) {
  FlowTokens tokens(secret(7));
  for (const transport::Peer& p : {peer("192.0.2.10", 5060, transport::TransportKind::Udp, 0),
                                   peer("2001:db8::1", 40000, transport::TransportKind::Tcp, 0x123456789abcull)}) {
    std::string t = tokens.encode(p);
    EXPECT_EQ(t.size(), p.address.v6 ? 72u : 48u);
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos) << t;
    auto back = tokens.decode(t);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, p);
  }
}

TEST(FlowTokens, RefusesTamperedForeignAndMalformedTokens) {
  FlowTokens tokens(secret(7));
  FlowTokens other(secret(8));
  std::string t = tokens.encode(peer("192.0.2.10", 5060, transport::TransportKind::Tcp, 42));
  EXPECT_FALSE(other.decode(t).has_value()) << "another server's secret";
  for (std::size_t i = 0; i < t.size(); ++i) {
    std::string bad = t;
    bad[i] = bad[i] == '0' ? '1' : '0';
    EXPECT_FALSE(tokens.decode(bad).has_value()) << "changed at " << i;  // e.g. another connection id
  }
  EXPECT_FALSE(tokens.decode("").has_value());
  EXPECT_FALSE(tokens.decode(t.substr(2)).has_value());
  std::string upper = t;
  upper[0] = 'A';
  EXPECT_FALSE(tokens.decode(upper).has_value());
  EXPECT_FALSE(tokens.decode("alice").has_value());
  EXPECT_THROW(FlowTokens(std::vector<std::uint8_t>(8, 1)), std::invalid_argument);
}

TEST(ProxyBranch, CarriesTheWorkerAndTheMagicCookie) {
  std::string b = newProxyBranch(0x2a, "0123456789abcdef");
  EXPECT_EQ(b.rfind("z9hG4bK", 0), 0u);
  EXPECT_EQ(workerOfBranch(b), 0x2a);
  EXPECT_NE(newProxyBranch(1, "x"), newProxyBranch(1, "x"));
  EXPECT_EQ(workerOfBranch("z9hG4bK776asdhds"), -1);
  EXPECT_EQ(workerOfBranch("z9hG4bKswzz"), -1);
  EXPECT_EQ(workerOfBranch(""), -1);
}

}  // namespace
}  // namespace sipwarden::proxy
