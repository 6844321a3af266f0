#include "storage/sqlite_store.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <string>
#include <unordered_map>
#include <utility>

#include "storage/sqlite_connection.hpp"

namespace sipwarden::storage {

namespace {

// Schema migrations: kMigrations[v] takes a database from user_version v to v + 1. Append only;
// never edit a released step.
constexpr const char* kMigrations[] = {
    // 0 -> 1: users, bindings, and the users generation counter behind changedByOthers().
    R"sql(
CREATE TABLE users(
  user TEXT NOT NULL,
  domain TEXT NOT NULL COLLATE NOCASE,
  realm TEXT NOT NULL,
  ha1_md5 TEXT NOT NULL DEFAULT '',
  ha1_sha256 TEXT NOT NULL DEFAULT '',
  ha1_sha512_256 TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(user, domain)
) WITHOUT ROWID;
CREATE TABLE bindings(
  aor TEXT NOT NULL,
  contact TEXT NOT NULL,
  call_id TEXT NOT NULL,
  cseq INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  q INTEGER NOT NULL,
  path TEXT NOT NULL,
  instance TEXT NOT NULL,
  reg_id INTEGER NOT NULL,
  user_agent TEXT NOT NULL,
  transport TEXT NOT NULL,
  address TEXT NOT NULL,
  port INTEGER NOT NULL,
  listener INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(aor, contact)
) WITHOUT ROWID;
CREATE INDEX bindings_expires_at ON bindings(expires_at);
CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta(name, value) VALUES('users_generation', 0);
CREATE TRIGGER users_inserted AFTER INSERT ON users BEGIN
  UPDATE meta SET value = value + 1 WHERE name = 'users_generation';
END;
CREATE TRIGGER users_updated AFTER UPDATE ON users BEGIN
  UPDATE meta SET value = value + 1 WHERE name = 'users_generation';
END;
CREATE TRIGGER users_deleted AFTER DELETE ON users BEGIN
  UPDATE meta SET value = value + 1 WHERE name = 'users_generation';
END;
)sql",
    // 1 -> 2: offline messages (RFC 3428 store-and-forward). AUTOINCREMENT so that an id is never
    // reused: a late 2xx for a message that was purged meanwhile must not delete a newer one.
    // (aor, id) serves pendingMessages in arrival order and the per-recipient count.
    R"sql(
CREATE TABLE messages(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  aor TEXT NOT NULL,
  sender TEXT NOT NULL,
  from_uri TEXT NOT NULL,
  to_header TEXT NOT NULL,
  call_id TEXT NOT NULL,
  content_type TEXT NOT NULL,
  body BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX messages_aor_id ON messages(aor, id);
CREATE INDEX messages_expires_at ON messages(expires_at);
)sql",
    // 2 -> 3: no index on bindings.expires_at. Each REGISTER moved the binding's entry in it, one
    // more page or two written and synced per commit, and nothing needed it: the server purges
    // expired bindings per address-of-record from its location table, and the start-up purge and
    // load read every row anyway.
    "DROP INDEX bindings_expires_at;",
    // 3 -> 4: the CSeq number of an offline message, so that its delivery carries the sender's
    // (Call-ID, From tag, CSeq) unchanged and two messages of one Call-ID never share a CSeq (the
    // recipient would take the second for a merged request, RFC 3261 §8.2.2.2). Rows stored
    // before have 0, and their delivery numbers them as before.
    "ALTER TABLE messages ADD COLUMN cseq INTEGER NOT NULL DEFAULT 0;",
};
constexpr std::int64_t kSchemaVersion = std::size(kMigrations);

constexpr std::string_view kUserColumns =
    "user, domain, realm, ha1_md5, ha1_sha256, ha1_sha512_256, created_at, updated_at";
constexpr std::string_view kBindingColumns =
    "aor, contact, call_id, cseq, expires_at, q, path, instance, reg_id, user_agent, transport, address, port, "
    "listener, updated_at";

constexpr std::string_view kMessageColumns =
    "id, aor, sender, from_uri, to_header, call_id, content_type, body, received_at, expires_at, cseq";

std::string concat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s += p;
  return s;
}

std::int64_t nowOr(std::int64_t given) { return given != 0 ? given : static_cast<std::int64_t>(std::time(nullptr)); }

UserRecord readUser(const Query& q) {
  UserRecord u;
  u.user = q.columnText(0);
  u.domain = q.columnText(1);
  u.realm = q.columnText(2);
  u.ha1Md5 = q.columnText(3);
  u.ha1Sha256 = q.columnText(4);
  u.ha1Sha512_256 = q.columnText(5);
  u.createdAt = q.columnInt(6);
  u.updatedAt = q.columnInt(7);
  return u;
}

registrar::Binding readBinding(const Query& q) {
  registrar::Binding b;
  b.aor = q.columnText(0);
  b.contact = q.columnText(1);
  b.callId = q.columnText(2);
  b.cseq = static_cast<std::uint32_t>(q.columnInt(3));
  b.expiresAt = q.columnInt(4);
  b.q = static_cast<int>(q.columnInt(5));
  b.path = q.columnText(6);
  b.instance = q.columnText(7);
  b.regId = static_cast<std::uint32_t>(q.columnInt(8));
  b.userAgent = q.columnText(9);
  transport::parseTransportName(q.columnView(10), b.received.transport);
  transport::IpAddress::parse(q.columnView(11), b.received.address);
  b.received.port = static_cast<std::uint16_t>(q.columnInt(12));
  b.received.listener = static_cast<std::uint32_t>(q.columnInt(13));
  b.received.connectionId = 0;  // flows do not survive a restart (RFC 5626 §5.2: the UA re-registers)
  b.updatedAt = q.columnInt(14);
  return b;
}

// Query binds and reads text only; a message body is bytes (RFC 3428 allows any MIME type), so
// it is bound and read as a BLOB here. Like Query::bind, the bytes are not copied: they must
// outlive the Query, which clears the binding when it ends.
void bindBlob(Statement& s, int index, std::string_view bytes) {
  // A non-null pointer even for no bytes: a null one would store NULL, not an empty BLOB.
  static constexpr char kEmpty[] = "";
  int rc = sqlite3_bind_blob64(s.handle(), index, bytes.empty() ? kEmpty : bytes.data(), bytes.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK) s.connection().fail("bind", rc);
}

std::string columnBlob(Statement& s, int index) {
  // sqlite3_column_blob before sqlite3_column_bytes (the order SQLite documents); NULL for "".
  const void* data = sqlite3_column_blob(s.handle(), index);
  if (data == nullptr) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(sqlite3_column_bytes(s.handle(), index)));
}

StoredMessage readMessage(Statement& s, const Query& q) {
  StoredMessage m;
  m.id = q.columnInt(0);
  m.aor = q.columnText(1);
  m.sender = q.columnText(2);
  m.fromUri = q.columnText(3);
  m.toHeader = q.columnText(4);
  m.callId = q.columnText(5);
  m.contentType = q.columnText(6);
  m.body = columnBlob(s, 7);
  m.receivedAt = q.columnInt(8);
  m.expiresAt = q.columnInt(9);
  m.cseq = static_cast<std::uint32_t>(q.columnInt(10));
  return m;
}

/// The AOR key of a user's bindings, as registrar::Registrar::canonicalAor builds it.
std::string aorOf(std::string_view user, std::string_view domain) {
  std::string aor;
  aor.reserve(user.size() + 1 + domain.size());
  aor += user;
  aor += '@';
  for (char c : domain) aor += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return aor;
}

}  // namespace

struct SqliteStore::SyncStatements {
  explicit SyncStatements(Connection& c)
      : begin(c.prepare("BEGIN IMMEDIATE")),
        commit(c.prepare("COMMIT")),
        rollback(c.prepare("ROLLBACK")),
        dataVersion(c.prepare("PRAGMA data_version")),
        synchronous(c.prepare("PRAGMA synchronous")),
        generation(c.prepare("SELECT value FROM meta WHERE name = 'users_generation'")),
        insertUser(
            c.prepare(concat({"INSERT INTO users(", kUserColumns,
                              ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(user, domain) DO NOTHING"}))),
        updateUser(c.prepare(
            "UPDATE users SET realm = ?3, ha1_md5 = ?4, ha1_sha256 = ?5, ha1_sha512_256 = ?6, updated_at = ?7 "
            "WHERE user = ?1 AND domain = ?2")),
        deleteUser(c.prepare("DELETE FROM users WHERE user = ?1 AND domain = ?2")),
        deleteAor(c.prepare("DELETE FROM bindings WHERE aor = ?1")),
        deleteAorMessages(c.prepare("DELETE FROM messages WHERE aor = ?1")),
        findUser(c.prepare(concat({"SELECT ", kUserColumns, " FROM users WHERE user = ?1 AND domain = ?2"}))),
        listUsers(c.prepare(concat({"SELECT ", kUserColumns, " FROM users ORDER BY domain, user"}))),
        loadBindings(c.prepare(
            concat({"SELECT ", kBindingColumns, " FROM bindings WHERE expires_at > ?1 ORDER BY aor, updated_at"}))),
        purgeExpired(c.prepare("DELETE FROM bindings WHERE expires_at <= ?1")),
        insertMessage(c.prepare(
            "INSERT INTO messages(aor, sender, from_uri, to_header, call_id, content_type, body, received_at, "
            "expires_at, cseq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")),
        pendingMessages(c.prepare(
            concat({"SELECT ", kMessageColumns, " FROM messages WHERE aor = ?1 AND expires_at > ?2 ORDER BY id"}))),
        deleteMessage(c.prepare("DELETE FROM messages WHERE id = ?1")),
        purgeExpiredMessages(c.prepare("DELETE FROM messages WHERE expires_at <= ?1")),
        countAorMessages(c.prepare("SELECT count(*) FROM messages WHERE aor = ?1 AND expires_at > ?2")),
        countAllMessages(c.prepare("SELECT count(*) FROM messages WHERE expires_at > ?1")),
        messageAors(c.prepare("SELECT DISTINCT aor FROM messages WHERE expires_at > ?1 ORDER BY aor")) {}

  Statement &begin, &commit, &rollback, &dataVersion, &synchronous, &generation;
  Statement &insertUser, &updateUser, &deleteUser, &deleteAor, &deleteAorMessages, &findUser, &listUsers;
  Statement &loadBindings, &purgeExpired;
  Statement &insertMessage, &pendingMessages, &deleteMessage, &purgeExpiredMessages, &countAorMessages,
      &countAllMessages, &messageAors;
};

struct SqliteStore::WriterStatements {
  explicit WriterStatements(Connection& c)
      : begin(c.prepare("BEGIN IMMEDIATE")),
        commit(c.prepare("COMMIT")),
        rollback(c.prepare("ROLLBACK")),
        deleteAor(c.prepare("DELETE FROM bindings WHERE aor = ?1")),
        deleteOtherContacts(c.prepare("DELETE FROM bindings WHERE aor = ?1 AND contact <> ?2")),
        selectAor(c.prepare(concat({"SELECT ", kBindingColumns, " FROM bindings WHERE aor = ?1"}))),
        // An upsert rewrites a refreshed binding's row in place (OR REPLACE would delete it and
        // insert it again); two bindings of one change with the same contact text keep the last one.
        upsertBinding(c.prepare(concat(
            {"INSERT INTO bindings(", kBindingColumns,
             ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
             "ON CONFLICT(aor, contact) DO UPDATE SET call_id = excluded.call_id, cseq = excluded.cseq, "
             "expires_at = excluded.expires_at, q = excluded.q, path = excluded.path, instance = excluded.instance, "
             "reg_id = excluded.reg_id, user_agent = excluded.user_agent, transport = excluded.transport, "
             "address = excluded.address, port = excluded.port, listener = excluded.listener, "
             "updated_at = excluded.updated_at"}))) {}

  Statement &begin, &commit, &rollback, &deleteAor, &deleteOtherContacts, &selectAor, &upsertBinding;
};

SqliteStore::SqliteStore(std::filesystem::path file, StoreSettings settings)
    : file_(std::move(file)), settings_(settings) {
  sync_ = std::make_unique<Connection>(file_, true, settings_.busyTimeoutMs);
  {
    // journal_mode answers with the mode in force: a file system without shared memory support
    // (or a read-only directory) leaves it at "delete", which we refuse rather than run slowly.
    Statement& wal = sync_->prepare("PRAGMA journal_mode = WAL");
    Query q(wal);
    std::string mode = q.step() ? q.columnText(0) : std::string();
    if (mode != "wal") throw StoreError(file_.string() + ": cannot enable WAL journal mode (got '" + mode + "')");
  }
  if (!settings_.syncEveryCommit) sync_->exec("PRAGMA synchronous = NORMAL");
  migrate();
  syncSql_ = std::make_unique<SyncStatements>(*sync_);
  lastDataVersion_ = sync_->pragmaInt(syncSql_->dataVersion);
  lastGeneration_ = usersGeneration();

  writer_ = std::make_unique<Connection>(file_, false, settings_.busyTimeoutMs);
  if (!settings_.syncEveryCommit) writer_->exec("PRAGMA synchronous = NORMAL");
  writerSql_ = std::make_unique<WriterStatements>(*writer_);
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "sw-store");
    writerLoop();
  });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(queueMutex_);
    stopping_ = true;
  }
  queueCv_.notify_one();
  // The writer drains the queue before it leaves its loop.
  if (thread_.joinable()) thread_.join();
}

void SqliteStore::migrate() {
  Statement& begin = sync_->prepare("BEGIN IMMEDIATE");
  Statement& commit = sync_->prepare("COMMIT");
  Statement& rollback = sync_->prepare("ROLLBACK");
  Statement& userVersion = sync_->prepare("PRAGMA user_version");
  WriteTransaction tx(begin, commit, rollback);
  std::int64_t version = sync_->pragmaInt(userVersion);
  if (version > kSchemaVersion) {
    throw StoreError(file_.string() + ": database schema version " + std::to_string(version) +
                     " is newer than this build supports (" + std::to_string(kSchemaVersion) + ")");
  }
  if (version < 0) throw StoreError(file_.string() + ": invalid schema version " + std::to_string(version));
  if (version == kSchemaVersion) return;  // rolls back the empty transaction
  for (std::int64_t v = version; v < kSchemaVersion; ++v) sync_->exec(kMigrations[v]);
  // PRAGMA takes no parameters; the value is our own constant.
  sync_->exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  tx.commit();
}

std::string SqliteStore::synchronousMode() {
  std::lock_guard lock(syncMutex_);
  // PRAGMA synchronous answers 0 (OFF), 1 (NORMAL), 2 (FULL) or 3 (EXTRA).
  switch (sync_->pragmaInt(syncSql_->synchronous)) {
    case 0: return "off";
    case 1: return "normal";
    case 2: return "full";
    default: return "extra";
  }
}

// ---------------------------------------------------------------------------------------------
// Users

std::int64_t SqliteStore::usersGeneration() { return sync_->pragmaInt(syncSql_->generation); }

void SqliteStore::noteOthersBeforeOwnWrite() {
  if (usersGeneration() != lastGeneration_) othersChanged_ = true;
}

bool SqliteStore::addUser(const UserRecord& u) { return addUsers({u}) == 1; }

std::size_t SqliteStore::addUsers(const std::vector<UserRecord>& users) {
  std::lock_guard lock(syncMutex_);
  WriteTransaction tx(syncSql_->begin, syncSql_->commit, syncSql_->rollback);
  noteOthersBeforeOwnWrite();
  std::size_t added = 0;
  for (const UserRecord& u : users) {
    std::int64_t created = nowOr(u.createdAt);
    Query(syncSql_->insertUser)
        .bind(1, u.user)
        .bind(2, u.domain)
        .bind(3, u.realm)
        .bind(4, u.ha1Md5)
        .bind(5, u.ha1Sha256)
        .bind(6, u.ha1Sha512_256)
        .bind(7, created)
        .bind(8, u.updatedAt != 0 ? u.updatedAt : created)
        .run();
    added += sync_->changes() == 1 ? 1 : 0;
  }
  std::int64_t generation = usersGeneration();
  tx.commit();
  lastGeneration_ = generation;
  return added;
}

bool SqliteStore::updateUser(const UserRecord& u) {
  std::lock_guard lock(syncMutex_);
  WriteTransaction tx(syncSql_->begin, syncSql_->commit, syncSql_->rollback);
  noteOthersBeforeOwnWrite();
  Query(syncSql_->updateUser)
      .bind(1, u.user)
      .bind(2, u.domain)
      .bind(3, u.realm)
      .bind(4, u.ha1Md5)
      .bind(5, u.ha1Sha256)
      .bind(6, u.ha1Sha512_256)
      .bind(7, nowOr(u.updatedAt))
      .run();
  bool updated = sync_->changes() == 1;
  std::int64_t generation = usersGeneration();
  tx.commit();
  lastGeneration_ = generation;
  return updated;
}

bool SqliteStore::removeUser(std::string_view user, std::string_view domain) {
  std::string aor = aorOf(user, domain);
  std::lock_guard lock(syncMutex_);
  WriteTransaction tx(syncSql_->begin, syncSql_->commit, syncSql_->rollback);
  noteOthersBeforeOwnWrite();
  Query(syncSql_->deleteUser).bind(1, user).bind(2, domain).run();
  bool removed = sync_->changes() == 1;
  Query(syncSql_->deleteAor).bind(1, aor).run();
  Query(syncSql_->deleteAorMessages).bind(1, aor).run();
  std::int64_t generation = usersGeneration();
  tx.commit();
  lastGeneration_ = generation;
  return removed;
}

std::optional<UserRecord> SqliteStore::findUser(std::string_view user, std::string_view domain) {
  std::lock_guard lock(syncMutex_);
  Query q(syncSql_->findUser);
  q.bind(1, user).bind(2, domain);
  if (!q.step()) return std::nullopt;
  return readUser(q);
}

std::vector<UserRecord> SqliteStore::listUsers() {
  std::lock_guard lock(syncMutex_);
  std::vector<UserRecord> out;
  Query q(syncSql_->listUsers);
  while (q.step()) out.push_back(readUser(q));
  return out;
}

bool SqliteStore::changedByOthers() {
  std::lock_guard lock(syncMutex_);
  bool changed = std::exchange(othersChanged_, false);
  // data_version moves on every commit by another connection, including this store's own writer
  // (many per second under load); the generation counter tells whether the users changed.
  std::int64_t version = sync_->pragmaInt(syncSql_->dataVersion);
  if (version != lastDataVersion_) {
    lastDataVersion_ = version;
    std::int64_t generation = usersGeneration();
    if (generation != lastGeneration_) {
      lastGeneration_ = generation;
      changed = true;
    }
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// Bindings, synchronous side

std::vector<registrar::Binding> SqliteStore::loadBindings(std::int64_t nowUnix) {
  std::lock_guard lock(syncMutex_);
  std::vector<registrar::Binding> out;
  Query q(syncSql_->loadBindings);
  q.bind(1, nowUnix);
  while (q.step()) out.push_back(readBinding(q));
  return out;
}

std::size_t SqliteStore::purgeExpired(std::int64_t nowUnix) {
  std::lock_guard lock(syncMutex_);
  Query(syncSql_->purgeExpired).bind(1, nowUnix).run();
  return static_cast<std::size_t>(sync_->changes());
}

// ---------------------------------------------------------------------------------------------
// Offline messages (RFC 3428 store-and-forward)

StoreMessageResult SqliteStore::storeMessage(const StoredMessage& m, std::size_t maxPerUser) {
  std::int64_t receivedAt = nowOr(m.receivedAt);
  std::lock_guard lock(syncMutex_);
  // BEGIN IMMEDIATE takes the write lock before counting: no other connection can insert between
  // the count and the insert.
  WriteTransaction tx(syncSql_->begin, syncSql_->commit, syncSql_->rollback);
  std::int64_t pending = 0;
  {
    Query q(syncSql_->countAorMessages);
    q.bind(1, m.aor).bind(2, receivedAt);
    pending = q.step() ? q.columnInt(0) : 0;
  }
  if (static_cast<std::uint64_t>(pending) >= maxPerUser) return {StoreMessageResult::Status::Full, 0};  // rolls back
  {
    Query q(syncSql_->insertMessage);
    q.bind(1, m.aor)
        .bind(2, m.sender)
        .bind(3, m.fromUri)
        .bind(4, m.toHeader)
        .bind(5, m.callId)
        .bind(6, m.contentType)
        .bind(8, receivedAt)
        .bind(9, m.expiresAt)
        .bind(10, static_cast<std::int64_t>(m.cseq));
    bindBlob(syncSql_->insertMessage, 7, m.body);
    q.run();
  }
  std::int64_t id = sqlite3_last_insert_rowid(sync_->handle());
  tx.commit();
  return {StoreMessageResult::Status::Stored, id};
}

std::vector<StoredMessage> SqliteStore::pendingMessages(std::string_view aor, std::int64_t nowUnix) {
  std::lock_guard lock(syncMutex_);
  std::vector<StoredMessage> out;
  Query q(syncSql_->pendingMessages);
  q.bind(1, aor).bind(2, nowUnix);
  while (q.step()) out.push_back(readMessage(syncSql_->pendingMessages, q));
  return out;
}

bool SqliteStore::deleteMessage(std::int64_t id) {
  std::lock_guard lock(syncMutex_);
  Query(syncSql_->deleteMessage).bind(1, id).run();
  return sync_->changes() == 1;
}

std::size_t SqliteStore::purgeExpiredMessages(std::int64_t nowUnix) {
  std::lock_guard lock(syncMutex_);
  Query(syncSql_->purgeExpiredMessages).bind(1, nowUnix).run();
  return static_cast<std::size_t>(sync_->changes());
}

std::size_t SqliteStore::messageCount(std::string_view aor, std::int64_t nowUnix) {
  std::lock_guard lock(syncMutex_);
  Query q(syncSql_->countAorMessages);
  q.bind(1, aor).bind(2, nowUnix);
  return static_cast<std::size_t>(q.step() ? q.columnInt(0) : 0);
}

std::size_t SqliteStore::totalMessageCount(std::int64_t nowUnix) {
  std::lock_guard lock(syncMutex_);
  Query q(syncSql_->countAllMessages);
  q.bind(1, nowUnix);
  return static_cast<std::size_t>(q.step() ? q.columnInt(0) : 0);
}

std::vector<std::string> SqliteStore::aorsWithMessages(std::int64_t nowUnix) {
  std::lock_guard lock(syncMutex_);
  Query q(syncSql_->messageAors);
  q.bind(1, nowUnix);
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.columnText(0));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Bindings, group commit

bool SqliteStore::enqueue(Change&& c) {
  bool wake = false;
  {
    std::lock_guard lock(queueMutex_);
    if (stopping_ || queue_.size() >= settings_.maxQueued) return false;
    queue_.push_back(std::move(c));
    ++enqueued_;
    // The writer sleeps only on an empty queue: it needs waking for the first change alone.
    wake = queue_.size() == 1;
  }
  if (wake) queueCv_.notify_one();
  return true;
}

void SqliteStore::replaceBindings(std::string aor, std::vector<registrar::Binding> bindings,
                                  std::function<void(bool ok)> done) {
  Change c{std::move(aor), std::move(bindings), std::move(done), {}, nullptr, 0};
  if (enqueue(std::move(c))) return;
  failures_.fetch_add(1, std::memory_order_relaxed);
  if (c.done) c.done(false);  // not moved from: enqueue refused it
}

void SqliteStore::replaceBindings(std::string aor, std::vector<registrar::Binding> bindings, ChangeSink& sink,
                                  std::uint64_t token) {
  Change c{std::move(aor), std::move(bindings), {}, {}, &sink, token};
  if (enqueue(std::move(c))) return;
  failures_.fetch_add(1, std::memory_order_relaxed);
  std::vector<FinishedChange> refused;
  refused.push_back(FinishedChange{std::move(c.aor), std::move(c.bindings), token, false});
  sink.finished(std::move(refused));
}

void SqliteStore::committedBindings(std::string aor, CommittedFn done) {
  {
    std::lock_guard lock(queueMutex_);
    if (!stopping_) {
      queue_.push_back(Change{std::move(aor), {}, {}, std::move(done), nullptr, 0});
      ++enqueued_;
      if (queue_.size() == 1) queueCv_.notify_one();
      return;
    }
  }
  done(std::nullopt);
}

void SqliteStore::flush() {
  std::unique_lock lock(queueMutex_);
  std::uint64_t target = enqueued_;
  doneCv_.wait(lock, [&] { return completed_ >= target; });
}

SqliteStore::Stats SqliteStore::stats() const {
  return Stats{commits_.load(std::memory_order_relaxed), changes_.load(std::memory_order_relaxed),
               failures_.load(std::memory_order_relaxed)};
}

std::string SqliteStore::lastWriteError() const {
  std::lock_guard lock(queueMutex_);
  return lastWriteError_;
}

void SqliteStore::writeChange(const Change& c) {
  // The rows of the AOR that the new set does not have go; the others are written over. The usual
  // change (one contact registered or refreshed) deletes nothing and rewrites one row.
  if (c.bindings.size() == 1) {
    Query(writerSql_->deleteOtherContacts).bind(1, c.aor).bind(2, c.bindings.front().contact).run();
  } else {
    Query(writerSql_->deleteAor).bind(1, c.aor).run();
  }
  for (const registrar::Binding& b : c.bindings) {
    std::string_view transport = transport::transportName(b.received.transport);
    std::string address = b.received.address.toString();
    Query(writerSql_->upsertBinding)
        .bind(1, c.aor)
        .bind(2, b.contact)
        .bind(3, b.callId)
        .bind(4, static_cast<std::int64_t>(b.cseq))
        .bind(5, b.expiresAt)
        .bind(6, static_cast<std::int64_t>(b.q))
        .bind(7, b.path)
        .bind(8, b.instance)
        .bind(9, static_cast<std::int64_t>(b.regId))
        .bind(10, b.userAgent)
        .bind(11, transport)
        .bind(12, address)
        .bind(13, static_cast<std::int64_t>(b.received.port))
        .bind(14, static_cast<std::int64_t>(b.received.listener))
        .bind(15, b.updatedAt)
        .run();
  }
}

void SqliteStore::serveRead(Change& r) {
  std::optional<std::vector<registrar::Binding>> rows;
  try {
    std::vector<registrar::Binding> out;
    Query q(writerSql_->selectAor);
    q.bind(1, r.aor);
    while (q.step()) out.push_back(readBinding(q));
    rows = std::move(out);
  } catch (const StoreError& e) {
    std::lock_guard lock(queueMutex_);
    lastWriteError_ = e.what();
  }
  try {
    r.read(std::move(rows));
  } catch (...) {
    // As for a change's callback: the writer carries on.
  }
}

SqliteStore::WriteResult SqliteStore::writeBatch(std::vector<Change>& batch) {
  try {
    WriteTransaction tx(writerSql_->begin, writerSql_->commit, writerSql_->rollback);
    if (batch.size() == 1) {
      writeChange(batch.front());
    } else {
      // Only the last change of an AOR in the batch is written: the earlier ones would be
      // replaced inside the same transaction anyway. All are acknowledged by the one COMMIT.
      // Sorted by AOR (then arrival), the last of each run is the one to write; the AORs are
      // independent, so writing them in key order changes nothing but B-tree locality. The vector
      // is the writer's and keeps its capacity, so a batch allocates nothing here.
      byAor_.clear();
      for (std::size_t i = 0; i < batch.size(); ++i) byAor_.emplace_back(batch[i].aor, i);
      std::sort(byAor_.begin(), byAor_.end());
      for (std::size_t k = 0; k < byAor_.size(); ++k) {
        if (k + 1 == byAor_.size() || byAor_[k + 1].first != byAor_[k].first) writeChange(batch[byAor_[k].second]);
      }
    }
    tx.commit();
    return WriteResult::Committed;
  } catch (const StoreError& e) {
    {
      std::lock_guard lock(queueMutex_);
      lastWriteError_ = e.what();
    }
    switch (e.sqliteCode & 0xff) {
      case SQLITE_CONSTRAINT:
      case SQLITE_TOOBIG:
      case SQLITE_MISMATCH:
      case SQLITE_RANGE: return WriteResult::FailedByAChange;
      default: return WriteResult::Failed;
    }
  }
}

void SqliteStore::writerLoop() {
  std::vector<Change> batch;
  std::vector<char> results;  // per change of a retried batch
  while (true) {
    Change read;
    {
      std::unique_lock lock(queueMutex_);
      queueCv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      if (queue_.front().read) {
        read = std::move(queue_.front());
        queue_.pop_front();
      } else {
        // A batch ends before a read: the read sees the changes queued before it, no later one.
        std::size_t n = std::min(queue_.size(), std::max<std::size_t>(settings_.maxBatch, 1));
        batch.reserve(n);
        for (std::size_t i = 0; i < n && !queue_.front().read; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (read.read) {
      serveRead(read);
      {
        std::lock_guard lock(queueMutex_);
        completed_ += 1;
      }
      doneCv_.notify_all();
      continue;
    }

    results.assign(batch.size(), 0);
    WriteResult written = writeBatch(batch);
    if (written == WriteResult::Committed) {
      commits_.fetch_add(1, std::memory_order_relaxed);
      std::fill(results.begin(), results.end(), 1);
    } else if (written == WriteResult::FailedByAChange && batch.size() > 1) {
      // One bad change must not fail the others: write them one by one. (Not after I/O errors or
      // a lock timeout: each retry would wait as long again, for the same outcome.)
      for (std::size_t i = 0; i < batch.size(); ++i) {
        std::vector<Change> one;
        one.push_back(std::move(batch[i]));
        bool ok = writeBatch(one) == WriteResult::Committed;
        batch[i] = std::move(one.front());
        if (ok) commits_.fetch_add(1, std::memory_order_relaxed);
        results[i] = ok ? 1 : 0;
      }
    }

    for (auto& [sink, finished] : toSinks_) finished.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      bool ok = results[i] != 0;
      (ok ? changes_ : failures_).fetch_add(1, std::memory_order_relaxed);
      Change& c = batch[i];
      if (c.sink != nullptr) {
        auto to = std::find_if(toSinks_.begin(), toSinks_.end(), [&](const auto& e) { return e.first == c.sink; });
        if (to == toSinks_.end()) to = toSinks_.emplace(toSinks_.end(), c.sink, std::vector<FinishedChange>{});
        to->second.push_back(FinishedChange{std::move(c.aor), std::move(c.bindings), c.token, ok});
        continue;
      }
      if (!c.done) continue;
      try {
        c.done(ok);
      } catch (...) {
        // A throwing callback must not stop the writer (and with it every later acknowledgement).
      }
    }
    for (auto& [sink, finished] : toSinks_) {
      if (finished.empty()) continue;
      try {
        sink->finished(std::move(finished));
      } catch (...) {
        // As for a callback.
      }
    }

    {
      std::lock_guard lock(queueMutex_);
      completed_ += batch.size();
    }
    doneCv_.notify_all();
    batch.clear();
  }
}

}  // namespace sipwarden::storage
