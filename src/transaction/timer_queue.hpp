// The timers of every transaction of one TransactionLayer: a binary min-heap with lazy deletion.
// Re-arming or cancelling a timer does not search the heap; the owner bumps a tag kept in the
// transaction, and an entry whose tag no longer matches is dropped when it reaches the top (or
// when compact() sweeps the heap because stale entries outnumber live ones).
//
// Thread-safety: none; owned by one TransactionLayer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace sipwarden::transaction::detail {

struct TimerEntry {
  std::chrono::steady_clock::time_point when;
  std::uint32_t slot = 0;  ///< the transaction's slot in the layer's table
  std::uint32_t tag = 0;   ///< serial << 1 | which timer; never 0 (0 means "not armed")
};

class TimerQueue {
 public:
  [[nodiscard]] bool empty() const { return heap_.empty(); }
  [[nodiscard]] std::size_t size() const { return heap_.size(); }
  [[nodiscard]] const TimerEntry& top() const { return heap_.front(); }

  void push(const TimerEntry& e) {
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), later);
  }

  TimerEntry pop() {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    TimerEntry e = heap_.back();
    heap_.pop_back();
    return e;
  }

  /// Removes every entry for which live(entry) is false and restores the heap; gives back the
  /// memory when most of it was stale.
  template <typename Live>
  void compact(Live&& live) {
    std::erase_if(heap_, [&](const TimerEntry& e) { return !live(e); });
    std::make_heap(heap_.begin(), heap_.end(), later);
    if (heap_.capacity() > 64 && heap_.size() < heap_.capacity() / 4) heap_.shrink_to_fit();
  }

 private:
  // Earliest deadline on top; equal deadlines fire in the order they were armed.
  static bool later(const TimerEntry& a, const TimerEntry& b) {
    return a.when != b.when ? a.when > b.when : a.tag > b.tag;
  }

  std::vector<TimerEntry> heap_;
};

}  // namespace sipwarden::transaction::detail
