#include "transport/peer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sipwarden::transport {
namespace {

std::string roundTrip(const std::string& text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::parse(text, a)) << text;
  return a.toString();
}

TEST(IpAddressTest, Ipv4ToStringEveryDigitCount) {
  for (const char* text : {"0.0.0.0", "255.255.255.255", "127.0.0.1", "10.0.100.9", "192.168.10.200", "1.20.100.255"}) {
    EXPECT_EQ(roundTrip(text), text);
  }
}

TEST(IpAddressTest, Ipv6ToString) {
  EXPECT_EQ(roundTrip("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(roundTrip("[::1]"), "::1");
}

}  // namespace
}  // namespace sipwarden::transport
