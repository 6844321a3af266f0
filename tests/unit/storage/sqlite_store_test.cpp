// The embedded store against a real SQLite file in a fresh temporary directory per test: schema
// and WAL, migration from an older schema, users, binding persistence through the group-commit
// writer, durability across reopen and across kill -9, change detection between two connections,
// and the offline messages (RFC 3428 store-and-forward).
#include "storage/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sipwarden::storage {
namespace {

namespace fs = std::filesystem;
using registrar::Binding;

constexpr std::int64_t kNow = 1'700'000'000;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sipwarden-storage-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  [[nodiscard]] fs::path db() const { return dir_ / "sipwarden.db"; }

  /// Runs SQL on a separate plain SQLite connection and returns the first column of the first row.
  std::string rawQuery(const std::string& sql) const {
    sqlite3* handle = nullptr;
    EXPECT_EQ(sqlite3_open(db().c_str(), &handle), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(handle);
    return out;
  }

  fs::path dir_;
};

Binding makeBinding(const std::string& aor, const std::string& contact, std::int64_t expiresAt) {
  Binding b;
  b.aor = aor;
  b.contact = contact;
  b.callId = "call-" + contact;
  b.cseq = 7;
  b.expiresAt = expiresAt;
  b.updatedAt = kNow;
  b.received.port = 5060;
  transport::IpAddress::parse("192.0.2.10", b.received.address);
  return b;
}

UserRecord makeUser(const std::string& user, const std::string& domain) {
  UserRecord u;
  u.user = user;
  u.domain = domain;
  u.realm = domain;
  u.ha1Md5 = "md5-" + user;
  u.ha1Sha256 = "sha256-" + user;
  u.ha1Sha512_256 = "sha512-" + user;
  u.createdAt = 100;
  u.updatedAt = 200;
  return u;
}

/// A done callback that blocks the writer thread until release(), so that tests can make
/// changes pile up in the queue.
class WriterGate {
 public:
  std::function<void(bool)> callback() {
    return [this](bool) {
      std::unique_lock lock(m_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_; });
    };
  }
  void waitEntered() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void release() {
    std::lock_guard lock(m_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
};

TEST_F(SqliteStoreTest, CreatesSchemaInWalMode) {
  { SqliteStore store(db()); }
  EXPECT_TRUE(fs::exists(db()));
  EXPECT_EQ(rawQuery("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(rawQuery("PRAGMA user_version"), "4");
  EXPECT_EQ(rawQuery("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'bindings', "
                     "'messages')"),
            "3");
  // Version 3 dropped the bindings' expiry index: a REGISTER writes the table's page only.
  EXPECT_EQ(rawQuery("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'bindings'"), "0");
  EXPECT_EQ(rawQuery("SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = 'messages_aor_id'"),
            "messages");
  // Reopening an up-to-date database keeps it as it is.
  { SqliteStore store(db()); }
  EXPECT_EQ(rawQuery("PRAGMA user_version"), "4");
}

TEST_F(SqliteStoreTest, SyncsEveryCommitUnlessToldOtherwise) {
  {
    SqliteStore store(db());
    EXPECT_EQ(store.synchronousMode(), "full");
  }
  StoreSettings settings;
  settings.syncEveryCommit = false;
  SqliteStore store(db(), settings);
  EXPECT_EQ(store.synchronousMode(), "normal");
  // Still the WAL journal, and a change the writer commits is there.
  EXPECT_EQ(rawQuery("PRAGMA journal_mode"), "wal");
  bool committed = false;
  store.replaceBindings("alice@example.com", {makeBinding("alice@example.com", "sip:a@192.0.2.1", kNow + 60)},
                        [&](bool ok) { committed = ok; });
  store.flush();
  EXPECT_TRUE(committed);
  EXPECT_EQ(rawQuery("SELECT contact FROM bindings WHERE aor = 'alice@example.com'"), "sip:a@192.0.2.1");
}

// Schema version 1 exactly as its migration created it (kMigrations[0]; a released step never
// changes), to check that a database written by an older build is carried forward.
constexpr const char* kVersion1Schema = R"sql(
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
)sql";

TEST_F(SqliteStoreTest, MigratesAVersion1Database) {
  {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &handle), SQLITE_OK);
    auto exec = [&](const char* sql) {
      char* err = nullptr;
      int rc = sqlite3_exec(handle, sql, nullptr, nullptr, &err);
      EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "") << " in " << sql;
      sqlite3_free(err);
    };
    exec("PRAGMA journal_mode = WAL");
    exec("BEGIN");
    exec(kVersion1Schema);
    exec("PRAGMA user_version = 1");
    exec("COMMIT");
    exec(
        "INSERT INTO users(user, domain, realm, ha1_md5, ha1_sha256, ha1_sha512_256, created_at, updated_at) "
        "VALUES('alice', 'example.com', 'example.com', 'md5-alice', 'sha256-alice', 'sha512-alice', 100, 200)");
    exec(
        "INSERT INTO bindings(aor, contact, call_id, cseq, expires_at, q, path, instance, reg_id, user_agent, "
        "transport, address, port, listener, updated_at) VALUES('alice@example.com', 'sip:alice@192.0.2.1', "
        "'call-1', 7, 1700003600, 1000, '', '', 0, 'phone', 'udp', '192.0.2.10', 5060, 0, 1700000000)");
    sqlite3_close(handle);
  }
  ASSERT_EQ(rawQuery("PRAGMA user_version"), "1");
  ASSERT_EQ(rawQuery("SELECT count(*) FROM sqlite_master WHERE name = 'messages'"), "0");

  {
    SqliteStore store(db());
    EXPECT_EQ(rawQuery("PRAGMA user_version"), "4");
    EXPECT_EQ(rawQuery("SELECT count(*) FROM sqlite_master WHERE name = 'bindings_expires_at'"), "0");
    EXPECT_EQ(store.findUser("alice", "example.com"), makeUser("alice", "example.com"));
    std::vector<Binding> bindings = store.loadBindings(kNow);
    ASSERT_EQ(bindings.size(), 1u);
    EXPECT_EQ(bindings[0].aor, "alice@example.com");
    EXPECT_EQ(bindings[0].contact, "sip:alice@192.0.2.1");
    EXPECT_EQ(bindings[0].userAgent, "phone");
    EXPECT_EQ(bindings[0].received.port, 5060);

    // The new table is there and usable; the old triggers still count user changes.
    EXPECT_EQ(rawQuery("SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = 'messages_aor_id'"),
              "messages");
    StoreMessageResult r =
        store.storeMessage(StoredMessage{0, "alice@example.com", "<sip:bob@example.com>;tag=1", "sip:bob@example.com",
                                         "<sip:alice@example.com>", "m-1", "text/plain", "hi", kNow, kNow + 60},
                           10);
    EXPECT_EQ(r.status, StoreMessageResult::Status::Stored);
    EXPECT_EQ(store.messageCount("alice@example.com", kNow), 1u);
    StoredMessage withCseq{0,
                           "alice@example.com",
                           "<sip:bob@example.com>;tag=1",
                           "sip:bob@example.com",
                           "<sip:alice@example.com>",
                           "m-1",
                           "text/plain",
                           "again",
                           kNow,
                           kNow + 60,
                           42};
    EXPECT_EQ(store.storeMessage(withCseq, 10).status, StoreMessageResult::Status::Stored);
    std::vector<StoredMessage> pending = store.pendingMessages("alice@example.com", kNow);
    ASSERT_EQ(pending.size(), 2u);
    EXPECT_EQ(pending[0].cseq, 0u);
    EXPECT_EQ(pending[1].cseq, 42u);  // version 4 keeps the sender's CSeq number
    std::string generation = rawQuery("SELECT value FROM meta WHERE name = 'users_generation'");
    ASSERT_TRUE(store.addUser(makeUser("bob", "example.com")));
    EXPECT_NE(rawQuery("SELECT value FROM meta WHERE name = 'users_generation'"), generation);
  }
  // Reopening the migrated database does not migrate it again.
  SqliteStore store(db());
  EXPECT_EQ(rawQuery("PRAGMA user_version"), "4");
  EXPECT_EQ(store.messageCount("alice@example.com", kNow), 2u);
  EXPECT_EQ(store.listUsers().size(), 2u);
}

TEST_F(SqliteStoreTest, RefusesNewerSchema) {
  { SqliteStore store(db()); }
  rawQuery("PRAGMA user_version = 99");
  try {
    SqliteStore store(db());
    FAIL() << "opened a database with a newer schema";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(db().string()), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, BadPathThrowsNamingThePath) {
  fs::path bad = dir_ / "no-such-directory" / "sipwarden.db";
  try {
    SqliteStore store(bad);
    FAIL() << "opened " << bad;
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unable to open"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, UsersCrud) {
  SqliteStore store(db());
  EXPECT_TRUE(store.listUsers().empty());
  EXPECT_FALSE(store.findUser("alice", "example.com"));

  UserRecord alice = makeUser("alice", "example.com");
  EXPECT_TRUE(store.addUser(alice));
  EXPECT_FALSE(store.addUser(alice));                             // (user, domain) exists
  EXPECT_FALSE(store.addUser(makeUser("alice", "EXAMPLE.com")));  // domains compare case-insensitively
  EXPECT_TRUE(store.addUser(makeUser("Alice", "example.com")));   // users do not
  EXPECT_TRUE(store.addUser(makeUser("bob", "a.example.org")));

  std::optional<UserRecord> found = store.findUser("alice", "Example.COM");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, alice);

  UserRecord changed = alice;
  changed.realm = "other realm";
  changed.ha1Md5 = "new-md5";
  changed.ha1Sha256 = "";
  changed.createdAt = 999;  // ignored: created_at is kept
  changed.updatedAt = 300;
  EXPECT_TRUE(store.updateUser(changed));
  found = store.findUser("alice", "example.com");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->realm, "other realm");
  EXPECT_EQ(found->ha1Md5, "new-md5");
  EXPECT_EQ(found->ha1Sha256, "");
  EXPECT_EQ(found->ha1Sha512_256, alice.ha1Sha512_256);
  EXPECT_EQ(found->createdAt, 100);
  EXPECT_EQ(found->updatedAt, 300);
  EXPECT_FALSE(store.updateUser(makeUser("nobody", "example.com")));

  std::vector<UserRecord> all = store.listUsers();
  ASSERT_EQ(all.size(), 3u);  // by domain, then user
  EXPECT_EQ(all[0].user, "bob");
  EXPECT_EQ(all[1].user, "Alice");
  EXPECT_EQ(all[2].user, "alice");

  EXPECT_TRUE(store.removeUser("alice", "example.com"));
  EXPECT_FALSE(store.removeUser("alice", "example.com"));
  EXPECT_FALSE(store.findUser("alice", "example.com"));
  EXPECT_EQ(store.listUsers().size(), 2u);
}

TEST_F(SqliteStoreTest, AddUsersInOneTransaction) {
  SqliteStore store(db());
  ASSERT_TRUE(store.addUser(makeUser("u0", "example.com")));
  std::vector<UserRecord> batch;
  for (int i = 0; i < 1000; ++i) batch.push_back(makeUser("u" + std::to_string(i), "example.com"));
  batch[0].realm = "changed";  // exists already: left as it is
  EXPECT_EQ(store.addUsers(batch), 999u);
  EXPECT_EQ(store.listUsers().size(), 1000u);
  EXPECT_EQ(store.findUser("u0", "example.com")->realm, "example.com");
  EXPECT_EQ(*store.findUser("u999", "example.com"), batch[999]);
  EXPECT_EQ(store.addUsers({}), 0u);
}

TEST_F(SqliteStoreTest, AddUserFillsTimestamps) {
  SqliteStore store(db());
  UserRecord u = makeUser("carol", "example.com");
  u.createdAt = 0;
  u.updatedAt = 0;
  std::int64_t before = std::time(nullptr);
  ASSERT_TRUE(store.addUser(u));
  std::optional<UserRecord> found = store.findUser("carol", "example.com");
  ASSERT_TRUE(found);
  EXPECT_GE(found->createdAt, before);
  EXPECT_EQ(found->updatedAt, found->createdAt);
}

TEST_F(SqliteStoreTest, RemoveUserRemovesItsBindings) {
  SqliteStore store(db());
  ASSERT_TRUE(store.addUser(makeUser("alice", "Example.com")));
  store.replaceBindings("alice@example.com", {makeBinding("alice@example.com", "sip:a@192.0.2.1", kNow + 60)}, {});
  store.replaceBindings("bob@example.com", {makeBinding("bob@example.com", "sip:b@192.0.2.2", kNow + 60)}, {});
  store.flush();
  EXPECT_TRUE(store.removeUser("alice", "Example.com"));
  std::vector<Binding> left = store.loadBindings(kNow);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].aor, "bob@example.com");
}

TEST_F(SqliteStoreTest, ReplaceLoadAndPurgeBindings) {
  SqliteStore store(db());
  const std::string alice = "alice@example.com";
  const std::string bob = "bob@example.com";
  store.replaceBindings(
      alice, {makeBinding(alice, "sip:a1@192.0.2.1", kNow + 60), makeBinding(alice, "sip:a2@192.0.2.2", kNow + 5)}, {});
  store.replaceBindings(bob, {makeBinding(bob, "sip:b@192.0.2.3", kNow + 60)}, {});
  store.flush();
  EXPECT_EQ(store.loadBindings(kNow).size(), 3u);

  // Replacing is whole: a2 goes, a3 comes.
  store.replaceBindings(alice, {makeBinding(alice, "sip:a3@192.0.2.4", kNow + 60)}, {});
  store.flush();
  std::vector<Binding> loaded = store.loadBindings(kNow);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].contact, "sip:a3@192.0.2.4");
  EXPECT_EQ(loaded[1].contact, "sip:b@192.0.2.3");

  // Empty removes every binding of the AOR.
  store.replaceBindings(alice, {}, {});
  store.flush();
  loaded = store.loadBindings(kNow);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].aor, bob);

  store.replaceBindings(alice, {makeBinding(alice, "sip:a4@192.0.2.5", kNow + 10)}, {});
  store.flush();
  EXPECT_EQ(store.purgeExpired(kNow + 10), 1u);  // expires_at <= now is expired
  EXPECT_EQ(store.purgeExpired(kNow + 10), 0u);
  EXPECT_EQ(store.purgeExpired(kNow + 60), 1u);
  EXPECT_TRUE(store.loadBindings(0).empty());
}

TEST_F(SqliteStoreTest, EveryBindingFieldRoundTrips) {
  Binding b;
  b.aor = "alice@example.com";
  b.contact = "sips:alice@[2001:db8::7]:5061;transport=tls;ob";
  b.callId = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@host";
  b.cseq = 2147483647;
  b.expiresAt = kNow + 3600;
  b.q = 500;
  b.path = "<sip:p1.example.com;lr>,<sip:p2.example.com;lr>";
  b.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
  b.regId = 4294967295u;
  b.userAgent = "Example UA/1.0 (\"quoted\" ünïcode)";
  b.received.transport = transport::TransportKind::Wss;
  ASSERT_TRUE(transport::IpAddress::parse("2001:db8::7", b.received.address));
  b.received.port = 65535;
  b.received.connectionId = 42;  // not persisted: flows do not survive a restart
  b.received.listener = 3;
  b.updatedAt = kNow - 1;

  Binding other = makeBinding("bob@example.com", "sip:bob@192.0.2.9", kNow + 10);
  other.q = -1;
  other.received.transport = transport::TransportKind::Tcp;

  {
    SqliteStore store(db());
    store.replaceBindings(b.aor, {b}, {});
    store.replaceBindings(other.aor, {other}, {});
  }  // the destructor commits what is queued
  SqliteStore store(db());
  std::vector<Binding> loaded = store.loadBindings(kNow);
  ASSERT_EQ(loaded.size(), 2u);
  Binding expected = b;
  expected.received.connectionId = 0;
  EXPECT_EQ(loaded[0], expected);
  EXPECT_EQ(loaded[1], other);
}

TEST_F(SqliteStoreTest, LoadSkipsExpired) {
  SqliteStore store(db());
  const std::string aor = "alice@example.com";
  store.replaceBindings(aor,
                        {makeBinding(aor, "sip:past@192.0.2.1", kNow - 1), makeBinding(aor, "sip:now@192.0.2.2", kNow),
                         makeBinding(aor, "sip:future@192.0.2.3", kNow + 1)},
                        {});
  store.flush();
  std::vector<Binding> loaded = store.loadBindings(kNow);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].contact, "sip:future@192.0.2.3");
}

TEST_F(SqliteStoreTest, ThousandChangesAreDurableAndAcknowledgedInOrder) {
  constexpr int kChanges = 1000;
  std::vector<int> order;
  std::vector<bool> results;
  std::mutex m;
  {
    SqliteStore store(db());
    for (int i = 0; i < kChanges; ++i) {
      std::string aor = "user" + std::to_string(i) + "@example.com";
      Binding b = makeBinding(aor, "sip:u" + std::to_string(i) + "@192.0.2.1", kNow + 3600);
      store.replaceBindings(aor, {b}, [&, i](bool ok) {
        std::lock_guard lock(m);
        order.push_back(i);
        results.push_back(ok);
      });
    }
    store.flush();
    std::lock_guard lock(m);
    ASSERT_EQ(order.size(), static_cast<std::size_t>(kChanges));
    for (int i = 0; i < kChanges; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
    EXPECT_TRUE(std::all_of(results.begin(), results.end(), [](bool ok) { return ok; }));
    SqliteStore::Stats s = store.stats();
    EXPECT_EQ(s.changes, static_cast<std::uint64_t>(kChanges));
    EXPECT_EQ(s.failures, 0u);
    EXPECT_GE(s.commits, 1u);
    EXPECT_LE(s.commits, s.changes);
  }
  SqliteStore reopened(db());
  std::vector<Binding> loaded = reopened.loadBindings(kNow);
  ASSERT_EQ(loaded.size(), static_cast<std::size_t>(kChanges));
  std::vector<std::string> aors;
  for (const Binding& b : loaded) aors.push_back(b.aor);
  std::sort(aors.begin(), aors.end());
  EXPECT_EQ(std::unique(aors.begin(), aors.end()), aors.end());
}

TEST_F(SqliteStoreTest, GroupCommitBatchesQueuedChangesAndLastChangeOfAnAorWins) {
  SqliteStore store(db());
  WriterGate gate;
  store.replaceBindings("gate@example.com", {}, gate.callback());
  gate.waitEntered();  // the writer is busy: what follows queues up
  std::atomic<int> acknowledged{0};
  const std::string aor = "alice@example.com";
  for (int i = 0; i < 100; ++i) {
    store.replaceBindings(aor, {makeBinding(aor, "sip:a" + std::to_string(i) + "@192.0.2.1", kNow + 60)},
                          [&](bool ok) { acknowledged += ok ? 1 : 0; });
  }
  std::uint64_t commitsBefore = store.stats().commits;
  gate.release();
  store.flush();
  EXPECT_EQ(acknowledged.load(), 100);
  EXPECT_EQ(store.stats().commits - commitsBefore, 1u);  // one transaction, one sync, 100 acknowledgements
  std::vector<Binding> loaded = store.loadBindings(kNow);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].contact, "sip:a99@192.0.2.1");
}

TEST_F(SqliteStoreTest, FullQueueFailsAtOnce) {
  StoreSettings settings;
  settings.maxQueued = 2;
  SqliteStore store(db(), settings);
  WriterGate gate;
  store.replaceBindings("gate@example.com", {}, gate.callback());
  gate.waitEntered();
  std::vector<int> results;  // appended on this thread (rejections) and on the writer (after release)
  std::mutex m;
  auto record = [&](int tag) {
    return [&, tag](bool ok) {
      std::lock_guard lock(m);
      results.push_back(ok ? tag : -tag);
    };
  };
  store.replaceBindings("a@example.com", {}, record(1));
  store.replaceBindings("b@example.com", {}, record(2));
  store.replaceBindings("c@example.com", {}, record(3));  // a third waiting change: over the bound
  {
    std::lock_guard lock(m);
    ASSERT_EQ(results, std::vector<int>{-3});  // failed at once, on the caller's thread
  }
  gate.release();
  store.flush();
  std::lock_guard lock(m);
  EXPECT_EQ(results, (std::vector<int>{-3, 1, 2}));
  EXPECT_EQ(store.stats().failures, 1u);
}

// Records what the writer hands back: one entry per finished() call, with the thread it ran on.
class RecordingSink final : public SqliteStore::ChangeSink {
 public:
  struct Call {
    std::thread::id thread;
    std::vector<SqliteStore::FinishedChange> changes;
  };
  void finished(std::vector<SqliteStore::FinishedChange> changes) override {
    std::lock_guard lock(m_);
    calls_.push_back(Call{std::this_thread::get_id(), std::move(changes)});
  }
  std::vector<Call> calls() {
    std::lock_guard lock(m_);
    return calls_;
  }

 private:
  std::mutex m_;
  std::vector<Call> calls_;
};

TEST_F(SqliteStoreTest, ChangesGoBackToTheirSinkOnceABatchInOrderWithTheirData) {
  SqliteStore store(db());
  WriterGate gate;
  store.replaceBindings("gate@example.com", {}, gate.callback());
  gate.waitEntered();  // the writer is busy: what follows is one batch
  RecordingSink a;
  RecordingSink b;
  bool callbackRan = false;
  for (int i = 0; i < 40; ++i) {
    std::string aor = "user" + std::to_string(i) + "@example.com";
    std::vector<Binding> bindings{makeBinding(aor, "sip:u" + std::to_string(i) + "@192.0.2.1", kNow + 60)};
    store.replaceBindings(aor, std::move(bindings), i % 2 == 0 ? a : b, static_cast<std::uint64_t>(1000 + i));
    if (i == 20) store.replaceBindings("cb@example.com", {}, [&](bool ok) { callbackRan = ok; });
  }
  std::uint64_t commitsBefore = store.stats().commits;
  gate.release();
  store.flush();
  EXPECT_EQ(store.stats().commits - commitsBefore, 1u);
  EXPECT_TRUE(callbackRan);  // the callback form still works beside sinks
  for (RecordingSink* sink : {&a, &b}) {
    std::vector<RecordingSink::Call> calls = sink->calls();
    ASSERT_EQ(calls.size(), 1u);                             // one hand-over for the whole batch
    EXPECT_NE(calls[0].thread, std::this_thread::get_id());  // the writer's
    ASSERT_EQ(calls[0].changes.size(), 20u);
    int first = sink == &a ? 0 : 1;
    for (std::size_t k = 0; k < 20; ++k) {
      const SqliteStore::FinishedChange& c = calls[0].changes[k];
      int i = first + 2 * static_cast<int>(k);
      EXPECT_TRUE(c.ok);
      EXPECT_EQ(c.token, static_cast<std::uint64_t>(1000 + i));  // FIFO
      EXPECT_EQ(c.aor, "user" + std::to_string(i) + "@example.com");
      ASSERT_EQ(c.bindings.size(), 1u);  // handed back whole, to be freed by its owner
      EXPECT_EQ(c.bindings[0].contact, "sip:u" + std::to_string(i) + "@192.0.2.1");
    }
  }
  EXPECT_EQ(store.loadBindings(kNow).size(), 40u);
}

TEST_F(SqliteStoreTest, AChangeRefusedOrNotWrittenGoesBackToItsSinkNotOk) {
  StoreSettings settings;
  settings.maxQueued = 1;
  settings.busyTimeoutMs = 50;
  SqliteStore store(db(), settings);
  RecordingSink sink;
  WriterGate gate;
  store.replaceBindings("gate@example.com", {}, gate.callback());
  gate.waitEntered();
  const std::string aor = "alice@example.com";
  store.replaceBindings(aor, {makeBinding(aor, "sip:a@192.0.2.1", kNow + 60)}, sink, 1);
  store.replaceBindings(aor, {makeBinding(aor, "sip:b@192.0.2.1", kNow + 60)}, sink, 2);  // over the bound
  std::vector<RecordingSink::Call> calls = sink.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].thread, std::this_thread::get_id());  // at once, on the caller's thread
  ASSERT_EQ(calls[0].changes.size(), 1u);
  EXPECT_EQ(calls[0].changes[0].token, 2u);
  EXPECT_FALSE(calls[0].changes[0].ok);
  ASSERT_EQ(calls[0].changes[0].bindings.size(), 1u);
  EXPECT_EQ(calls[0].changes[0].bindings[0].contact, "sip:b@192.0.2.1");

  // Another connection holds the write lock past the busy timeout: the queued change fails.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  gate.release();
  store.flush();
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  calls = sink.calls();
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_EQ(calls[1].changes.size(), 1u);
  EXPECT_EQ(calls[1].changes[0].token, 1u);
  EXPECT_FALSE(calls[1].changes[0].ok);
  EXPECT_EQ(store.stats().failures, 2u);
  EXPECT_TRUE(store.loadBindings(kNow).empty());
}

TEST_F(SqliteStoreTest, WriteFailureIsReportedAndTheWriterCarriesOn) {
  StoreSettings settings;
  settings.busyTimeoutMs = 50;
  SqliteStore store(db(), settings);
  // Another process holds the write lock for longer than the busy timeout.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<bool> results;
  std::mutex m;
  auto record = [&](bool ok) {
    std::lock_guard lock(m);
    results.push_back(ok);
  };
  const std::string aor = "alice@example.com";
  store.replaceBindings(aor, {makeBinding(aor, "sip:a@192.0.2.1", kNow + 60)}, record);
  store.flush();
  EXPECT_EQ(store.stats().failures, 1u);
  EXPECT_NE(store.lastWriteError().find(db().string()), std::string::npos) << store.lastWriteError();
  EXPECT_NE(store.lastWriteError().find("locked"), std::string::npos) << store.lastWriteError();

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  store.replaceBindings(aor, {makeBinding(aor, "sip:b@192.0.2.1", kNow + 60)}, record);
  store.flush();
  std::lock_guard lock(m);
  EXPECT_EQ(results, (std::vector<bool>{false, true}));
  std::vector<Binding> loaded = store.loadBindings(kNow);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].contact, "sip:b@192.0.2.1");
}

TEST_F(SqliteStoreTest, ChangedByOthersSeesAnotherConnectionsUserChanges) {
  SqliteStore server(db());
  SqliteStore cli(db());
  EXPECT_FALSE(server.changedByOthers());

  // Its own changes and its own binding writer's commits do not count.
  ASSERT_TRUE(server.addUser(makeUser("alice", "example.com")));
  server.replaceBindings("alice@example.com", {makeBinding("alice@example.com", "sip:a@192.0.2.1", kNow + 60)}, {});
  server.flush();
  EXPECT_FALSE(server.changedByOthers());
  // Nor do bindings written by another connection.
  cli.replaceBindings("bob@example.com", {makeBinding("bob@example.com", "sip:b@192.0.2.1", kNow + 60)}, {});
  cli.flush();
  EXPECT_FALSE(server.changedByOthers());

  ASSERT_TRUE(cli.addUser(makeUser("bob", "example.com")));
  EXPECT_TRUE(server.changedByOthers());
  EXPECT_FALSE(server.changedByOthers());  // reported once

  // A change by the other side just before one of our own is still reported.
  UserRecord bob = makeUser("bob", "example.com");
  bob.ha1Md5 = "changed";
  ASSERT_TRUE(cli.updateUser(bob));
  ASSERT_TRUE(server.addUser(makeUser("carol", "example.com")));
  EXPECT_TRUE(server.changedByOthers());
  EXPECT_FALSE(server.changedByOthers());

  ASSERT_TRUE(cli.removeUser("alice", "example.com"));
  EXPECT_TRUE(server.changedByOthers());
  EXPECT_TRUE(cli.changedByOthers());  // carol, added by the server
  EXPECT_FALSE(cli.changedByOthers());
}

TEST_F(SqliteStoreTest, AcknowledgedWriteSurvivesKill9) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string aor = "alice@example.com";
  Binding acknowledged = makeBinding(aor, "sip:alice@192.0.2.1", kNow + 3600);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: no gtest assertions, only _exit. The store is never destroyed.
    ::close(fds[0]);
    try {
      auto* store = new SqliteStore(db());
      int fd = fds[1];
      store->replaceBindings(aor, {acknowledged}, [fd](bool ok) {
        char c = ok ? 'y' : 'n';
        (void)!::write(fd, &c, 1);
      });
      // Keep the writer busy so that the kill lands in the middle of later transactions.
      for (int i = 0;; ++i) {
        std::string other = "bulk" + std::to_string(i % 500) + "@example.com";
        store->replaceBindings(other, {makeBinding(other, "sip:x@192.0.2.2", kNow + 3600)}, {});
        if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    } catch (...) {
      ::_exit(2);
    }
  }
  ::close(fds[1]);
  char ack = 0;
  ASSERT_EQ(::read(fds[0], &ack, 1), 1);
  ::close(fds[0]);
  EXPECT_EQ(ack, 'y');
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let later transactions start
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  SqliteStore reopened(db());
  std::vector<Binding> loaded = reopened.loadBindings(kNow);
  auto it = std::find_if(loaded.begin(), loaded.end(), [&](const Binding& b) { return b.aor == aor; });
  ASSERT_NE(it, loaded.end());
  EXPECT_EQ(*it, acknowledged);
  EXPECT_EQ(rawQuery("PRAGMA integrity_check"), "ok");
}

// ---------------------------------------------------------------------------------------------
// Offline messages

StoredMessage makeMessage(const std::string& aor, const std::string& body, std::int64_t receivedAt = kNow,
                          std::int64_t expiresAt = kNow + 3600) {
  StoredMessage m;
  m.aor = aor;
  m.sender = "\"Bob\" <sip:bob@example.org>;tag=" + body;
  m.fromUri = "sip:bob@example.org";
  m.toHeader = "<sip:" + aor + ">";
  m.callId = "call-" + body + "@192.0.2.7";
  m.contentType = "text/plain;charset=UTF-8";
  m.body = body;
  m.receivedAt = receivedAt;
  m.expiresAt = expiresAt;
  return m;
}

constexpr std::size_t kCap = 100;

std::int64_t storedId(const StoreMessageResult& r) {
  EXPECT_EQ(r.status, StoreMessageResult::Status::Stored);
  return r.id;
}

TEST_F(SqliteStoreTest, MessagesAreListedPerRecipientInArrivalOrder) {
  SqliteStore store(db());
  const std::string alice = "alice@example.com";
  const std::string bob = "bob@example.com";
  EXPECT_TRUE(store.pendingMessages(alice, kNow).empty());

  std::vector<StoredMessage> sent = {makeMessage(alice, "one"), makeMessage(alice, "two"), makeMessage(alice, "three")};
  // Arrival order is the order of the calls, not of receivedAt.
  sent[1].receivedAt = kNow - 10;
  sent[2].contentType = "";
  sent[0].id = 12345;  // ignored: the store assigns the id
  std::vector<std::int64_t> ids;
  ids.push_back(storedId(store.storeMessage(sent[0], kCap)));
  std::int64_t bobsId = storedId(store.storeMessage(makeMessage(bob, "for bob"), kCap));
  ids.push_back(storedId(store.storeMessage(sent[1], kCap)));
  ids.push_back(storedId(store.storeMessage(sent[2], kCap)));
  EXPECT_LT(ids[0], bobsId);
  EXPECT_LT(bobsId, ids[1]);
  EXPECT_LT(ids[1], ids[2]);

  std::vector<StoredMessage> pending = store.pendingMessages(alice, kNow);
  ASSERT_EQ(pending.size(), 3u);
  for (std::size_t i = 0; i < pending.size(); ++i) {
    StoredMessage expected = sent[i];
    expected.id = ids[i];
    EXPECT_EQ(pending[i], expected) << i;
  }
  ASSERT_EQ(store.pendingMessages(bob, kNow).size(), 1u);
  EXPECT_EQ(store.pendingMessages(bob, kNow)[0].body, "for bob");
  EXPECT_TRUE(store.pendingMessages("carol@example.com", kNow).empty());
  EXPECT_TRUE(store.pendingMessages("Alice@example.com", kNow).empty());  // AORs are compared as given

  EXPECT_EQ(store.messageCount(alice, kNow), 3u);
  EXPECT_EQ(store.messageCount(bob, kNow), 1u);
  EXPECT_EQ(store.messageCount("carol@example.com", kNow), 0u);
  EXPECT_EQ(store.totalMessageCount(kNow), 4u);
}

TEST_F(SqliteStoreTest, ReceivedAtZeroMeansNow) {
  SqliteStore store(db());
  std::int64_t before = std::time(nullptr);
  StoredMessage m = makeMessage("alice@example.com", "x", 0, before + 3600);
  storedId(store.storeMessage(m, kCap));
  std::vector<StoredMessage> pending = store.pendingMessages("alice@example.com", before);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_GE(pending[0].receivedAt, before);
  EXPECT_LE(pending[0].receivedAt, static_cast<std::int64_t>(std::time(nullptr)));
}

TEST_F(SqliteStoreTest, FullRecipientGetsNothingWritten) {
  SqliteStore store(db());
  const std::string alice = "alice@example.com";
  for (int i = 0; i < 3; ++i) storedId(store.storeMessage(makeMessage(alice, "m" + std::to_string(i)), 3));
  std::string before = rawQuery("SELECT count(*) || '/' || max(id) FROM messages");

  StoreMessageResult full = store.storeMessage(makeMessage(alice, "one too many"), 3);
  EXPECT_EQ(full.status, StoreMessageResult::Status::Full);
  EXPECT_EQ(full.id, 0);
  EXPECT_EQ(rawQuery("SELECT count(*) || '/' || max(id) FROM messages"), before);
  EXPECT_EQ(store.messageCount(alice, kNow), 3u);
  ASSERT_EQ(store.pendingMessages(alice, kNow).size(), 3u);
  EXPECT_EQ(store.pendingMessages(alice, kNow).back().body, "m2");

  // The cap is per recipient; a larger cap, or a delivered message, makes room again.
  storedId(store.storeMessage(makeMessage("bob@example.com", "b"), 3));
  storedId(store.storeMessage(makeMessage(alice, "m3"), 4));
  EXPECT_EQ(store.storeMessage(makeMessage(alice, "m4"), 4).status, StoreMessageResult::Status::Full);
  ASSERT_TRUE(store.deleteMessage(store.pendingMessages(alice, kNow).front().id));
  storedId(store.storeMessage(makeMessage(alice, "m4"), 4));
  // A cap of 0 stores nothing.
  EXPECT_EQ(store.storeMessage(makeMessage("carol@example.com", "c"), 0).status, StoreMessageResult::Status::Full);
  EXPECT_EQ(store.messageCount("carol@example.com", kNow), 0u);
}

TEST_F(SqliteStoreTest, ExpiredMessagesAreHiddenDoNotCountAndArePurged) {
  SqliteStore store(db());
  const std::string alice = "alice@example.com";
  storedId(store.storeMessage(makeMessage(alice, "short", kNow, kNow + 10), 2));
  storedId(store.storeMessage(makeMessage(alice, "long", kNow, kNow + 100), 2));
  storedId(store.storeMessage(makeMessage("bob@example.com", "bob", kNow, kNow + 10), 2));

  EXPECT_EQ(store.pendingMessages(alice, kNow + 9).size(), 2u);
  std::vector<StoredMessage> later = store.pendingMessages(alice, kNow + 10);  // expiresAt <= now: expired
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].body, "long");
  EXPECT_EQ(store.messageCount(alice, kNow + 10), 1u);
  EXPECT_EQ(store.totalMessageCount(kNow + 9), 3u);
  EXPECT_EQ(store.totalMessageCount(kNow + 10), 1u);

  // An expired message does not count against the cap (measured at the new one's receivedAt).
  EXPECT_EQ(store.storeMessage(makeMessage(alice, "no room", kNow + 9, kNow + 100), 2).status,
            StoreMessageResult::Status::Full);
  storedId(store.storeMessage(makeMessage(alice, "room", kNow + 10, kNow + 100), 2));

  EXPECT_EQ(rawQuery("SELECT count(*) FROM messages"), "4");
  EXPECT_EQ(store.purgeExpiredMessages(kNow + 9), 0u);
  EXPECT_EQ(store.purgeExpiredMessages(kNow + 10), 2u);
  EXPECT_EQ(rawQuery("SELECT count(*) FROM messages"), "2");
  EXPECT_EQ(store.purgeExpiredMessages(kNow + 10), 0u);
  EXPECT_EQ(store.pendingMessages(alice, kNow).size(), 2u);
  EXPECT_TRUE(store.pendingMessages("bob@example.com", kNow).empty());
}

TEST_F(SqliteStoreTest, DeleteMessageOnceThenFalseAndIdsAreNeverReused) {
  SqliteStore store(db());
  const std::string alice = "alice@example.com";
  std::int64_t first = storedId(store.storeMessage(makeMessage(alice, "1"), kCap));
  std::int64_t second = storedId(store.storeMessage(makeMessage(alice, "2"), kCap));
  EXPECT_TRUE(store.deleteMessage(first));
  EXPECT_FALSE(store.deleteMessage(first));
  EXPECT_FALSE(store.deleteMessage(999999));
  std::vector<StoredMessage> pending = store.pendingMessages(alice, kNow);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, second);

  // The newest message delivered, then a new one: a late second 2xx for the delivered one must not
  // delete the new one, so its id is not given out again.
  EXPECT_TRUE(store.deleteMessage(second));
  std::int64_t third = storedId(store.storeMessage(makeMessage(alice, "3"), kCap));
  EXPECT_GT(third, second);
  EXPECT_FALSE(store.deleteMessage(second));
  EXPECT_EQ(store.messageCount(alice, kNow), 1u);
}

TEST_F(SqliteStoreTest, StoredMessagesSurviveARestart) {
  const std::string alice = "alice@example.com";
  std::vector<std::int64_t> ids;
  {
    SqliteStore store(db());
    for (int i = 0; i < 5; ++i)
      ids.push_back(storedId(store.storeMessage(makeMessage(alice, std::to_string(i)), kCap)));
    ASSERT_TRUE(store.deleteMessage(ids[2]));
  }
  {
    SqliteStore store(db());
    std::vector<StoredMessage> pending = store.pendingMessages(alice, kNow);
    ASSERT_EQ(pending.size(), 4u);
    std::vector<std::string> bodies;
    for (const StoredMessage& m : pending) bodies.push_back(m.body);
    EXPECT_EQ(bodies, (std::vector<std::string>{"0", "1", "3", "4"}));
    StoredMessage expected = makeMessage(alice, "4");
    expected.id = ids[4];
    EXPECT_EQ(pending.back(), expected);
    EXPECT_GT(storedId(store.storeMessage(makeMessage(alice, "5"), kCap)), ids[4]);
  }
  EXPECT_EQ(rawQuery("PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteStoreTest, BinaryBodyWithNulBytesRoundTrips) {
  SqliteStore store(db());
  const std::string alice = "alice@example.com";
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  binary += std::string("\0\0tail\0", 7);
  StoredMessage m = makeMessage(alice, "");
  m.contentType = "application/octet-stream";
  m.body = binary;
  storedId(store.storeMessage(m, kCap));
  storedId(store.storeMessage(makeMessage(alice, ""), kCap));  // no body at all

  std::vector<StoredMessage> pending = store.pendingMessages(alice, kNow);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].body.size(), 256u + 7u);
  EXPECT_EQ(pending[0].body, binary);
  EXPECT_EQ(pending[1].body, "");
  EXPECT_EQ(rawQuery("SELECT group_concat(typeof(body)) FROM messages"), "blob,blob");
  EXPECT_EQ(rawQuery("SELECT length(body) FROM messages ORDER BY id LIMIT 1"), "263");
}

TEST_F(SqliteStoreTest, RemoveUserRemovesItsMessages) {
  SqliteStore store(db());
  ASSERT_TRUE(store.addUser(makeUser("alice", "Example.com")));
  storedId(store.storeMessage(makeMessage("alice@example.com", "1"), kCap));
  storedId(store.storeMessage(makeMessage("alice@example.com", "2"), kCap));
  storedId(store.storeMessage(makeMessage("bob@example.com", "3"), kCap));
  EXPECT_TRUE(store.removeUser("alice", "Example.com"));
  EXPECT_EQ(store.messageCount("alice@example.com", kNow), 0u);
  EXPECT_EQ(store.messageCount("bob@example.com", kNow), 1u);
  EXPECT_EQ(rawQuery("SELECT count(*) FROM messages"), "1");
}

TEST_F(SqliteStoreTest, ConcurrentStoresNeverExceedTheCap) {
  // Four threads on one store, and two more stores (own connections, as another process would
  // have) on the same file: exactly `cap` messages are stored.
  constexpr std::size_t kCapOf10 = 10;
  constexpr int kPerThread = 25;
  const std::string alice = "alice@example.com";
  SqliteStore store(db());
  SqliteStore other1(db());
  SqliteStore other2(db());
  std::atomic<int> stored{0}, full{0}, failed{0};
  auto attempt = [&](SqliteStore& s, int thread) {
    for (int i = 0; i < kPerThread; ++i) {
      try {
        StoreMessageResult r =
            s.storeMessage(makeMessage(alice, std::to_string(thread) + "-" + std::to_string(i)), kCapOf10);
        (r.status == StoreMessageResult::Status::Stored ? stored : full).fetch_add(1);
      } catch (const StoreError&) {
        failed.fetch_add(1);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(attempt, std::ref(store), t);
  threads.emplace_back(attempt, std::ref(other1), 4);
  threads.emplace_back(attempt, std::ref(other2), 5);
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(stored.load(), 10);
  EXPECT_EQ(full.load(), 6 * kPerThread - 10);
  EXPECT_EQ(store.messageCount(alice, kNow), kCapOf10);
  EXPECT_EQ(store.pendingMessages(alice, kNow).size(), kCapOf10);
  EXPECT_EQ(rawQuery("SELECT count(*) FROM messages"), "10");
}

}  // namespace
}  // namespace sipwarden::storage

namespace sipwarden::storage {
namespace {

TEST_F(SqliteStoreTest, CommittedBindingsIsReadInTheWritersOrderAlsoWhenTheQueueIsFull) {
  StoreSettings settings;
  settings.maxQueued = 3;
  SqliteStore store(db(), settings);
  const std::string aor = "alice@example.com";
  WriterGate gate;
  store.replaceBindings("gate@example.com", {}, gate.callback());
  gate.waitEntered();
  std::mutex m;
  std::vector<std::string> events;
  auto contacts = [](const std::optional<std::vector<Binding>>& rows) {
    if (!rows) return std::string("failed");
    std::string out;
    for (const Binding& b : *rows) out += b.contact + ";";
    return out;
  };
  store.replaceBindings(aor, {makeBinding(aor, "sip:a@192.0.2.1", kNow + 60)}, [&](bool ok) {
    std::lock_guard lock(m);
    events.push_back(ok ? "written" : "write failed");
  });
  store.replaceBindings("b@example.com", {}, {});
  store.replaceBindings("c@example.com", {}, {});
  store.replaceBindings(aor, {}, [&](bool ok) {  // over the bound: refused at once
    std::lock_guard lock(m);
    events.push_back(ok ? "removed" : "removal refused");
  });
  // The read is queued behind the first change in spite of the full queue, and sees it.
  store.committedBindings(aor, [&](std::optional<std::vector<Binding>> rows) {
    std::lock_guard lock(m);
    events.push_back("read " + contacts(rows));
  });
  gate.release();
  store.flush();
  {
    std::lock_guard lock(m);
    EXPECT_EQ(events, (std::vector<std::string>{"removal refused", "written", "read sip:a@192.0.2.1;"}));
    events.clear();
  }
  // A change queued right after a read, both waiting behind a held writer, is written in the same
  // round of the writer's loop but after the read: the read does not see it.
  WriterGate second;
  store.replaceBindings("gate@example.com", {}, second.callback());
  second.waitEntered();
  store.committedBindings(aor, [&](std::optional<std::vector<Binding>> rows) {
    std::lock_guard lock(m);
    events.push_back("read " + contacts(rows));
  });
  store.replaceBindings(aor, {makeBinding(aor, "sip:later@192.0.2.1", kNow + 60)}, [&](bool ok) {
    std::lock_guard lock(m);
    events.push_back(ok ? "later written" : "later failed");
  });
  store.committedBindings(aor, [&](std::optional<std::vector<Binding>> rows) {
    std::lock_guard lock(m);
    events.push_back("read " + contacts(rows));
  });
  second.release();
  store.flush();
  std::lock_guard lock(m);
  EXPECT_EQ(events, (std::vector<std::string>{"read sip:a@192.0.2.1;", "later written", "read sip:later@192.0.2.1;"}));
}

TEST_F(SqliteStoreTest, CommittedBindingsAfterAFailedWriteIsWhatTheDiskHolds) {
  StoreSettings settings;
  settings.busyTimeoutMs = 50;
  SqliteStore store(db(), settings);
  const std::string aor = "alice@example.com";
  store.replaceBindings(aor, {makeBinding(aor, "sip:old@192.0.2.1", kNow + 60)}, {});
  store.flush();
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  bool failed = false;
  store.replaceBindings(aor, {makeBinding(aor, "sip:new@192.0.2.1", kNow + 60)}, [&](bool ok) { failed = !ok; });
  store.flush();
  EXPECT_TRUE(failed);
  std::optional<std::vector<Binding>> rows;
  store.committedBindings(aor, [&](std::optional<std::vector<Binding>> r) { rows = std::move(r); });
  store.flush();
  ASSERT_TRUE(rows.has_value());  // a read is not blocked by another connection's write lock (WAL)
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().contact, "sip:old@192.0.2.1");
  EXPECT_EQ(rows->front().aor, aor);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
}

}  // namespace
}  // namespace sipwarden::storage
