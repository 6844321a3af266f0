#include "auth/hmac.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <thread>
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

TEST(HmacSha256Test, AKeyObjectGivesTheSameMacEveryTimeAndFromEveryThread) {
  // The prepared key states are copied, never consumed: the RFC 4231 vectors again and again, and
  // from two threads at once on one const object (as the workers share the nonce service).
  const HmacSha256 jefe(bytes("Jefe"));
  const HmacSha256 longKey(std::vector<std::uint8_t>(131, 0xaa));
  const std::string what = "what do ya want for nothing?";
  const std::string larger = "Test Using Larger Than Block-Size Key - Hash Key First";
  auto check = [&](int rounds, int& bad) {
    for (int i = 0; i < rounds; ++i) {
      Sha256Mac a{}, b{};
      if (!jefe.compute(what.data(), what.size(), a) || !longKey.compute(larger.data(), larger.size(), b) ||
          hex(a) != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" ||
          hex(b) != "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") {
        ++bad;
      }
    }
  };
  int bad1 = 0, bad2 = 0;
  std::thread t([&] { check(2000, bad1); });
  check(2000, bad2);
  t.join();
  EXPECT_EQ(bad1, 0);
  EXPECT_EQ(bad2, 0);
  // A message longer than a block, and an empty one (RFC 4231 case 7's data; HMAC of "").
  const std::string block2 =
      "This is a test using a larger than block-size key and a larger than block-size data. The key "
      "needs to be hashed before being used by the HMAC algorithm.";
  Sha256Mac m{};
  ASSERT_TRUE(longKey.compute(block2.data(), block2.size(), m));
  EXPECT_EQ(hex(m), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  ASSERT_TRUE(HmacSha256(std::vector<std::uint8_t>{}).compute("", 0, m));
  EXPECT_EQ(hex(m), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
}  // namespace sipwarden::auth
