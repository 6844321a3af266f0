#include "im/offline_messages.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "storage/store_error.hpp"

namespace sipwarden::im {
namespace {

std::int64_t nowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

OfflineMessages::OfflineMessages(storage::SqliteStore& store, OfflineSettings settings)
    : store_(store), settings_(settings) {
  for (std::string& aor : store_.aorsWithMessages(nowUnix())) waiting_.insert(std::move(aor));
  boost::asio::post(pool_, [] { ::pthread_setname_np(::pthread_self(), "sw-offline"); });
}

OfflineMessages::~OfflineMessages() { stop(); }

void OfflineMessages::stop() { pool_.join(); }

void OfflineMessages::store(storage::StoredMessage m, std::function<void(StoreResult)> done) {
  boost::asio::post(pool_, [this, m = std::move(m), done = std::move(done)]() mutable {
    StoreResult result = StoreResult::Failed;
    try {
      m.receivedAt = nowUnix();
      m.expiresAt = m.receivedAt + settings_.expiry.count();
      storage::StoreMessageResult r = store_.storeMessage(m, settings_.maxPerUser);
      if (r.status == storage::StoreMessageResult::Status::Stored) {
        std::lock_guard lock(mutex_);
        waiting_.insert(m.aor);
        result = StoreResult::Stored;
      } else {
        result = StoreResult::Full;
      }
    } catch (const std::exception& e) {
      spdlog::error("offline message for {} not stored: {}", m.aor, e.what());
    }
    done(result);
  });
}

bool OfflineMessages::beginDelivery(const std::string& aor) {
  std::lock_guard lock(mutex_);
  if (waiting_.find(aor) == waiting_.end() || delivering_.count(aor) > 0) return false;
  delivering_.insert(aor);
  return true;
}

void OfflineMessages::finishDelivery(const std::string& aor) {
  std::lock_guard lock(mutex_);
  delivering_.erase(aor);
}

void OfflineMessages::pending(std::string aor, std::function<void(std::vector<storage::StoredMessage>)> done) {
  boost::asio::post(pool_, [this, aor = std::move(aor), done = std::move(done)] {
    std::vector<storage::StoredMessage> out;
    bool read = false;
    try {
      out = store_.pendingMessages(aor, nowUnix());
      read = true;
    } catch (const std::exception& e) {
      spdlog::error("offline messages of {} not read: {}", aor, e.what());
    }
    if (read && out.empty()) {  // a failed read keeps the mark: the next REGISTER tries again
      std::lock_guard lock(mutex_);
      waiting_.erase(aor);
    }
    done(std::move(out));
  });
}

void OfflineMessages::remove(std::int64_t id, std::string aor) {
  boost::asio::post(pool_, [this, id, aor = std::move(aor)] {
    try {
      store_.deleteMessage(id);
    } catch (const std::exception& e) {
      spdlog::error("delivered offline message {} of {} not removed: {}", id, aor, e.what());
    }
  });
}

void OfflineMessages::purgeExpired() {
  boost::asio::post(pool_, [this] {
    try {
      std::size_t n = store_.purgeExpiredMessages(nowUnix());
      if (n > 0) spdlog::info("{} offline message(s) expired unread", n);
    } catch (const std::exception& e) {
      spdlog::error("expired offline messages not purged: {}", e.what());
    }
  });
}

std::size_t OfflineMessages::recipientsWaiting() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

}  // namespace sipwarden::im
