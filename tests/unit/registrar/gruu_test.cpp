#include "registrar/gruu.hpp"

#include <gtest/gtest.h>

#include <array>
#include <set>

namespace sipwarden::registrar {
namespace {

const std::array<std::uint8_t, 32> kSecret{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                           17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
constexpr std::string_view kInstance = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";

TEST(Gruu, PublicGruuCarriesAorAndInstance) {
  EXPECT_EQ(GruuCodec::publicGruu("alice@example.com", kInstance),
            "sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  EXPECT_EQ(GruuCodec::publicGruu("a b@example.com", kInstance).substr(0, 12), "sip:a%20b@ex");
}

TEST(Gruu, PublicGruuResolvesToItsInstance) {
  GruuCodec codec(kSecret);
  auto t = codec.resolve("alice", "example.com", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->aor, "alice@example.com");
  EXPECT_EQ(t->instance, kInstance);
}

TEST(Gruu, TemporaryGruuRoundTripsAndHidesTheAor) {
  GruuCodec codec(kSecret);
  std::string g = codec.temporaryGruu("alice@example.com", kInstance);
  ASSERT_EQ(g.rfind("sip:tgruu.", 0), 0u) << g;
  ASSERT_TRUE(g.ends_with("@example.com;gr")) << g;
  EXPECT_EQ(g.find("alice"), std::string::npos);
  EXPECT_EQ(g.find("f81d4fae"), std::string::npos);
  std::string user = g.substr(4, g.find('@') - 4);
  auto t = codec.resolve(user, "example.com", "");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->aor, "alice@example.com");
  EXPECT_EQ(t->instance, kInstance);
  // The domain is case-insensitive, as in any SIP URI.
  EXPECT_TRUE(codec.resolve(user, "EXAMPLE.com", ""));
}

TEST(Gruu, EveryTemporaryGruuIsNew) {
  GruuCodec codec(kSecret);
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(seen.insert(codec.temporaryGruu("alice@example.com", kInstance)).second);
}

TEST(Gruu, ForgedDamagedOrForeignTemporaryGruusAreRefused) {
  GruuCodec codec(kSecret);
  std::string g = codec.temporaryGruu("alice@example.com", kInstance);
  std::string user = g.substr(4, g.find('@') - 4);
  for (std::size_t i = std::string("tgruu.").size(); i < user.size(); i += 7) {
    std::string bad = user;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(codec.resolve(bad, "example.com", "")) << i;
  }
  EXPECT_FALSE(codec.resolve(user.substr(0, user.size() - 4), "example.com", ""));
  EXPECT_FALSE(codec.resolve(user, "example.org", ""));  // minted for another domain
  EXPECT_FALSE(codec.resolve("tgruu.", "example.com", ""));
  EXPECT_FALSE(codec.resolve("tgruu.!!!!", "example.com", ""));
  EXPECT_FALSE(codec.resolve("alice", "example.com", ""));
  std::array<std::uint8_t, 32> other = kSecret;
  other[0] ^= 1;
  EXPECT_FALSE(GruuCodec(other).resolve(user, "example.com", ""));
}

TEST(Gruu, ShortSecretIsRefused) {
  std::array<std::uint8_t, 8> s{};
  EXPECT_THROW(GruuCodec{s}, std::invalid_argument);
}

}  // namespace
}  // namespace sipwarden::registrar
