#include "auth/nonce_counter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace sipwarden::auth {
namespace {

using namespace std::chrono_literals;

const WallClock::time_point kT0{std::chrono::seconds(1714521600)};
const WallClock::time_point kExpiry = kT0 + 300s;

TEST(NonceCounterTest, IncreasingCountsAreAccepted) {
  NonceCounter counter;
  EXPECT_TRUE(counter.accept("n1", 1, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("n1", 2, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("n1", 3, kExpiry, kT0));
  EXPECT_EQ(counter.size(), 1u);
}

TEST(NonceCounterTest, ReplaysAreRejected) {
  NonceCounter counter;
  EXPECT_TRUE(counter.accept("n1", 1, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("n1", 2, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("n1", 2, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("n1", 3, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("n1", 1, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("n1", 3, kExpiry, kT0));
}

TEST(NonceCounterTest, GapsAreAllowed) {
  // RFC 7616 §3.4.5 only asks for a higher count: requests may be lost or reordered.
  NonceCounter counter;
  EXPECT_TRUE(counter.accept("n1", 5, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("n1", 4, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("n1", 0xffffffffu, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("n1", 0xffffffffu, kExpiry, kT0));
}

TEST(NonceCounterTest, CountZeroNeverPasses) {
  NonceCounter counter;
  EXPECT_FALSE(counter.accept("n1", 0, kExpiry, kT0));
  EXPECT_EQ(counter.size(), 0u);
}

TEST(NonceCounterTest, NoncesAreIndependent) {
  NonceCounter counter;
  EXPECT_TRUE(counter.accept("n1", 1, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("n2", 1, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("n1", 1, kExpiry, kT0));
  EXPECT_EQ(counter.size(), 2u);
}

TEST(NonceCounterTest, PurgeDropsExpiredEntries) {
  NonceCounter counter;
  EXPECT_TRUE(counter.accept("old", 1, kT0 + 10s, kT0));
  EXPECT_TRUE(counter.accept("new", 1, kT0 + 100s, kT0));
  counter.purge(kT0 + 9s);
  EXPECT_EQ(counter.size(), 2u);
  counter.purge(kT0 + 10s);
  EXPECT_EQ(counter.size(), 1u);
  // "new" is still tracked, "old" was forgotten.
  EXPECT_FALSE(counter.accept("new", 1, kT0 + 100s, kT0 + 10s));
  counter.purge(kT0 + 100s);
  EXPECT_EQ(counter.size(), 0u);
}

TEST(NonceCounterTest, FullTableRejectsNewNonces) {
  NonceCounter counter(3);
  EXPECT_TRUE(counter.accept("a", 1, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("b", 1, kExpiry, kT0));
  EXPECT_TRUE(counter.accept("c", 1, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("d", 1, kExpiry, kT0));
  EXPECT_EQ(counter.size(), 3u);
  // Known nonces keep working.
  EXPECT_TRUE(counter.accept("a", 2, kExpiry, kT0));
}

TEST(NonceCounterTest, FullTablePurgesExpiredEntriesToMakeRoom) {
  NonceCounter counter(2);
  EXPECT_TRUE(counter.accept("a", 1, kT0 + 10s, kT0));
  EXPECT_TRUE(counter.accept("b", 1, kExpiry, kT0));
  EXPECT_FALSE(counter.accept("c", 1, kExpiry, kT0 + 5s));
  EXPECT_TRUE(counter.accept("c", 1, kExpiry, kT0 + 10s));  // "a" expired and was purged
  EXPECT_EQ(counter.size(), 2u);
}

TEST(NonceCounterTest, ConcurrentAcceptsCountEachNcOnce) {
  // 4 threads race on the same nonces with the same counts: each (nonce, nc) pair is accepted by
  // at most one thread, and for a strictly increasing sequence per thread the highest always wins.
  constexpr int kThreads = 4;
  constexpr int kNonces = 64;
  constexpr std::uint32_t kCounts = 200;
  NonceCounter counter(1000);
  std::vector<std::atomic<int>> hits(kNonces * (kCounts + 1));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (std::uint32_t nc = 1; nc <= kCounts; ++nc) {
        for (int n = 0; n < kNonces; ++n) {
          if (counter.accept("nonce-" + std::to_string(n), nc, kExpiry, kT0)) {
            hits[static_cast<std::size_t>(n) * (kCounts + 1) + nc].fetch_add(1);
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter.size(), static_cast<std::size_t>(kNonces));
  int accepted = 0;
  for (auto& h : hits) {
    EXPECT_LE(h.load(), 1);  // no (nonce, nc) pair was accepted twice
    accepted += h.load();
  }
  EXPECT_GE(accepted, kNonces);
  for (int n = 0; n < kNonces; ++n) EXPECT_FALSE(counter.accept("nonce-" + std::to_string(n), kCounts, kExpiry, kT0));
}

TEST(NonceCounterTest, ConcurrentInsertsRespectTheBound) {
  constexpr int kThreads = 4;
  constexpr std::size_t kMax = 100;
  NonceCounter counter(kMax);
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (counter.accept("t" + std::to_string(t) + "-" + std::to_string(i), 1, kExpiry, kT0)) accepted.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), static_cast<int>(kMax));
  EXPECT_EQ(counter.size(), kMax);
}

TEST(NonceCounterTest, NoncesOfEveryTrackedLengthAndNoLonger) {
  NonceCounter counter;
  const std::string ours(NonceService::kNonceLength, 'A');
  const std::string longest(NonceCounter::kMaxNonceLength, 'B');
  const std::string tooLong(NonceCounter::kMaxNonceLength + 1, 'C');
  EXPECT_TRUE(counter.accept(ours, 1, kExpiry, kT0));
  EXPECT_FALSE(counter.accept(ours, 1, kExpiry, kT0));
  EXPECT_TRUE(counter.accept(longest, 1, kExpiry, kT0));
  EXPECT_TRUE(counter.accept(longest.substr(1), 1, kExpiry, kT0));  // a prefix is another nonce
  EXPECT_FALSE(counter.accept(tooLong, 1, kExpiry, kT0));
  EXPECT_EQ(counter.size(), 3u);
}

}  // namespace
}  // namespace sipwarden::auth
