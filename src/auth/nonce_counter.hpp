// Replay protection for stateless nonces (RFC 7616 §3.4.5 and §5.5: the server remembers the
// highest nonce-count seen per nonce and refuses a request whose nc is not higher).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/nonce.hpp"

namespace sipwarden::auth {

/// Thread-safety: every member may be called concurrently. The table is split into kShards shards,
/// each behind its own mutex; the entry count is one atomic, so `maxEntries` bounds the whole table
/// exactly. No lock is held while another is taken.
class NonceCounter {
 public:
  static constexpr std::size_t kShards = 16;

  /// `maxEntries` bounds memory (one entry per nonce in use, about 150 bytes each).
  explicit NonceCounter(std::size_t maxEntries = 1 << 20);

  /// Longest nonce tracked (ours are NonceService::kNonceLength); held inline in the table's key,
  /// so that recording a nonce allocates only the table node.
  static constexpr std::size_t kMaxNonceLength = 64;

  /// True when nc is higher than every nc seen for `nonce` (and records it). False for a replay
  /// (nc <= the highest seen; nc 0 never passes, counts start at 1), for a nonce longer than
  /// kMaxNonceLength (never one of ours), or when the table is full even after purging the
  /// entries expired at `now`. `nonceExpiresAt` is when the entry may be dropped:
  /// after it the nonce is stale anyway.
  bool accept(std::string_view nonce, std::uint32_t nc, WallClock::time_point nonceExpiresAt,
              WallClock::time_point now);

  /// Drops the entries whose nonce expired at or before `now`.
  void purge(WallClock::time_point now);

  /// Number of nonces tracked.
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::uint32_t highest = 0;
    WallClock::time_point expiresAt;
  };
  struct Key {
    std::array<char, kMaxNonceLength> text{};
    std::uint8_t size = 0;
    explicit Key(std::string_view s) : size(static_cast<std::uint8_t>(s.size())) {
      std::copy_n(s.data(), s.size(), text.data());
    }
    [[nodiscard]] std::string_view view() const { return {text.data(), size}; }
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    std::size_t operator()(const Key& k) const { return (*this)(k.view()); }
  };
  struct Equal {
    using is_transparent = void;
    static std::string_view view(std::string_view s) { return s; }
    static std::string_view view(const Key& k) { return k.view(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return view(a) == view(b);
    }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<Key, Entry, Hash, Equal> entries;
  };
  enum class Attempt { Accepted, Replayed, Full };

  Shard& shardFor(std::string_view nonce);
  /// One try under the shard's lock.
  Attempt tryAccept(Shard& shard, std::string_view nonce, std::uint32_t nc, WallClock::time_point expiresAt);
  /// Reserves one slot of maxEntries_; false when none is left.
  bool reserve();

  const std::size_t maxEntries_;
  std::atomic<std::size_t> size_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace sipwarden::auth
