#include "proxy/flow_token.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "proxy/proxy.hpp"
#include "sip/parser.hpp"

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
  FlowTokens tokens(std::vector<std::uint8_t>(32, 7));
  std::string b = newProxyBranch(0x2a, "0123456789abcdef", tokens.mac());
  EXPECT_EQ(b.rfind("z9hG4bK", 0), 0u);
  EXPECT_EQ(workerOfBranch(b), 0x2a);
  EXPECT_NE(newProxyBranch(1, "x", tokens.mac()), newProxyBranch(1, "x", tokens.mac()));
  EXPECT_EQ(workerOfBranch("z9hG4bK776asdhds"), -1);
  EXPECT_EQ(workerOfBranch("z9hG4bKswzz"), -1);
  EXPECT_EQ(workerOfBranch(""), -1);
}

TEST(ProxyBranch, OnlyTheServerItselfMakesASignedBranch) {
  // A spiral is recognised by the branch of our Via on top: one that merely looks like ours (the
  // prefix, a worker number) must not pass for it, nor one signed with another secret.
  FlowTokens tokens(std::vector<std::uint8_t>(32, 7));
  FlowTokens other(std::vector<std::uint8_t>(32, 8));
  const std::string b = newProxyBranch(3, "0123456789abcdef", tokens.mac());
  EXPECT_TRUE(isSignedBranch(b, tokens.mac()));
  EXPECT_TRUE(isSignedBranch(newProxyBranch(0, "", tokens.mac()), tokens.mac()));
  EXPECT_FALSE(isSignedBranch(b, other.mac()));
  std::string tampered = b;
  tampered[tampered.size() - 20] = tampered[tampered.size() - 20] == '0' ? '1' : '0';  // the random part
  EXPECT_FALSE(isSignedBranch(tampered, tokens.mac()));
  EXPECT_FALSE(isSignedBranch("z9hG4bKsw00abc", tokens.mac()));
  EXPECT_FALSE(isSignedBranch("z9hG4bKsw000123456789abcdef.00000000000000000000000000000000", tokens.mac()));
  EXPECT_FALSE(isSignedBranch("", tokens.mac()));
}

sip::Message parsed(const std::string& text) {
  sip::Message m;
  EXPECT_FALSE(sip::parseMessage(text, m, sip::Limits{}, sip::Framing::Datagram)) << text;
  m.ownText();
  return m;
}

std::string request(const char* method, int cseq, const char* branch, const char* to) {
  return std::string(method) + " sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=" + branch +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: " + to +
         "\r\nCall-ID: c1@192.0.2.1\r\nCSeq: " + std::to_string(cseq) + " " + method + "\r\nContent-Length: 0\r\n\r\n";
}

TEST(StatelessTags, SameRequestSameTagAndItsAckIsRecognised) {
  StatelessTags tags(secret(7));
  std::array<char, 16> a{}, b{};
  sip::Message invite = parsed(request("INVITE", 1, "z9hG4bK1", "<sip:bob@example.com>"));
  const std::string tag(tags.write(invite, a));
  EXPECT_EQ(tag.rfind("sl.", 0), 0u);
  EXPECT_EQ(tag.size(), 16u);
  // §8.2.7: a retransmission (parsed again) gets the same tag.
  EXPECT_EQ(tags.write(parsed(request("INVITE", 1, "z9hG4bK1", "<sip:bob@example.com>")), b), tag);
  // The response made from the request, and the caller's ACK for it (§17.1.1.3: same Call-ID,
  // From tag, CSeq number and branch), match it.
  EXPECT_TRUE(tags.matches(sip::Message::responseTo(invite, 480, {}, tag), tag));
  const std::string to = "<sip:bob@example.com>;tag=" + tag;
  EXPECT_TRUE(tags.matches(parsed(request("ACK", 1, "z9hG4bK1", to.c_str())), tag));
  // Another request, another secret, or a tag that only starts with "sl.": no match.
  EXPECT_NE(tags.write(parsed(request("INVITE", 2, "z9hG4bK2", "<sip:bob@example.com>")), b), tag);
  EXPECT_FALSE(tags.matches(parsed(request("ACK", 2, "z9hG4bK2", to.c_str())), tag));
  EXPECT_FALSE(StatelessTags(secret(8)).matches(parsed(request("ACK", 1, "z9hG4bK1", to.c_str())), tag));
  EXPECT_FALSE(tags.matches(parsed(request("ACK", 1, "z9hG4bK1", "<sip:bob@example.com>;tag=sl.0123456789abc")),
                            "sl.0123456789abc"));
  EXPECT_FALSE(tags.matches(invite, "1234567890abcdef"));
}

}  // namespace
}  // namespace sipwarden::proxy
