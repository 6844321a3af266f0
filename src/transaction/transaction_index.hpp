// The matching table of one TransactionLayer: transaction key -> slot, open addressing with
// linear probing and backward-shift deletion. The keys themselves live in the transactions (the
// caller passes `keyOf(slot)`), so an entry is 8 bytes and a lookup allocates nothing. The table
// grows at half load and shrinks when it falls below an eighth, so memory returns when the
// transactions do.
//
// Thread-safety: none; owned by one TransactionLayer.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace sipwarden::transaction::detail {

inline std::uint32_t hashKey(std::string_view key) {
  std::size_t h = std::hash<std::string_view>{}(key);
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

class TransactionIndex {
 public:
  [[nodiscard]] std::size_t size() const { return size_; }

  /// The slot whose key equals `key`, or nullopt.
  template <typename KeyOf>
  [[nodiscard]] std::optional<std::uint32_t> find(std::string_view key, std::uint32_t hash, KeyOf&& keyOf) const {
    if (entries_.empty()) return std::nullopt;
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.slotPlus1 == 0) return std::nullopt;
      if (e.hash == hash && keyOf(e.slotPlus1 - 1) == key) return e.slotPlus1 - 1;
    }
  }

  /// Precondition: no entry has the same key.
  void insert(std::uint32_t slot, std::uint32_t hash) {
    if ((size_ + 1) * 2 > entries_.size()) rehash(entries_.empty() ? kMinCapacity : entries_.size() * 2);
    place(Entry{slot + 1, hash});
    ++size_;
  }

  /// Removes the entry of `slot` (inserted with `hash`); no-op when absent.
  void erase(std::uint32_t slot, std::uint32_t hash) {
    if (entries_.empty()) return;
    std::size_t i = hash & mask_;
    while (entries_[i].slotPlus1 != slot + 1) {
      if (entries_[i].slotPlus1 == 0) return;
      i = (i + 1) & mask_;
    }
    // Backward-shift deletion: pull later entries of the probe run into the hole so that no
    // tombstones are needed.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; entries_[j].slotPlus1 != 0; j = (j + 1) & mask_) {
      std::size_t home = entries_[j].hash & mask_;
      // Move entry j into the hole unless its home lies cyclically in (hole, j].
      bool homeBetween = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!homeBetween) {
        entries_[hole] = entries_[j];
        hole = j;
      }
    }
    entries_[hole] = Entry{};
    --size_;
    if (entries_.size() > kMinCapacity && size_ * 8 < entries_.size()) rehash(entries_.size() / 2);
  }

 private:
  struct Entry {
    std::uint32_t slotPlus1 = 0;  ///< 0: empty
    std::uint32_t hash = 0;
  };
  static constexpr std::size_t kMinCapacity = 64;

  void place(Entry e) {
    std::size_t i = e.hash & mask_;
    while (entries_[i].slotPlus1 != 0) i = (i + 1) & mask_;
    entries_[i] = e;
  }

  void rehash(std::size_t capacity) {
    std::vector<Entry> old;
    old.swap(entries_);
    entries_.assign(capacity, Entry{});
    mask_ = capacity - 1;
    for (const Entry& e : old) {
      if (e.slotPlus1 != 0) place(e);
    }
  }

  std::vector<Entry> entries_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace sipwarden::transaction::detail
