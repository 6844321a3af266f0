#include "auth/nonce_counter.hpp"

namespace sipwarden::auth {

NonceCounter::NonceCounter(std::size_t maxEntries) : maxEntries_(maxEntries) {}

NonceCounter::Shard& NonceCounter::shardFor(std::string_view nonce) {
  // The low bits feed the buckets inside the shard; take high bits for the shard.
  std::size_t h = Hash{}(nonce);
  return shards_[(h >> (sizeof(std::size_t) * 8 - 8)) % kShards];
}

bool NonceCounter::reserve() {
  std::size_t current = size_.load(std::memory_order_relaxed);
  while (current < maxEntries_) {
    if (size_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

NonceCounter::Attempt NonceCounter::tryAccept(Shard& shard, std::string_view nonce, std::uint32_t nc,
                                              WallClock::time_point expiresAt) {
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(nonce);
  if (it != shard.entries.end()) {
    if (nc <= it->second.highest) return Attempt::Replayed;
    it->second.highest = nc;
    return Attempt::Accepted;
  }
  if (nc == 0) return Attempt::Replayed;
  if (!reserve()) return Attempt::Full;
  shard.entries.emplace(Key(nonce), Entry{nc, expiresAt});
  return Attempt::Accepted;
}

bool NonceCounter::accept(std::string_view nonce, std::uint32_t nc, WallClock::time_point nonceExpiresAt,
                          WallClock::time_point now) {
  if (nonce.size() > kMaxNonceLength) return false;
  Shard& shard = shardFor(nonce);
  Attempt attempt = tryAccept(shard, nonce, nc, nonceExpiresAt);
  if (attempt != Attempt::Full) return attempt == Attempt::Accepted;
  // Full: free what has expired (shard locks taken one at a time, none held here), then retry once.
  purge(now);
  return tryAccept(shard, nonce, nc, nonceExpiresAt) == Attempt::Accepted;
}

void NonceCounter::purge(WallClock::time_point now) {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    std::size_t dropped = std::erase_if(shard.entries, [now](const auto& kv) { return kv.second.expiresAt <= now; });
    size_.fetch_sub(dropped, std::memory_order_relaxed);
  }
}

}  // namespace sipwarden::auth
