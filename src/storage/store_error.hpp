// The one exception type of the storage layer (start-up, CLI and synchronous calls; the
// asynchronous write path reports failures through its callbacks instead).
#pragma once

#include <stdexcept>
#include <string>

namespace sipwarden::storage {

/// A database error. The message names the database file and SQLite's error.
struct StoreError : std::runtime_error {
  using runtime_error::runtime_error;
  StoreError(const std::string& what, int code) : runtime_error(what), sqliteCode(code) {}

  int sqliteCode = 0;  ///< SQLite's extended result code; 0 when the error did not come from SQLite
};

}  // namespace sipwarden::storage
