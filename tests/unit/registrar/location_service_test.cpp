// The in-memory location service: lookup order and expiry, update semantics, load, purge, and
// consistency under concurrent updates from several threads.
#include "registrar/location_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sipwarden::registrar {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

Binding makeBinding(const std::string& aor, const std::string& contact, std::int64_t expiresAt, int q = -1,
                    std::int64_t updatedAt = kNow) {
  Binding b;
  b.aor = aor;
  b.contact = contact;
  b.expiresAt = expiresAt;
  b.q = q;
  b.updatedAt = updatedAt;
  return b;
}

TEST(LocationService, LookupFiltersExpiredAndOrdersByPreference) {
  LocationService loc;
  loc.update("alice@example.com", [](std::vector<Binding>& bs) {
    bs.push_back(makeBinding("alice@example.com", "sip:low@h", kNow + 60, 100));
    bs.push_back(makeBinding("alice@example.com", "sip:gone@h", kNow, 1000));
    bs.push_back(makeBinding("alice@example.com", "sip:old@h", kNow + 60, 800, kNow - 10));
    bs.push_back(makeBinding("alice@example.com", "sip:new@h", kNow + 60, 800, kNow));
    bs.push_back(makeBinding("alice@example.com", "sip:noq@h", kNow + 60));
  });
  std::vector<Binding> found = loc.lookup("alice@example.com", kNow);
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0].contact, "sip:noq@h");
  EXPECT_EQ(found[1].contact, "sip:new@h");
  EXPECT_EQ(found[2].contact, "sip:old@h");
  EXPECT_EQ(found[3].contact, "sip:low@h");
  EXPECT_TRUE(loc.lookup("bob@example.com", kNow).empty());
  EXPECT_EQ(loc.bindingCount(), 5u);  // the expired one stays until purged
}

TEST(LocationService, UpdateReturnsTheResultAndDropsEmptyAors) {
  LocationService loc(4);
  int n = loc.update("a@x", [](std::vector<Binding>& bs) {
    bs.push_back(makeBinding("a@x", "sip:1@h", kNow + 10));
    return static_cast<int>(bs.size());
  });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(loc.aorCount(), 1u);
  loc.update("b@x", [](std::vector<Binding>& bs) { EXPECT_TRUE(bs.empty()); });  // unknown, left empty
  EXPECT_EQ(loc.aorCount(), 1u);
  bool sawExisting = loc.update("a@x", [](std::vector<Binding>& bs) {
    bool had = bs.size() == 1;
    bs.clear();
    return had;
  });
  EXPECT_TRUE(sawExisting);
  EXPECT_EQ(loc.aorCount(), 0u);
  EXPECT_EQ(loc.bindingCount(), 0u);
}

TEST(LocationService, UpdateThatThrowsKeepsTheMapConsistent) {
  LocationService loc(4);
  EXPECT_THROW(loc.update("a@x",
                          [](std::vector<Binding>& bs) {
                            bs.push_back(makeBinding("a@x", "sip:1@h", kNow + 10));
                            throw std::runtime_error("after a change");
                          }),
               std::runtime_error);
  EXPECT_EQ(loc.lookup("a@x", kNow).size(), 1u);
  EXPECT_THROW(loc.update("a@x",
                          [](std::vector<Binding>& bs) {
                            bs.clear();
                            throw std::runtime_error("after emptying");
                          }),
               std::runtime_error);
  EXPECT_EQ(loc.aorCount(), 0u);
}

TEST(LocationService, RestoreIfUnchangedSetsTheStoredBindingsBackKeepingFlows) {
  LocationService loc;
  Binding kept = makeBinding("a@x", "sip:kept@h", kNow + 60);
  kept.received.connectionId = 7;  // a live TCP flow: the store does not hold it
  Binding refused = makeBinding("a@x", "sip:refused@h", kNow + 60);
  std::vector<Binding> written{kept, refused};
  loc.update("a@x", [&](std::vector<Binding>& bs) { bs = written; });

  Binding stored = kept;  // the row as last committed: an older refresh of the same flow
  stored.received.connectionId = 0;
  stored.cseq = kept.cseq - 1;
  stored.expiresAt = kept.expiresAt - 30;
  Binding gone = makeBinding("a@x", "sip:removed-by-the-refused-register@h", kNow + 60);
  EXPECT_TRUE(loc.restoreIfUnchanged("a@x", written, {gone, stored}));
  std::vector<Binding> now = loc.lookup("a@x", kNow);
  ASSERT_EQ(now.size(), 2u);
  std::sort(now.begin(), now.end(), [](const Binding& l, const Binding& r) { return l.contact < r.contact; });
  EXPECT_EQ(now[0].contact, "sip:kept@h");
  EXPECT_EQ(now[0].cseq, stored.cseq);          // the refused refresh is undone...
  EXPECT_EQ(now[0].received.connectionId, 7u);  // ...and the phone is still reached over its connection
  EXPECT_EQ(now[1].contact, "sip:removed-by-the-refused-register@h");

  // Changed since the failed write (another REGISTER): left alone, its own write decides.
  std::vector<Binding> changed = loc.lookup("a@x", kNow);
  EXPECT_FALSE(loc.restoreIfUnchanged("a@x", written, {}));
  EXPECT_EQ(loc.lookup("a@x", kNow), changed);

  // A refused removal of a whole AOR (written: nothing left) brings its stored bindings back.
  EXPECT_TRUE(loc.restoreIfUnchanged("b@x", {}, {makeBinding("b@x", "sip:b@h", kNow + 60)}));
  EXPECT_EQ(loc.lookup("b@x", kNow).size(), 1u);
  // And a refused first registration (nothing stored) leaves the AOR unknown.
  std::vector<Binding> first{makeBinding("c@x", "sip:c@h", kNow + 60)};
  loc.update("c@x", [&](std::vector<Binding>& bs) { bs = first; });
  EXPECT_TRUE(loc.restoreIfUnchanged("c@x", first, {}));
  EXPECT_TRUE(loc.lookup("c@x", kNow).empty());
  EXPECT_EQ(loc.aorCount(), 2u);
}

TEST(LocationService, LoadGroupsByAor) {
  LocationService loc;
  loc.load({makeBinding("a@x", "sip:1@h", kNow + 10, 100), makeBinding("b@x", "sip:2@h", kNow + 10),
            makeBinding("a@x", "sip:3@h", kNow + 10, 900)});
  EXPECT_EQ(loc.aorCount(), 2u);
  EXPECT_EQ(loc.bindingCount(), 3u);
  std::vector<Binding> a = loc.lookup("a@x", kNow);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].contact, "sip:3@h");
  EXPECT_EQ(loc.snapshot().size(), 3u);
}

TEST(LocationService, PurgeExpiredReportsChangedAors) {
  LocationService loc;
  loc.load({makeBinding("a@x", "sip:1@h", kNow + 10), makeBinding("a@x", "sip:2@h", kNow + 100),
            makeBinding("b@x", "sip:3@h", kNow + 5), makeBinding("c@x", "sip:4@h", kNow + 100)});
  std::vector<std::pair<std::string, std::vector<Binding>>> changed;
  auto record = [&](const std::string& aor, const std::vector<Binding>& remaining) {
    changed.emplace_back(aor, remaining);
  };
  EXPECT_EQ(loc.purgeExpired(kNow + 10, record), 2u);
  std::sort(changed.begin(), changed.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].first, "a@x");
  ASSERT_EQ(changed[0].second.size(), 1u);
  EXPECT_EQ(changed[0].second[0].contact, "sip:2@h");
  EXPECT_EQ(changed[1].first, "b@x");
  EXPECT_TRUE(changed[1].second.empty());
  EXPECT_EQ(loc.aorCount(), 2u);
  EXPECT_EQ(loc.bindingCount(), 2u);
  changed.clear();
  EXPECT_EQ(loc.purgeExpired(kNow + 10, record), 0u);
  EXPECT_TRUE(changed.empty());
}

TEST(LocationService, PurgePersistsUnderTheAorsLock) {
  // The purge's snapshot of an AOR must reach the store before any later change of that AOR (a
  // REGISTER answered 200 meanwhile), so it is handed over while the AOR is still locked: an
  // update() of the same AOR from another thread waits for the callback to return.
  LocationService loc;
  loc.load({makeBinding("a@x", "sip:old@h", kNow + 10), makeBinding("a@x", "sip:kept@h", kNow + 100)});
  std::atomic<bool> updated{false};
  bool updatedDuringPersist = true;
  std::vector<std::string> order;
  std::mutex orderMutex;
  std::thread registrar;
  loc.purgeExpired(kNow + 10, [&](const std::string& aor, const std::vector<Binding>&) {
    {
      std::lock_guard lock(orderMutex);
      order.push_back("purge");
    }
    registrar = std::thread([&] {
      loc.update(aor, [&](std::vector<Binding>& list) {
        list.push_back(makeBinding("a@x", "sip:new@h", kNow + 3600));
        std::lock_guard lock(orderMutex);
        order.push_back("register");
      });
      updated = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    updatedDuringPersist = updated.load();
  });
  registrar.join();
  EXPECT_FALSE(updatedDuringPersist);
  EXPECT_EQ(order, (std::vector<std::string>{"purge", "register"}));
  EXPECT_EQ(loc.bindingCount(), 2u);
}

TEST(LocationService, ConcurrentUpdatesStayConsistent) {
  constexpr int kThreads = 4;
  constexpr int kUpdates = 10000;
  constexpr int kAors = 37;  // overlapping: every thread touches every AOR
  LocationService loc(8);
  std::atomic<long> net{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      long mine = 0;
      for (int i = 0; i < kUpdates; ++i) {
        std::string aor = "user" + std::to_string((i * 7 + t) % kAors) + "@example.com";
        mine += loc.update(aor, [&](std::vector<Binding>& bs) -> long {
          if (i % 3 == 2 && !bs.empty()) {
            bs.erase(bs.begin());
            return -1;
          }
          bs.push_back(makeBinding(aor, "sip:t" + std::to_string(t) + "-" + std::to_string(i) + "@h", kNow + 60));
          return 1;
        });
      }
      net += mine;
    });
  }
  // A reader alongside the writers.
  std::thread reader([&] {
    while (!stop) {
      for (int a = 0; a < kAors; ++a) {
        for (const Binding& b : loc.lookup("user" + std::to_string(a) + "@example.com", kNow)) {
          ASSERT_EQ(b.aor, "user" + std::to_string(a) + "@example.com");
        }
      }
    }
  });
  for (std::thread& th : threads) th.join();
  stop = true;
  reader.join();

  std::vector<Binding> all = loc.snapshot();
  EXPECT_EQ(static_cast<long>(all.size()), net.load());
  EXPECT_EQ(loc.bindingCount(), all.size());
  std::set<std::string> aors, contacts;
  for (const Binding& b : all) {
    aors.insert(b.aor);
    contacts.insert(b.contact);
  }
  EXPECT_EQ(loc.aorCount(), aors.size());
  EXPECT_EQ(contacts.size(), all.size());  // nothing duplicated or torn
  std::size_t viaLookup = 0;
  for (const std::string& aor : aors) viaLookup += loc.lookup(aor, kNow).size();
  EXPECT_EQ(viaLookup, all.size());
}

}  // namespace
}  // namespace sipwarden::registrar
