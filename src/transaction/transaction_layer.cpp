// The parts of TransactionLayer shared by both sides: the slot table, the index, the timer heap,
// dispatch of received messages, and branch generation. The state machines are in
// server_transaction.cpp and client_transaction.cpp.
#include "transaction/transaction_layer.hpp"

#include <random>

#include "sip/serializer.hpp"
#include "transaction/transaction_key.hpp"

namespace sipwarden::transaction {

TransactionLayer::TransactionLayer(Sender& sender, TransactionUser& tu, TimerSettings timers)
    : sender_(sender), tu_(tu), timers_(timers) {}

void TransactionLayer::receive(sip::Message& msg, const transport::Peer& from, TimePoint now) {
  if (msg.isResponse()) {
    receiveResponse(msg, from, now);
    return;
  }
  // Bad input is not a bug: without Via, From, To, Call-ID and CSeq nothing can be matched.
  if (!msg.canBuildResponse()) {
    ++stats_.invalidDropped;
    return;
  }
  switch (msg.method()) {
    case sip::Method::Ack: receiveAck(msg, from, now); break;
    case sip::Method::Cancel: receiveCancel(msg, from, now); break;
    default: receiveRequest(msg, from, now); break;
  }
}

bool TransactionLayer::sendStateless(const sip::Message& msg, const transport::Peer& to) {
  wireScratch_.clear();
  sip::serialize(msg, wireScratch_);
  if (sender_.send(to, wireScratch_)) return true;
  ++stats_.sendFailures;
  return false;
}

bool TransactionLayer::terminate(TransactionId id) {
  std::uint32_t slot = slotOf(id);
  if (slot == kNoSlot) return false;
  destroy(slot);
  return true;
}

std::optional<State> TransactionLayer::state(TransactionId id) const {
  std::uint32_t slot = slotOf(id);
  if (slot == kNoSlot) return std::nullopt;
  return slots_[slot].state;
}

// ---- slot table ----

std::uint32_t TransactionLayer::allocate(Kind kind, const transport::Peer& peer) {
  std::uint32_t slot = 0;
  if (!freeSlots_.empty()) {
    slot = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Transaction& tx = slots_[slot];
  tx.key = keyScratch_;
  tx.keyHash = detail::hashKey(tx.key);
  tx.peer = peer;
  tx.kind = kind;
  tx.live = true;
  tx.reliable = transport::isReliable(peer.transport);
  tx.rfc2543 = detail::isRfc2543Key(tx.key);
  tx.sentResponse = false;
  tx.interval = timers_.t1;
  index_.insert(slot, tx.keyHash);
  if (tx.isServer()) {
    ++servers_;
  } else {
    ++clients_;
  }
  return slot;
}

void TransactionLayer::countDown(ConnectionCounts& counts, std::uint64_t connectionId) {
  if (auto it = counts.find(connectionId); it != counts.end() && --it->second == 0) counts.erase(it);
}

void TransactionLayer::destroy(std::uint32_t slot) {
  Transaction& tx = slots_[slot];
  for (std::uint32_t& tag : tx.timerTag) {
    if (tag != 0) ++staleTimers_;
    tag = 0;
  }
  index_.erase(slot, tx.keyHash);
  if (tx.failsWithConnection) {
    tx.failsWithConnection = false;
    countDown(requestConnections_, tx.peer.connectionId);
  }
  settleAnswer(tx);
  if (tx.isServer()) {
    --servers_;
  } else {
    --clients_;
  }
  // Memory returns with the transaction; the slot itself stays in the table for reuse.
  release(tx.key);
  release(tx.bytes);
  release(tx.responseToTag);
  tx.live = false;
  // A slot whose generation would wrap is retired, so that no id is ever handed out twice.
  if (++tx.generation != 0) freeSlots_.push_back(slot);
  maybeCompactTimers();
}

std::uint32_t TransactionLayer::lookup(std::string_view key) const {
  auto slot =
      index_.find(key, detail::hashKey(key), [this](std::uint32_t s) -> std::string_view { return slots_[s].key; });
  return slot ? *slot : kNoSlot;
}

std::uint32_t TransactionLayer::slotOf(TransactionId id) const {
  auto slot = static_cast<std::uint32_t>(id & 0xffffffffU);
  auto generation = static_cast<std::uint32_t>(id >> 32);
  if (slot >= slots_.size() || !slots_[slot].live || slots_[slot].generation != generation) return kNoSlot;
  return slot;
}

// ---- timers ----

void TransactionLayer::arm(std::uint32_t slot, detail::Timer which, TimePoint when) {
  disarm(slot, which);
  timerSerial_ += 2;
  if (timerSerial_ == 0) timerSerial_ = 2;  // after 2^31 arms; a tag of 0 would mean "not armed"
  std::uint32_t tag = timerSerial_ | which;
  slots_[slot].timerTag[which] = tag;
  queue_.push(detail::TimerEntry{when, slot, tag});
  if (timerArmed_) timerArmed_(when);
}

void TransactionLayer::disarm(std::uint32_t slot, detail::Timer which) {
  std::uint32_t& tag = slots_[slot].timerTag[which];
  if (tag == 0) return;
  tag = 0;
  ++staleTimers_;
  maybeCompactTimers();
}

bool TransactionLayer::timerLive(const detail::TimerEntry& e) const {
  return e.slot < slots_.size() && slots_[e.slot].timerTag[e.tag & 1] == e.tag;
}

void TransactionLayer::dropStaleTop() const {
  while (!queue_.empty() && !timerLive(queue_.top())) {
    queue_.pop();
    --staleTimers_;
  }
}

void TransactionLayer::maybeCompactTimers() {
  // Lazy deletion leaves an entry per cancelled timer (F or B still pending when the final
  // arrives); sweep once they are the majority so memory follows the live transactions.
  if (staleTimers_ > 256 && staleTimers_ * 2 > queue_.size()) {
    queue_.compact([this](const detail::TimerEntry& e) { return timerLive(e); });
    staleTimers_ = 0;
  }
}

std::optional<TimePoint> TransactionLayer::nextTimer() const {
  dropStaleTop();
  if (queue_.empty()) return std::nullopt;
  return queue_.top().when;
}

void TransactionLayer::advance(TimePoint now) {
  while (true) {
    dropStaleTop();
    if (queue_.empty() || queue_.top().when > now) return;
    detail::TimerEntry e = queue_.pop();
    auto which = static_cast<detail::Timer>(e.tag & 1);
    slots_[e.slot].timerTag[which] = 0;  // fired: no longer armed
    if (slots_[e.slot].isServer()) {
      fireServerTimer(e.slot, which, now);
    } else {
      fireClientTimer(e.slot, which, now);
    }
  }
}

// ---- branches ----

namespace {

// xoshiro256** (Blackman and Vigna): fast, and its state is seeded from random_device.
class BranchSource {
 public:
  BranchSource() {
    std::random_device rd;
    for (std::uint64_t& word : s_) word = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 0x9e3779b97f4a7c15ULL;
    salt_ = next();
  }

  std::uint64_t next() {
    std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Distinct for every call on this thread; distinct across threads unless two 64-bit random
  /// salts collide.
  std::uint64_t unique() { return salt_ + counter_++; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4] = {};
  std::uint64_t salt_ = 0;
  std::uint64_t counter_ = 0;
};

void appendBase32(std::string& out, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";
  for (int i = 0; i < 13; ++i) {  // 13 * 5 = 65 bits
    out.push_back(kDigits[v & 31]);
    v >>= 5;
  }
}

}  // namespace

std::string TransactionLayer::newBranch() {
  thread_local BranchSource source;
  std::string branch;
  branch.reserve(sip::kMagicCookie.size() + 26);
  branch.append(sip::kMagicCookie);
  appendBase32(branch, source.next());
  appendBase32(branch, source.unique());
  return branch;
}

}  // namespace sipwarden::transaction
