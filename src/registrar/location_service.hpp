// The location service (RFC 3261 §10): the bindings of every address-of-record, in memory.
// Durability is the caller's business: the registrar hands each change to a persist callback
// (the server queues it to storage::SqliteStore) while the AOR is still locked, so the store sees
// the changes of an AOR in the order they were applied.
//
// Thread-safety: every member is safe to call from any thread. The AORs are spread over N shards,
// each a mutex and a hash map; operations on different shards do not contend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "registrar/binding.hpp"

namespace sipwarden::registrar {

/// The order in which a proxy tries the contacts of an AOR: q descending (a contact without q
/// counts as q=1.0), then the most recently updated first, then by contact text (deterministic).
bool morePreferred(const Binding& a, const Binding& b);

class LocationService {
 public:
  explicit LocationService(std::size_t shards = 64);

  /// The unexpired bindings (expiresAt > nowUnix) of `aor`, most preferred first.
  [[nodiscard]] std::vector<Binding> lookup(std::string_view aor, std::int64_t nowUnix) const;

  /// Runs fn(std::vector<Binding>& bindingsOfAor) under the AOR's shard lock and returns its
  /// result. The vector is empty for an unknown AOR; an empty vector afterwards removes the AOR
  /// (an unknown AOR left empty costs no allocation). fn must not call back into this service; if
  /// it throws, what it changed before stays and the exception propagates.
  template <typename F>
  auto update(std::string_view aor, F&& fn);

  /// Adds bindings (at start, from the store) to whatever is there.
  void load(std::vector<Binding> bindings);

  /// After a failed write of `aor`: sets its bindings to `committed` (what the store holds) if they
  /// are still exactly `written` (what the failed write tried to store); a binding in both keeps
  /// its flow (connectionId, which the store does not hold). If they changed since, a later write
  /// carries them and its outcome decides: nothing is done. Returns true when it set them.
  bool restoreIfUnchanged(std::string_view aor, const std::vector<Binding>& written, std::vector<Binding> committed);

  /// Removes expired bindings (expiresAt <= nowUnix). For each AOR that changed,
  /// `persist(aor, remaining)` (empty: the AOR is gone) runs under the AOR's lock, as in update():
  /// the store then gets each AOR's changes in the order they were made here, and a REGISTER
  /// handled meanwhile cannot be overwritten by an older purge snapshot. Returns the number of
  /// AORs changed.
  std::size_t purgeExpired(
      std::int64_t nowUnix,
      const std::function<void(const std::string& aor, const std::vector<Binding>& remaining)>& persist);

  [[nodiscard]] std::size_t aorCount() const;
  /// Bindings held, including expired ones not purged yet.
  [[nodiscard]] std::size_t bindingCount() const;
  /// Every binding (expired ones included), for admin listings; by shard, unordered.
  [[nodiscard]] std::vector<Binding> snapshot() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::vector<Binding>, Hash, std::equal_to<>>;
  // A cache line each, so that two workers locking neighbouring shards do not share one.
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    Map map;
  };

  [[nodiscard]] Shard& shardFor(std::string_view aor) const;
  /// After fn ran on `it` (or on `fresh` when the AOR was unknown): inserts or erases the AOR.
  static void settle(Shard& shard, Map::iterator it, std::vector<Binding>& fresh, std::string_view aor);

  std::size_t count_;
  std::unique_ptr<Shard[]> shards_;
};

template <typename F>
auto LocationService::update(std::string_view aor, F&& fn) {
  Shard& shard = shardFor(aor);
  std::lock_guard lock(shard.mutex);
  auto it = shard.map.find(aor);
  std::vector<Binding> fresh;
  std::vector<Binding>& bindings = it != shard.map.end() ? it->second : fresh;
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, std::vector<Binding>&>>) {
      fn(bindings);
      settle(shard, it, fresh, aor);
    } else {
      auto result = fn(bindings);
      settle(shard, it, fresh, aor);
      return result;
    }
  } catch (...) {
    settle(shard, it, fresh, aor);  // whatever fn changed before it threw stays, as for a known AOR
    throw;
  }
}

}  // namespace sipwarden::registrar
