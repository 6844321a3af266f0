#include "storage/sqlite_connection.hpp"

#include <sqlite3.h>

#include <climits>

namespace sipwarden::storage {

Statement::Statement(Connection& conn, std::string_view sql) : conn_(conn) {
  if (sql.size() > static_cast<std::size_t>(INT_MAX)) conn.fail("statement too long", SQLITE_TOOBIG);
  int rc = sqlite3_prepare_v3(conn.handle(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    conn.fail("prepare", rc);
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Query::~Query() {
  sqlite3_reset(s_.handle());
  sqlite3_clear_bindings(s_.handle());
}

Query& Query::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(s_.handle(), index, value);
  if (rc != SQLITE_OK) s_.connection().fail("bind", rc);
  return *this;
}

Query& Query::bind(int index, std::string_view value) {
  // A non-null pointer even for "" so that the column holds '' rather than NULL.
  static constexpr char kEmpty[] = "";
  const char* data = value.empty() ? kEmpty : value.data();
  int rc = sqlite3_bind_text64(s_.handle(), index, data, value.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) s_.connection().fail("bind", rc);
  return *this;
}

bool Query::step() {
  int rc = sqlite3_step(s_.handle());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  s_.connection().fail("step", rc);
}

void Query::run() {
  while (step()) {
  }
}

std::int64_t Query::columnInt(int index) const { return sqlite3_column_int64(s_.handle(), index); }

std::string_view Query::columnView(int index) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s_.handle(), index));
  if (text == nullptr) return {};
  return {text, static_cast<std::size_t>(sqlite3_column_bytes(s_.handle(), index))};
}

std::string Query::columnText(int index) const { return std::string(columnView(index)); }

namespace {

/// SQLite keeps allocation statistics (sqlite3_memory_used) under a global mutex taken on every
/// allocation, by every connection; nothing here reads them. Turned off once, before the first
/// connection initialises the library (if something initialised it first, the call is refused and
/// nothing changes).
void configureLibraryOnce() {
  static const bool configured = [] { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK; }();
  (void)configured;
}

}  // namespace

Connection::Connection(const std::filesystem::path& file, bool create, int busyTimeoutMs) : file_(file.string()) {
  configureLibraryOnce();
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(file_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw StoreError(file_ + ": cannot open database: " + message + " (code " + std::to_string(rc) + ")", rc);
  }
  sqlite3_extended_result_codes(db_, 1);
  try {
    rc = sqlite3_busy_timeout(db_, busyTimeoutMs);
    if (rc != SQLITE_OK) fail("busy_timeout", rc);
    // A 200 OK to REGISTER is sent only once the write is durable (ARCHITECTURE.md): every
    // commit syncs the WAL.
    exec("PRAGMA synchronous = FULL");
    exec("PRAGMA foreign_keys = ON");
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

Connection::~Connection() {
  statements_.clear();  // finalize before closing
  sqlite3_close_v2(db_);
}

void Connection::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw StoreError(file_ + ": " + message + " (code " + std::to_string(rc) + ")", rc);
  }
}

Statement& Connection::prepare(std::string_view sql) {
  statements_.push_back(std::make_unique<Statement>(*this, sql));
  return *statements_.back();
}

std::int64_t Connection::pragmaInt(Statement& pragma) {
  Query q(pragma);
  if (!q.step()) fail("pragma returned no value", SQLITE_ERROR);
  return q.columnInt(0);
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

void Connection::fail(std::string_view what, int rc) const {
  std::string message = file_;
  message += ": ";
  message += what;
  message += ": ";
  // sqlite3_errmsg describes the most recent failure on this connection; fall back to the code's
  // generic text when the failure did not come from a call on it.
  message += (db_ != nullptr && sqlite3_extended_errcode(db_) == rc) ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  message += " (code ";
  message += std::to_string(rc);
  message += ')';
  throw StoreError(message, rc);
}

WriteTransaction::WriteTransaction(Statement& begin, Statement& commit, Statement& rollback)
    : commit_(commit), rollback_(rollback) {
  Query(begin).run();
}

WriteTransaction::~WriteTransaction() {
  if (done_) return;
  // Errors are ignored: after some I/O errors SQLite has already rolled back.
  sqlite3_step(rollback_.handle());
  sqlite3_reset(rollback_.handle());
}

void WriteTransaction::commit() {
  Query(commit_).run();
  done_ = true;
}

}  // namespace sipwarden::storage
