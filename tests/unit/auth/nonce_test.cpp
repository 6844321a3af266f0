#include "auth/nonce.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <set>
#include <stdexcept>

namespace sipwarden::auth {
namespace {

using namespace std::chrono_literals;

std::vector<std::uint8_t> secretOf(std::uint8_t fill, std::size_t size = 32) { return std::vector<std::uint8_t>(size, fill); }

// A fixed instant (2024-05-01T00:00:00Z) so that tests do not depend on the machine clock.
const WallClock::time_point kT0{std::chrono::seconds(1714521600)};

TEST(NonceServiceTest, RejectsShortSecrets) {
  EXPECT_THROW(NonceService(secretOf(1, 15), 300s), std::invalid_argument);
  EXPECT_THROW(NonceService(std::span<const std::uint8_t>{}, 300s), std::invalid_argument);
  EXPECT_NO_THROW(NonceService(secretOf(1, 16), 300s));
}

TEST(NonceServiceTest, RandomSecretIs32RandomBytes) {
  auto a = NonceService::randomSecret();
  auto b = NonceService::randomSecret();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(NonceServiceTest, RoundTripIsValid) {
  NonceService service(secretOf(7), 300s);
  std::string nonce = service.issue(kT0);
  EXPECT_EQ(nonce.size(), NonceService::kNonceLength);
  for (char c : nonce) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << nonce;
  EXPECT_EQ(service.check(nonce, kT0), NonceService::Verdict::Valid);
  EXPECT_EQ(service.check(nonce, kT0 + 299s), NonceService::Verdict::Valid);
  auto info = service.inspect(nonce, kT0 + 10s);
  EXPECT_EQ(info.verdict, NonceService::Verdict::Valid);
  EXPECT_EQ(info.issuedAt, kT0);
  EXPECT_EQ(info.expiresAt, kT0 + 300s);
}

TEST(NonceServiceTest, StaleAfterLifetime) {
  NonceService service(secretOf(7), 300s);
  std::string nonce = service.issue(kT0);
  EXPECT_EQ(service.check(nonce, kT0 + 300s), NonceService::Verdict::Stale);
  EXPECT_EQ(service.check(nonce, kT0 + 24h), NonceService::Verdict::Stale);
}

TEST(NonceServiceTest, AnotherServiceWithTheSameSecretFindsItStale) {
  // Another start of the server (or another server) with the same secret: the MAC is good, but
  // the nonce counts were never seen here, so a captured request must not be accepted again:
  // stale (the client is asked again, RFC 7616 §3.3), not valid and not invalid.
  NonceService a(secretOf(7), 300s);
  NonceService b(secretOf(7), 300s);
  const std::string nonce = a.issue(kT0);
  EXPECT_EQ(a.check(nonce, kT0 + 1s), NonceService::Verdict::Valid);
  EXPECT_EQ(b.check(nonce, kT0 + 1s), NonceService::Verdict::Stale);
  EXPECT_EQ(b.check(b.issue(kT0), kT0 + 1s), NonceService::Verdict::Valid);
  EXPECT_EQ(a.opaque(), b.opaque());
}

TEST(NonceServiceTest, InvalidWhenAnyCharacterIsChanged) {
  NonceService service(secretOf(7), 300s);
  std::string nonce = service.issue(kT0);
  for (std::size_t i = 0; i < nonce.size(); ++i) {
    std::string tampered = nonce;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(service.check(tampered, kT0), NonceService::Verdict::Invalid) << "position " << i;
  }
}

TEST(NonceServiceTest, InvalidWhenTheIssueTimeIsRewritten) {
  // Moving the issue time forward (to revive a stale nonce) breaks the MAC.
  NonceService service(secretOf(7), 300s);
  NonceService other(secretOf(7), 300s);
  std::string old = service.issue(kT0);
  std::string fresh = other.issue(kT0 + 1000s);
  // The first 10 characters (60 bits) encode only issue-time bits; splice the fresh time in.
  std::string spliced = fresh.substr(0, 10) + old.substr(10);
  EXPECT_EQ(service.check(old, kT0 + 1000s), NonceService::Verdict::Stale);
  EXPECT_EQ(service.check(spliced, kT0 + 1000s), NonceService::Verdict::Invalid);
}

TEST(NonceServiceTest, InvalidWhenTruncatedOrExtended) {
  NonceService service(secretOf(7), 300s);
  std::string nonce = service.issue(kT0);
  EXPECT_EQ(service.check(nonce.substr(0, nonce.size() - 1), kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check(nonce.substr(0, 22), kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check(nonce + "A", kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check(nonce + "=", kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check("", kT0), NonceService::Verdict::Invalid);
}

TEST(NonceServiceTest, InvalidWithAnotherSecret) {
  NonceService a(secretOf(7), 300s);
  NonceService b(secretOf(8), 300s);
  EXPECT_EQ(b.check(a.issue(kT0), kT0), NonceService::Verdict::Invalid);
  EXPECT_NE(a.opaque(), b.opaque());
}

TEST(NonceServiceTest, InvalidForGarbage) {
  NonceService service(secretOf(7), 300s);
  EXPECT_EQ(service.check("3135ef65-3466-4f70-8035-ec70ff10ae75", kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check(std::string(43, 'A'), kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check(std::string(43, '!'), kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check(std::string(43, '\0'), kT0), NonceService::Verdict::Invalid);
  EXPECT_EQ(service.check("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", kT0), NonceService::Verdict::Invalid);
}

TEST(NonceServiceTest, InvalidWhenNonCanonicalPaddingBitsAreSet) {
  // 43 characters carry 258 bits; the last character's 2 spare bits must be zero so that each
  // nonce has exactly one spelling.
  NonceService service(secretOf(7), 300s);
  std::string nonce = service.issue(kT0);
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  auto last = kAlphabet.find(nonce.back());
  ASSERT_NE(last, std::string_view::npos);
  EXPECT_EQ(last & 3u, 0u);
  std::string alias = nonce;
  alias.back() = kAlphabet[last | 1u];
  EXPECT_EQ(service.check(alias, kT0), NonceService::Verdict::Invalid);
}

TEST(NonceServiceTest, InvalidWhenFromTheFuture) {
  NonceService service(secretOf(7), 300s);
  std::string nonce = service.issue(kT0 + 60s);
  EXPECT_EQ(service.check(nonce, kT0), NonceService::Verdict::Invalid);
  // Within the allowed clock skew it is fine.
  std::string nearFuture = service.issue(kT0 + NonceService::kMaxClockSkew);
  EXPECT_EQ(service.check(nearFuture, kT0), NonceService::Verdict::Valid);
  std::string beyond = service.issue(kT0 + NonceService::kMaxClockSkew + 1s);
  EXPECT_EQ(service.check(beyond, kT0), NonceService::Verdict::Invalid);
}

TEST(NonceServiceTest, NoncesAreUnique) {
  NonceService service(secretOf(7), 300s);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) EXPECT_TRUE(seen.insert(service.issue(kT0)).second);
}

TEST(NonceServiceTest, OpaqueIsFixedHex) {
  NonceService service(secretOf(7), 300s);
  std::string opaque = service.opaque();
  EXPECT_EQ(opaque.size(), 32u);
  for (char c : opaque) EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(service.opaque(), opaque);
  EXPECT_EQ(service.lifetime(), 300s);
}

}  // namespace
}  // namespace sipwarden::auth
