// Thin RAII wrappers over the SQLite C API, private to the storage layer: a connection with its
// prepared statements, a cursor that binds, steps and resets one statement, and a write
// transaction guard. Every error becomes a StoreError naming the database file.
//
// Thread-safety: none. A Connection is opened with SQLITE_OPEN_NOMUTEX; its owner makes sure one
// thread at a time uses it (SqliteStore: the sync connection under a mutex, the writer's
// connection on the writer thread only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store_error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sipwarden::storage {

class Connection;

/// A prepared statement owned by its Connection (prepared once, reused: no SQL is built from data).
class Statement {
 public:
  Statement(Connection& conn, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  [[nodiscard]] sqlite3_stmt* handle() const { return stmt_; }
  [[nodiscard]] Connection& connection() const { return conn_; }

 private:
  Connection& conn_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// One execution of a Statement. Parameters are 1-based, columns 0-based. Bound text is not
/// copied (SQLITE_STATIC): it must outlive the Query. The statement is reset and its bindings
/// cleared when the Query ends, so the next use starts clean even after an exception.
class Query {
 public:
  explicit Query(Statement& s) : s_(s) {}
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int index, std::int64_t value);
  Query& bind(int index, std::string_view value);
  /// Runs one step: true when a row is available, false when done. Throws StoreError.
  bool step();
  /// Steps to completion (a statement that returns no rows).
  void run();

  [[nodiscard]] std::int64_t columnInt(int index) const;
  [[nodiscard]] std::string columnText(int index) const;
  [[nodiscard]] std::string_view columnView(int index) const;  ///< valid until the next step

 private:
  Statement& s_;
};

class Connection {
 public:
  /// Opens (creating when `create`) the database file and applies the per-connection settings:
  /// busy timeout, synchronous=FULL, foreign keys. Throws StoreError.
  Connection(const std::filesystem::path& file, bool create, int busyTimeoutMs);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] sqlite3* handle() const { return db_; }
  [[nodiscard]] const std::string& file() const { return file_; }

  /// Runs SQL text written in this file's code (never data): schema, pragmas.
  void exec(const char* sql);
  /// Prepares a statement owned by the connection (for the connection's lifetime).
  Statement& prepare(std::string_view sql);
  /// The value of a pragma that returns one integer (e.g. "PRAGMA data_version").
  std::int64_t pragmaInt(Statement& pragma);

  /// Number of rows changed by the last INSERT/UPDATE/DELETE on this connection.
  [[nodiscard]] std::int64_t changes() const;

  /// Throws StoreError "<file>: <what>: <SQLite's message> (code N)".
  [[noreturn]] void fail(std::string_view what, int rc) const;

 private:
  std::string file_;
  sqlite3* db_ = nullptr;
  std::vector<std::unique_ptr<Statement>> statements_;
};

/// BEGIN IMMEDIATE (takes the write lock at once, waiting up to the busy timeout, so a read never
/// has to be upgraded to a write mid-transaction); ROLLBACK unless commit() succeeded.
class WriteTransaction {
 public:
  WriteTransaction(Statement& begin, Statement& commit, Statement& rollback);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit();

 private:
  Statement& commit_;
  Statement& rollback_;
  bool done_ = false;
};

}  // namespace sipwarden::storage
