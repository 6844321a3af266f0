#include "auth/hmac.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sipwarden::auth {
namespace {

std::string hex(const Sha256Mac& mac) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : mac) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0f];
  }
  return out;
}

std::string macHex(const std::vector<std::uint8_t>& key, std::string_view data) {
  Sha256Mac mac{};
  EXPECT_TRUE(hmacSha256(key, data.data(), data.size(), mac));
  return hex(mac);
}

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 4231 §4: HMAC-SHA-256 test cases 1, 2, 4 (key shorter than a block), 6 and 7 (key longer
// than a block, hashed first).
TEST(HmacSha256Test, Rfc4231Vectors) {
  EXPECT_EQ(macHex(std::vector<std::uint8_t>(20, 0x0b), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(macHex(bytes("Jefe"), "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  std::vector<std::uint8_t> key4;
  for (std::uint8_t b = 0x01; b <= 0x19; ++b) key4.push_back(b);
  EXPECT_EQ(macHex(key4, std::string(50, '\xcd')), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  EXPECT_EQ(macHex(std::vector<std::uint8_t>(131, 0xaa), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(macHex(std::vector<std::uint8_t>(131, 0xaa),
                   "This is a test using a larger than block-size key and a larger than block-size data. The key "
                   "needs to be hashed before being used by the HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(HmacSha256Test, AlternatingKeysGiveEachKeysMac) {
  // A thread alternates between the nonce secret and the flow-token secret.
  const std::vector<std::uint8_t> a(32, 0x01), b(32, 0x02);
  const std::string first = macHex(a, "data");
  EXPECT_NE(macHex(b, "data"), first);
  EXPECT_EQ(macHex(a, "data"), first);
}

}  // namespace
}  // namespace sipwarden::auth
