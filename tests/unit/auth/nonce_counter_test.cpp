#include "auth/nonce_counter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sipwarden::auth {
namespace {

using V = NonceCounter::Verdict;

TEST(NonceCounterTest, IncreasingCountsAreAccepted) {
  NonceCounter counter;
  EXPECT_EQ(counter.accept(7, 1), V::Accepted);
  EXPECT_EQ(counter.accept(7, 2), V::Accepted);
  EXPECT_EQ(counter.accept(7, 3), V::Accepted);
}

TEST(NonceCounterTest, ReplaysAreRejected) {
  NonceCounter counter;
  EXPECT_EQ(counter.accept(7, 1), V::Accepted);
  EXPECT_EQ(counter.accept(7, 1), V::Replayed);
  EXPECT_EQ(counter.accept(7, 5), V::Accepted);
  EXPECT_EQ(counter.accept(7, 5), V::Replayed);
  EXPECT_EQ(counter.accept(7, 4), V::Replayed);  // lower than the highest seen
  EXPECT_EQ(counter.accept(7, NonceCounter::kMaxNc), V::Accepted);
  EXPECT_EQ(counter.accept(7, NonceCounter::kMaxNc), V::Replayed);
}

TEST(NonceCounterTest, ACountAboveTheTrackedRangeAsksForAFreshNonce) {
  NonceCounter counter;
  EXPECT_EQ(counter.accept(7, NonceCounter::kMaxNc + 1), V::Overtaken);
  EXPECT_EQ(counter.accept(7, 0xffffffffu), V::Overtaken);
  EXPECT_EQ(counter.accept(7, 1), V::Accepted) << "nothing was recorded";
}

TEST(NonceCounterTest, GapsAreAllowed) {
  // RFC 7616 §3.4.5: the count must grow; a client may skip values (requests lost on the way).
  NonceCounter counter;
  EXPECT_EQ(counter.accept(7, 3), V::Accepted);
  EXPECT_EQ(counter.accept(7, 10), V::Accepted);
}

TEST(NonceCounterTest, CountZeroNeverPasses) {
  NonceCounter counter;
  EXPECT_EQ(counter.accept(7, 0), V::Replayed);
  EXPECT_EQ(counter.accept(7, 1), V::Accepted);
  EXPECT_EQ(counter.accept(7, 0), V::Replayed);
}

TEST(NonceCounterTest, NoncesAreIndependent) {
  NonceCounter counter;
  EXPECT_EQ(counter.accept(7, 1), V::Accepted);
  EXPECT_EQ(counter.accept(8, 1), V::Accepted);
  EXPECT_EQ(counter.accept(0, 1), V::Accepted);  // serial 0 is a nonce like any other
  EXPECT_EQ(counter.accept(0, 1), V::Replayed);
  EXPECT_EQ(counter.accept(7, 1), V::Replayed);
}

TEST(NonceCounterTest, SlotsAreAPowerOfTwo) {
  EXPECT_EQ(NonceCounter(0).slots(), 2u);
  EXPECT_EQ(NonceCounter(3).slots(), 4u);
  EXPECT_EQ(NonceCounter(4).slots(), 4u);
  EXPECT_EQ(NonceCounter().slots(), std::size_t{1} << 20);
}

TEST(NonceCounterTest, ALaterNonceInTheSameSlotOvertakesAnEarlierOne) {
  NonceCounter counter(4);
  EXPECT_EQ(counter.accept(1, 1), V::Accepted);
  EXPECT_EQ(counter.accept(5, 1), V::Accepted);  // slot 1 again: serial 1's counts are gone
  // Serial 1 can never pass again: a replay of it is not mistaken for a first use.
  EXPECT_EQ(counter.accept(1, 1), V::Overtaken);
  EXPECT_EQ(counter.accept(1, 2), V::Overtaken);
  EXPECT_EQ(counter.accept(5, 1), V::Replayed);
  EXPECT_EQ(counter.accept(5, 2), V::Accepted);
  // A nonce never used, whose slot a later one took first, is overtaken too.
  EXPECT_EQ(counter.accept(14, 1), V::Accepted);
  EXPECT_EQ(counter.accept(10, 1), V::Overtaken);
  // Another slot is untouched.
  EXPECT_EQ(counter.accept(3, 1), V::Accepted);
}

TEST(NonceCounterTest, SerialsWrapAroundModulo2To64) {
  NonceCounter counter(4);
  EXPECT_EQ(counter.accept(0xfffffffffffffffdu, 1), V::Accepted);  // slot 1
  EXPECT_EQ(counter.accept(1, 1), V::Accepted);                    // slot 1, four serials later
  EXPECT_EQ(counter.accept(0xfffffffffffffffdu, 2), V::Overtaken);
  EXPECT_EQ(counter.accept(0xffffffffffffffffu, 1), V::Accepted);  // slot 3
  EXPECT_EQ(counter.accept(3, 1), V::Accepted);                    // slot 3, four serials later
  EXPECT_EQ(counter.accept(0xffffffffffffffffu, 9), V::Overtaken);
}

TEST(NonceCounterTest, AnOvertakenNonceStaysOvertakenAfter2To32LaterSerials) {
  // A 32-bit serial compared modulo 2^32 would take a nonce 2^31 or more behind the slot's holder
  // for a later one, and accept a captured request again. Serials are 64 bits.
  NonceCounter counter(4);
  EXPECT_EQ(counter.accept(5, 1), V::Accepted);
  const std::uint64_t much_later = 5 + (std::uint64_t{1} << 31) + (std::uint64_t{1} << 32);
  EXPECT_EQ(counter.accept(much_later, 1), V::Accepted);  // the same slot
  EXPECT_EQ(counter.accept(5, 1), V::Overtaken);
  EXPECT_EQ(counter.accept(5, 2), V::Overtaken);
}

TEST(NonceCounterTest, ConcurrentAcceptsCountEachNcOnce) {
  // 4 threads race on the same nonces with the same counts: each (nonce, nc) pair is accepted by
  // at most one thread, and once every thread is done the highest count is recorded.
  constexpr int kThreads = 4;
  constexpr std::uint32_t kNonces = 64;
  constexpr std::uint32_t kCounts = 200;
  NonceCounter counter(1024);
  std::vector<std::atomic<int>> hits(kNonces * (kCounts + 1));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (std::uint32_t nc = 1; nc <= kCounts; ++nc) {
        for (std::uint32_t n = 0; n < kNonces; ++n) {
          if (counter.accept(1000 + n, nc) == V::Accepted) hits[n * (kCounts + 1) + nc].fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  int accepted = 0;
  for (auto& h : hits) {
    EXPECT_LE(h.load(), 1);  // no (nonce, nc) pair was accepted twice
    accepted += h.load();
  }
  EXPECT_GE(accepted, static_cast<int>(kNonces));
  for (std::uint32_t n = 0; n < kNonces; ++n) {
    EXPECT_EQ(counter.accept(1000 + n, kCounts), V::Replayed);
    EXPECT_EQ(counter.accept(1000 + n, kCounts + 1), V::Accepted);
  }
}

TEST(NonceCounterTest, ConcurrentFirstUsesOfOneSlotLeaveTheLatestHolder) {
  // Threads race to use serials that share one slot, each serial twice: none is accepted twice,
  // the latest serial ends up holding the slot, and every earlier one is overtaken.
  constexpr std::uint32_t kThreads = 4;
  constexpr std::uint32_t kSerials = 4000;
  NonceCounter counter(8);
  std::vector<std::atomic<int>> hits(kSerials);
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint32_t i = 0; i < kSerials; ++i) {
        // Threads walk the serials from different starting points, so they collide.
        const std::uint32_t k = (i + t * (kSerials / kThreads)) % kSerials;
        if (counter.accept(3 + 8 * k, 1) == V::Accepted) hits[k].fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& h : hits) EXPECT_LE(h.load(), 1);
  EXPECT_EQ(counter.accept(3 + 8 * (kSerials - 1), 1), V::Replayed);
  int overtaken = 0;
  for (std::uint32_t k = 0; k + 1 < kSerials; ++k) overtaken += counter.accept(3 + 8 * k, 1) == V::Overtaken;
  EXPECT_EQ(overtaken, static_cast<int>(kSerials - 1));
}

}  // namespace
}  // namespace sipwarden::auth
