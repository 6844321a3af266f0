// The embedded store (ARCHITECTURE.md "Storage and scale-out"): one SQLite file in WAL mode with
// the users and their HA1 hashes, the persisted bindings of the location service, and the
// offline messages kept for users who are not registered (RFC 3428 store-and-forward).
//
// Two connections: a synchronous one for users, offline messages, start-up loads and purges (under
// a mutex), and the writer thread's, which applies binding changes by group commit: everything
// queued while the previous transaction was syncing is committed in the next one, so one fsync
// acknowledges many REGISTERs. A change's callback runs only after its COMMIT returned:
// acknowledged data survives a crash (synchronous=FULL) and a restart restores the bindings that
// have not expired.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "registrar/binding.hpp"
#include "storage/store_error.hpp"

namespace sipwarden::storage {

class Connection;
class Statement;

/// A SIP user: credentials as HA1 hashes (RFC 7616 §3.4.2 / RFC 8760), hex, "" when not set.
struct UserRecord {
  std::string user;
  std::string domain;  ///< compared case-insensitively (ASCII), as hosts are (RFC 3261 §19.1.4)
  std::string realm;
  std::string ha1Md5, ha1Sha256, ha1Sha512_256;
  std::int64_t createdAt = 0, updatedAt = 0;  ///< Unix seconds; 0 on add/update = "now"

  friend bool operator==(const UserRecord&, const UserRecord&) = default;
};

/// A MESSAGE (RFC 3428) kept for a recipient that had no binding when it arrived, until it is
/// delivered (deleteMessage after the recipient's 2xx) or it expires. A plain value.
struct StoredMessage {
  std::int64_t id = 0;          ///< assigned by storeMessage; ascending in arrival order, never reused
  std::string aor;              ///< the recipient, canonical "user@domain" (domain lower-cased); stored as given
  std::string sender;           ///< the From header field value as received (with its tag)
  std::string fromUri;          ///< the URI of the From header
  std::string toHeader;         ///< the To header field value as received
  std::string callId;           ///< the Call-ID of the original request
  std::string contentType;      ///< "" when the request had no Content-Type
  std::string body;             ///< the bytes of the body; may contain NUL (stored as a BLOB)
  std::int64_t receivedAt = 0;  ///< Unix seconds; 0 on store = "now"
  std::int64_t expiresAt = 0;   ///< Unix seconds; hidden and purged once expiresAt <= now
  std::uint32_t cseq = 0;       ///< the original CSeq number (0: stored by a version that did not keep it)

  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

/// What storeMessage did.
struct StoreMessageResult {
  enum class Status {
    Stored,  ///< committed (durable); `id` is the new message's
    Full,    ///< the recipient already had maxPerUser unexpired messages: nothing was written
  };
  Status status = Status::Stored;
  std::int64_t id = 0;  ///< 0 when Full

  friend bool operator==(const StoreMessageResult&, const StoreMessageResult&) = default;
};

struct StoreSettings {
  /// More changes than this waiting for the writer: replaceBindings fails at once.
  std::size_t maxQueued = 100000;
  /// At most this many changes per transaction (bounds the latency of the first one).
  std::size_t maxBatch = 8192;
  /// How long a statement waits for another connection's (or process's) write lock.
  int busyTimeoutMs = 5000;
  /// true: PRAGMA synchronous=FULL, every commit syncs the WAL to the disk (a commit survives a
  /// power loss). false: NORMAL, the WAL is synced only at checkpoints (a commit survives a crash
  /// or kill -9 of the server, not a power loss or an OS crash; no fdatasync per commit).
  bool syncEveryCommit = true;
};

class SqliteStore {
 public:
  /// Opens or creates the database at `file` (the parent directory must exist): WAL journal,
  /// synchronous=FULL (or NORMAL, StoreSettings::syncEveryCommit), busy timeout, foreign keys; the schema is versioned
  /// with PRAGMA user_version and migrated forward. Starts the writer thread. Throws StoreError.
  explicit SqliteStore(std::filesystem::path file, StoreSettings settings = {});
  /// Commits every queued change (running its callback), then stops the writer thread.
  ~SqliteStore();
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  [[nodiscard]] const std::filesystem::path& file() const { return file_; }
  /// The synchronous setting in force, as SQLite reports it: "full" or "normal".
  [[nodiscard]] std::string synchronousMode();

  // ---- users: synchronous (CLI, start-up, cache misses). Thread-safe: one connection under a
  // mutex, separate from the writer's. Throw StoreError on database errors (I/O, a lock held
  // longer than the busy timeout).
  /// False when (user, domain) exists already.
  bool addUser(const UserRecord& u);
  /// Replaces realm and hashes (created_at is kept). False when (user, domain) does not exist.
  /// Adds many users in one transaction (bulk provisioning); existing (user, domain) pairs are
  /// left as they are. Returns how many were added.
  std::size_t addUsers(const std::vector<UserRecord>& users);
  bool updateUser(const UserRecord& u);
  /// Removes the user and the stored bindings and offline messages of its AOR "user@domain"
  /// (domain lower-cased). False when the user did not exist.
  bool removeUser(std::string_view user, std::string_view domain);
  std::optional<UserRecord> findUser(std::string_view user, std::string_view domain);
  /// Every user, by domain then user.
  std::vector<UserRecord> listUsers();
  /// True when another connection (the CLI, another process) changed the users since the last
  /// call (or since opening). Cheap when nothing changed: reads PRAGMA data_version, and only when
  /// that moved, a users generation counter kept by triggers, so the commits of this store's own
  /// binding writer and its own user changes do not count.
  bool changedByOthers();

  // ---- bindings
  /// Unexpired bindings (expiresAt > nowUnix), by AOR. connectionId is 0: flows do not survive a
  /// restart. Synchronous; thread-safe; throws StoreError.
  std::vector<registrar::Binding> loadBindings(std::int64_t nowUnix);
  /// Deletes the rows with expiresAt <= nowUnix; returns how many. Synchronous; throws StoreError.
  std::size_t purgeExpired(std::int64_t nowUnix);
  /// Asynchronous group commit: replaces every binding of `aor` with `bindings` (empty = remove
  /// all). Changes are applied in the order of the calls (FIFO) by the writer thread, many per
  /// transaction. `done(ok)` runs on the writer thread after COMMIT returned (ok: durable) or the
  /// write failed; callbacks run in FIFO order and must not block long nor call back into the
  /// store's flush(). Never waits for the disk. When more than settings.maxQueued changes are
  /// waiting (or the store is closing), calls done(false) at once on the caller's thread.
  /// Thread-safe. `done` may be empty.
  void replaceBindings(std::string aor, std::vector<registrar::Binding> bindings, std::function<void(bool ok)> done);
  /// A change handed back to its sink once its COMMIT returned (ok: durable) or the write failed.
  struct FinishedChange {
    std::string aor;
    std::vector<registrar::Binding> bindings;
    std::uint64_t token = 0;
    bool ok = false;
  };
  /// Takes finished changes back, a batch at a time: the writer calls finished() once per
  /// committed batch with the changes of this sink that it finished, in FIFO order, on the writer
  /// thread (must not block long nor call flush()). Handing the change back lets the thread that
  /// built it free it: with glibc, memory freed by another thread ends up in that thread's cache
  /// and the producer's allocations take the slow path (measured at 10,000 REGISTER/s: malloc's
  /// slow path 6.5% of the server's samples before, 4.0% after). It also costs one hand-over per
  /// batch instead of one per change. Must
  /// outlive the changes it is given. Within a batch the callbacks of the other form run first:
  /// the order holds per sink and among callbacks, not across the two forms.
  class ChangeSink {
   public:
    virtual void finished(std::vector<FinishedChange> changes) = 0;

   protected:
    ~ChangeSink() = default;
  };
  /// replaceBindings with its outcome handed to `sink` along with the change (`token` is the
  /// caller's, given back). When the queue is full or the store closing, sink.finished() is called
  /// at once on the caller's thread with ok = false.
  void replaceBindings(std::string aor, std::vector<registrar::Binding> bindings, ChangeSink& sink,
                       std::uint64_t token);
  /// The rows of `aor` as committed at this point of the writer's order: after every change queued
  /// before the call was written (or failed), before any queued after it. What a failed change's
  /// caller needs to set its memory back to what the disk holds. `done(rows)` runs on the writer
  /// thread; std::nullopt when the read failed (lastWriteError() says why) or the store is closing. Not bounded by
  /// settings.maxQueued: a change refused for a full queue needs it most. Thread-safe.
  using CommittedFn = std::function<void(std::optional<std::vector<registrar::Binding>>)>;
  void committedBindings(std::string aor, CommittedFn done);
  /// Blocks until every change (and committedBindings read) queued before the call has been
  /// committed (or has failed) and its callback has run. Not from a done callback.
  void flush();

  // ---- offline messages (RFC 3428 store-and-forward): synchronous, on the same connection and
  // mutex as the users, so thread-safe; throw StoreError on database errors. Every write commits
  // (and, with synchronous=FULL, syncs) before returning, so it blocks for an fsync: keep it off
  // the network threads. AORs are compared exactly: pass canonical ones.
  /// Stores `m` (its id is ignored; receivedAt 0 = now) unless its recipient already has
  /// `maxPerUser` unexpired messages (expiresAt > m.receivedAt), in which case nothing is written
  /// and the result is Full. The count and the insert are one write transaction (BEGIN IMMEDIATE),
  /// so concurrent callers, even in other processes, cannot exceed the cap. The message is durable
  /// when this returns Stored: only then may the sender get its 202 Accepted.
  StoreMessageResult storeMessage(const StoredMessage& m, std::size_t maxPerUser);
  /// The unexpired messages (expiresAt > nowUnix) of `aor`, oldest first (by id).
  std::vector<StoredMessage> pendingMessages(std::string_view aor, std::int64_t nowUnix);
  /// Deletes one message (after its delivery was answered with a 2xx). False when it was not there
  /// (delivered, purged or removed already): deleting twice is harmless.
  bool deleteMessage(std::int64_t id);
  /// Deletes the messages with expiresAt <= nowUnix; returns how many.
  std::size_t purgeExpiredMessages(std::int64_t nowUnix);
  /// How many unexpired messages `aor` has.
  std::size_t messageCount(std::string_view aor, std::int64_t nowUnix);
  /// How many unexpired messages all recipients have together (stats, admin).
  std::size_t totalMessageCount(std::int64_t nowUnix);
  /// The AORs that have unexpired messages waiting, sorted (at start: whose REGISTER triggers a
  /// delivery).
  std::vector<std::string> aorsWithMessages(std::int64_t nowUnix);

  struct Stats {
    std::uint64_t commits = 0;   ///< transactions committed by the writer
    std::uint64_t changes = 0;   ///< replaceBindings changes committed
    std::uint64_t failures = 0;  ///< changes that failed (rejected when full, or not written)
  };
  [[nodiscard]] Stats stats() const;
  /// The message of the last write failure on the writer thread ("" if none).
  [[nodiscard]] std::string lastWriteError() const;

 private:
  struct Change {
    std::string aor;
    std::vector<registrar::Binding> bindings;
    std::function<void(bool)> done;
    CommittedFn read;  ///< set: not a change but a committedBindings read, served alone in order
    ChangeSink* sink = nullptr;  ///< set: the change goes back to it (then `done` is empty)
    std::uint64_t token = 0;
  };
  struct SyncStatements;
  struct WriterStatements;

  void migrate();
  void writerLoop();
  enum class WriteResult { Committed, FailedByAChange, Failed };
  /// Writes `batch` in one transaction (the last change of an AOR wins). FailedByAChange: the
  /// error came from one change's data (a constraint, a value too big), so that writing the others
  /// alone may succeed; Failed: the database could not be written (I/O, disk full, lock timeout).
  WriteResult writeBatch(std::vector<Change>& batch);
  void writeChange(const Change& c);
  /// Runs a committedBindings read on the writer's connection and calls its callback.
  void serveRead(Change& r);
  std::int64_t usersGeneration();
  /// Inside a write transaction on the sync connection, before changing users: notes a change by
  /// others that changedByOthers() has not seen yet.
  void noteOthersBeforeOwnWrite();

  std::filesystem::path file_;
  StoreSettings settings_;

  // The synchronous side.
  std::mutex syncMutex_;
  std::unique_ptr<Connection> sync_;
  std::unique_ptr<SyncStatements> syncSql_;
  std::int64_t lastDataVersion_ = 0;
  std::int64_t lastGeneration_ = 0;
  bool othersChanged_ = false;

  // The writer side: the connection and statements are used only by the writer thread.
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<WriterStatements> writerSql_;
  std::vector<std::pair<std::string_view, std::size_t>> byAor_;  ///< writeBatch's scratch (writer thread)
  /// Finished changes per sink, gathered after each batch (writer thread).
  std::vector<std::pair<ChangeSink*, std::vector<FinishedChange>>> toSinks_;
  /// Queues `c` (returns true), or returns false when the queue is full or the store closing.
  bool enqueue(Change&& c);
  mutable std::mutex queueMutex_;
  std::condition_variable queueCv_;  ///< writer waits for work
  std::condition_variable doneCv_;   ///< flush() waits for completed_
  std::deque<Change> queue_;
  std::uint64_t enqueued_ = 0;   ///< changes accepted so far
  std::uint64_t completed_ = 0;  ///< changes committed or failed, callbacks run
  bool stopping_ = false;
  std::string lastWriteError_;
  std::atomic<std::uint64_t> commits_{0}, changes_{0}, failures_{0};
  std::thread thread_;  // last: started when everything above exists
};

}  // namespace sipwarden::storage
