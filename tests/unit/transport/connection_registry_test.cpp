#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "transport/worker_transport.hpp"

namespace sipwarden::transport {
namespace {

IpAddress address(const char* text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::parse(text, a)) << text;
  return a;
}

TEST(ConnectionRegistryTest, TheLimitHoldsPerAddressAndAClosedConnectionFreesItsPlace) {
  ConnectionRegistry registry;
  const IpAddress a = address("192.0.2.1");
  const IpAddress b = address("2001:db8::1");
  std::uint64_t first = registry.add(nullptr, a, 2);
  std::uint64_t second = registry.add(nullptr, a, 2);
  EXPECT_NE(first, 0u);
  EXPECT_NE(second, 0u);
  EXPECT_NE(first, second);
  EXPECT_EQ(registry.add(nullptr, a, 2), 0u);  // a third from the same address
  EXPECT_NE(registry.add(nullptr, b, 2), 0u);  // another address has its own count
  EXPECT_EQ(registry.size(), 3u);
  registry.remove(first, a);
  EXPECT_NE(registry.add(nullptr, a, 2), 0u);
  EXPECT_EQ(registry.add(nullptr, a, 2), 0u);
  registry.remove(first, a);  // twice: counted once
  EXPECT_EQ(registry.add(nullptr, a, 2), 0u);
}

TEST(ConnectionRegistryTest, WorkersAddingAtOnceNeverPassTheLimit) {
  // Each worker accepts on its own thread: the check and the count are one step, so four threads
  // racing for one address get exactly `limit` connections between them.
  ConnectionRegistry registry;
  const IpAddress a = address("198.51.100.7");
  constexpr std::uint32_t kLimit = 50;
  std::atomic<int> admitted{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 200; ++i) {
        if (registry.add(nullptr, a, kLimit) != 0) admitted++;
      }
    });
  }
  go = true;
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(admitted.load(), static_cast<int>(kLimit));
  EXPECT_EQ(registry.size(), kLimit);
}

}  // namespace
}  // namespace sipwarden::transport
