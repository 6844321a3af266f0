// Offline store-and-forward for MESSAGE (RFC 3428 §4 leaves it to the server): a MESSAGE to a
// known user with no binding is kept durably and answered 202; when the user next registers the
// messages are delivered in order and each is removed only after the recipient's 2xx.
//
// This class owns the policy around storage::SqliteStore's message table: the cap and expiry, the
// blocking work on a thread of its own (a store commits with fsync; workers never wait for it),
// the in-memory set of recipients with messages waiting (so that a REGISTER costs a hash lookup,
// not a query), and the recipients whose delivery is under way (one delivery per recipient).
//
// Thread-safety: every member may be called from any thread; callbacks run on the store thread.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "storage/sqlite_store.hpp"

namespace sipwarden::im {

struct OfflineSettings {
  std::size_t maxPerUser = 100;                  ///< more waiting: the sender gets 486
  std::chrono::seconds expiry{7 * 24 * 3600};    ///< then the message is dropped unread
};

class OfflineMessages {
 public:
  enum class StoreResult { Stored, Full, Failed };

  /// Loads the recipients with messages waiting. `store` must outlive this object.
  OfflineMessages(storage::SqliteStore& store, OfflineSettings settings);
  /// Finishes the queued work (every acknowledged store is durable before it was acknowledged).
  ~OfflineMessages();
  /// Finishes the queued work now and runs no more. The `done` callbacks post to the workers'
  /// io_contexts: the server calls this once its workers have stopped and before they are
  /// destroyed. Idempotent; the destructor calls it too.
  void stop();
  OfflineMessages(const OfflineMessages&) = delete;
  OfflineMessages& operator=(const OfflineMessages&) = delete;

  /// Stores `m` (its expiry set from the settings) and calls done(result) once it is durable or
  /// refused.
  void store(storage::StoredMessage m, std::function<void(StoreResult)> done);

  /// True when `aor` may have messages waiting and no delivery to it is under way; the caller
  /// then owns the delivery until finishDelivery(aor).
  bool beginDelivery(const std::string& aor);
  void finishDelivery(const std::string& aor);
  /// The waiting messages of `aor`, oldest first (done runs on the store thread).
  void pending(std::string aor, std::function<void(std::vector<storage::StoredMessage>)> done);
  /// Removes a delivered message (after the recipient's 2xx).
  void remove(std::int64_t id, std::string aor);
  /// Drops expired messages (housekeeping).
  void purgeExpired();

  [[nodiscard]] const OfflineSettings& settings() const { return settings_; }
  [[nodiscard]] std::size_t recipientsWaiting() const;

 private:
  storage::SqliteStore& store_;
  OfflineSettings settings_;
  mutable std::mutex mutex_;
  std::set<std::string, std::less<>> waiting_;     ///< recipients that may have messages
  std::set<std::string, std::less<>> delivering_;  ///< recipients with a delivery under way
  boost::asio::thread_pool pool_{1};
};

}  // namespace sipwarden::im
