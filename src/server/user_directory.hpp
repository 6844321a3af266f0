// The users the server authenticates, held in memory for the data plane and reloaded from the
// store when it changes (the `sipwarden user` CLI writes the same SQLite file from another
// process). Thread-safe: readers take a snapshot (a shared_ptr to an immutable map).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/authenticator.hpp"
#include "auth/digest.hpp"
#include "storage/sqlite_store.hpp"

namespace sipwarden::server {

class UserDirectory {
 public:
  explicit UserDirectory(storage::SqliteStore& store) : store_(store) {}

  /// Reads every user from the store and swaps the snapshot in. Returns the number of users.
  std::size_t reload();
  /// HA1 values of `user` in `domain` when its realm is `realm` (empty otherwise): a view into the
  /// current snapshot, which it keeps alive; nothing is copied.
  auth::Ha1Ref find(std::string_view user, std::string_view domain, std::string_view realm) const;
  bool exists(std::string_view user, std::string_view domain) const;
  std::size_t size() const;

 private:
  struct Entry {
    std::string realm;
    auth::Ha1Set ha1;
  };
  using Map = std::unordered_map<std::string, Entry>;  // key "user@domain"
  std::shared_ptr<const Map> snapshot() const;

  storage::SqliteStore& store_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Map> users_ = std::make_shared<Map>();
};

}  // namespace sipwarden::server
