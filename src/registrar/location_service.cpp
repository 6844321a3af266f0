#include "registrar/location_service.hpp"

#include <algorithm>

namespace sipwarden::registrar {

bool morePreferred(const Binding& a, const Binding& b) {
  int qa = a.q < 0 ? 1000 : a.q;
  int qb = b.q < 0 ? 1000 : b.q;
  if (qa != qb) return qa > qb;
  if (a.updatedAt != b.updatedAt) return a.updatedAt > b.updatedAt;
  return a.contact < b.contact;
}

LocationService::LocationService(std::size_t shards)
    : count_(shards == 0 ? 1 : shards), shards_(std::make_unique<Shard[]>(count_)) {}

LocationService::Shard& LocationService::shardFor(std::string_view aor) const {
  std::size_t h = Hash{}(aor);
  // The map's buckets use the low bits of the same hash (modulo a prime); fold in the high bits
  // so that the shard and the bucket are not picked by the same bits.
  h ^= h >> 29;
  return shards_[h % count_];
}

void LocationService::settle(Shard& shard, Map::iterator it, std::vector<Binding>& fresh, std::string_view aor) {
  if (it != shard.map.end()) {
    if (it->second.empty()) shard.map.erase(it);
  } else if (!fresh.empty()) {
    shard.map.emplace(std::string(aor), std::move(fresh));
  }
}

std::vector<Binding> LocationService::lookup(std::string_view aor, std::int64_t nowUnix) const {
  std::vector<Binding> out;
  {
    Shard& shard = shardFor(aor);
    std::lock_guard lock(shard.mutex);
    auto it = shard.map.find(aor);
    if (it == shard.map.end()) return out;
    const std::vector<Binding>& all = it->second;
    out.reserve(static_cast<std::size_t>(
        std::count_if(all.begin(), all.end(), [&](const Binding& b) { return b.expiresAt > nowUnix; })));
    for (const Binding& b : all) {
      if (b.expiresAt > nowUnix) out.push_back(b);
    }
  }
  // Usually already in order (the registrar keeps it so); sorting outside the lock either way.
  if (!std::is_sorted(out.begin(), out.end(), morePreferred)) std::sort(out.begin(), out.end(), morePreferred);
  return out;
}

void LocationService::load(std::vector<Binding> bindings) {
  for (Binding& b : bindings) {
    Shard& shard = shardFor(b.aor);
    std::lock_guard lock(shard.mutex);
    auto it = shard.map.find(b.aor);
    if (it == shard.map.end()) it = shard.map.emplace(b.aor, std::vector<Binding>()).first;
    it->second.push_back(std::move(b));
  }
  for (std::size_t i = 0; i < count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    for (auto& [aor, list] : shards_[i].map) std::sort(list.begin(), list.end(), morePreferred);
  }
}

bool LocationService::restoreIfUnchanged(std::string_view aor, const std::vector<Binding>& written,
                                         std::vector<Binding> committed) {
  return update(aor, [&](std::vector<Binding>& bindings) {
    if (bindings != written) return false;
    for (Binding& c : committed) {
      for (const Binding& m : bindings) {
        if (m.contact != c.contact) continue;
        // Registered from the same flow (the refused refresh came over the connection the stored
        // row names): the connection is still the way to the contact.
        const transport::Peer& a = m.received;
        const transport::Peer& b = c.received;
        if (a.transport == b.transport && a.address == b.address && a.port == b.port && a.listener == b.listener) {
          c.received.connectionId = a.connectionId;
        }
        break;
      }
    }
    std::sort(committed.begin(), committed.end(), morePreferred);
    bindings = std::move(committed);
    return true;
  });
}

std::size_t LocationService::purgeExpired(
    std::int64_t nowUnix,
    const std::function<void(const std::string& aor, const std::vector<Binding>& remaining)>& persist) {
  std::size_t changed = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mutex);
    for (auto it = shard.map.begin(); it != shard.map.end();) {
      std::vector<Binding>& list = it->second;
      std::size_t removed = std::erase_if(list, [&](const Binding& b) { return b.expiresAt <= nowUnix; });
      if (removed == 0) {
        ++it;
        continue;
      }
      ++changed;
      if (persist) persist(it->first, list);
      it = list.empty() ? shard.map.erase(it) : std::next(it);
    }
  }
  return changed;
}

std::size_t LocationService::aorCount() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    n += shards_[i].map.size();
  }
  return n;
}

std::size_t LocationService::bindingCount() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    for (const auto& [aor, list] : shards_[i].map) n += list.size();
  }
  return n;
}

std::vector<Binding> LocationService::snapshot() const {
  std::vector<Binding> out;
  for (std::size_t i = 0; i < count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    for (const auto& [aor, list] : shards_[i].map) out.insert(out.end(), list.begin(), list.end());
  }
  return out;
}

}  // namespace sipwarden::registrar
