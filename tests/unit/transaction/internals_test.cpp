// The building blocks: the matching index against std::unordered_map under random inserts and
// erases, the timer heap's order, branch generation, and transaction ids never being reused.
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "sip/chars.hpp"
#include "test_support.hpp"
#include "transaction/timer_queue.hpp"
#include "transaction/transaction_index.hpp"
#include "transaction/transaction_key.hpp"

namespace sipwarden::transaction::test {
namespace {

TEST(TransactionIndex, AgreesWithUnorderedMapUnderRandomOperations) {
  std::mt19937_64 rng(42);
  std::vector<std::string> keys(4096);
  for (std::size_t i = 0; i < keys.size(); ++i)
    keys[i] = "k" + std::to_string(rng() % 100000) + "/" + std::to_string(i);
  auto keyOf = [&](std::uint32_t slot) -> std::string_view { return keys[slot]; };

  detail::TransactionIndex index;
  std::unordered_map<std::uint32_t, bool> present;
  for (int step = 0; step < 200000; ++step) {
    auto slot = static_cast<std::uint32_t>(rng() % keys.size());
    std::uint32_t hash = detail::hashKey(keys[slot]);
    auto found = index.find(keys[slot], hash, keyOf);
    ASSERT_EQ(found.has_value(), present[slot]) << step;
    if (found) {
      ASSERT_EQ(*found, slot);
      index.erase(slot, hash);
      present[slot] = false;
    } else {
      index.insert(slot, hash);
      present[slot] = true;
    }
  }
  std::size_t live = 0;
  for (auto& [slot, on] : present) live += on ? 1 : 0;
  EXPECT_EQ(index.size(), live);
  for (auto& [slot, on] : present) {
    if (on) index.erase(slot, detail::hashKey(keys[slot]));
  }
  EXPECT_EQ(index.size(), 0U);
  EXPECT_FALSE(index.find(keys[0], detail::hashKey(keys[0]), keyOf));
}

TEST(TransactionIndex, CollidingHashesStayFindable) {
  // Every key with the same hash: one long probe run, emptied from the middle.
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back("key" + std::to_string(i));
  auto keyOf = [&](std::uint32_t slot) -> std::string_view { return keys[slot]; };
  detail::TransactionIndex index;
  for (std::uint32_t i = 0; i < keys.size(); ++i) index.insert(i, 7);
  for (std::uint32_t i = 0; i < keys.size(); i += 2) index.erase(i, 7);
  for (std::uint32_t i = 0; i < keys.size(); ++i) {
    auto found = index.find(keys[i], 7, keyOf);
    EXPECT_EQ(found.has_value(), i % 2 == 1) << i;
  }
}

TEST(TimerQueue, PopsInDeadlineOrderThenArmingOrder) {
  detail::TimerQueue q;
  TimePoint t0{};
  std::mt19937 rng(7);
  for (std::uint32_t i = 1; i <= 1000; ++i) q.push({t0 + milliseconds(rng() % 50), i, i * 2});
  TimePoint last = t0;
  std::uint32_t lastTag = 0;
  while (!q.empty()) {
    detail::TimerEntry e = q.pop();
    ASSERT_GE(e.when, last);
    if (e.when == last) {
      ASSERT_GT(e.tag, lastTag);
    }
    last = e.when;
    lastTag = e.tag;
  }
}

TEST(TimerQueue, CompactDropsDeadEntries) {
  detail::TimerQueue q;
  for (std::uint32_t i = 1; i <= 1000; ++i) q.push({TimePoint{} + milliseconds(1000 - i), i, i * 2});
  q.compact([](const detail::TimerEntry& e) { return e.slot % 10 == 0; });
  EXPECT_EQ(q.size(), 100U);
  EXPECT_EQ(q.pop().slot, 1000U);
}

TEST(Branch, MagicCookieTokenAndUnique) {
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    std::string b = TransactionLayer::newBranch();
    ASSERT_EQ(b.rfind("z9hG4bK", 0), 0U);
    ASSERT_EQ(b.size(), 7U + 26U);
    for (char c : b.substr(7)) ASSERT_TRUE(sip::chars::isToken(c) && sip::chars::toLower(c) == c);
    ASSERT_TRUE(seen.insert(b).second);
  }
  sip::Via via;
  std::string text = "SIP/2.0/UDP h;branch=" + TransactionLayer::newBranch();
  ASSERT_EQ(sip::parseVia(text, via), nullptr);
  EXPECT_TRUE(via.isRfc3261Branch());
}

TEST(Branch, UniqueAcrossThreads) {
  std::vector<std::string> a, b;
  std::thread ta([&] {
    for (int i = 0; i < 5000; ++i) a.push_back(TransactionLayer::newBranch());
  });
  std::thread tb([&] {
    for (int i = 0; i < 5000; ++i) b.push_back(TransactionLayer::newBranch());
  });
  ta.join();
  tb.join();
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 10000U);
}

TEST(TransactionKey, ServerKeysFollowSection17_2_3) {
  sip::Message invite = request(RequestSpec{});
  RequestSpec ackSpec = makeSpec("ACK", RequestSpec{}.branch, [](RequestSpec& s) { s.toTag = "x"; });
  sip::Message ack = request(ackSpec);
  std::string k1, k2;
  detail::serverKey(invite, "INVITE", "", k1);
  detail::serverKey(ack, "INVITE", "x", k2);
  EXPECT_EQ(k1, k2);  // RFC 3261 branch: the To tag plays no part
  EXPECT_FALSE(detail::isRfc2543Key(k1));
  sip::Message old = request(makeSpec("INVITE", ""));
  detail::serverKey(old, "INVITE", "", k1);
  EXPECT_TRUE(detail::isRfc2543Key(k1));
  detail::serverKey(old, "INVITE", "t", k2);
  EXPECT_NE(k1, k2);
  detail::clientKey("z9hG4bKAbc", "INVITE", k1);
  detail::clientKey("z9hG4bKabc", "INVITE", k2);
  EXPECT_EQ(k1, k2);
  detail::clientKey("z9hG4bKabc", "CANCEL", k2);
  EXPECT_NE(k1, k2);
}

class Ids : public LayerTest {};

TEST_F(Ids, NeverReusedAndStaleIdsAreRefused) {
  std::set<TransactionId> ids;
  std::vector<TransactionId> order;
  for (int i = 0; i < 500; ++i) {
    RequestSpec s = makeSpec("OPTIONS", "z9hG4bKid" + std::to_string(i), [](RequestSpec& x) { x.transport = "TCP"; });
    deliver(requestText(s), uacTcp);
    TransactionId id = tu.events.back().id;
    ASSERT_NE(id, 0U);
    ASSERT_TRUE(ids.insert(id).second);
    order.push_back(id);
    sip::Message r = request(s);
    if (i % 3 != 0) {
      ASSERT_TRUE(respond(id, r, 200));  // reliable: gone at once, slot reused
    }
  }
  sip::Message r = request(makeSpec("OPTIONS", "z9hG4bKany"));
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(layer.state(order[i]).has_value(), i % 3 == 0);
  }
  EXPECT_EQ(layer.serverCount(), 167U);
  EXPECT_FALSE(layer.respond(order[1], sip::Message::responseTo(r, 200), now));
}

TEST_F(Ids, NextTimerSkipsCancelledTimers) {
  EXPECT_FALSE(layer.nextTimer());
  sip::Message m = request(makeSpec("OPTIONS", "z9hG4bKnt"));
  TransactionId id = layer.sendRequest(m, uas, now);
  EXPECT_EQ(layer.nextTimer(), now + 500ms);  // Timer E
  deliver(responseText(makeSpec("OPTIONS", "z9hG4bKnt"), 200), uas);
  EXPECT_EQ(layer.nextTimer(), now + 5000ms);  // E and F cancelled; Timer K
  EXPECT_TRUE(layer.terminate(id));
  EXPECT_FALSE(layer.nextTimer());
}

}  // namespace
}  // namespace sipwarden::transaction::test
