// Wall-clock time in Unix seconds: binding expiry and stored timestamps (persisted, so not the
// steady clock the transaction timers use).
#pragma once

#include <chrono>
#include <cstdint>

namespace sipwarden::server {

inline std::int64_t unixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace sipwarden::server
