// The TLS wiring: which certificates the listeners use (from the configuration), building the
// context set, and reloading it when asked (SIGHUP) or when one of its files changes. A new set
// replaces the old one only when it builds; connections keep the set they were opened with.
//
// Thread-safety: used on the control thread only; the holder it fills is read by the workers.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "transport/tls_context.hpp"

namespace sipwarden::server {

class TlsSetup {
 public:
  TlsSetup(transport::TlsContextHolder& holder) : holder_(holder) {}

  /// Whether the configuration needs TLS contexts (a TLS listener).
  static bool needed(const config::Config& c);

  /// Builds the first context set; throws (config::ConfigError) naming the file on failure.
  void start(const config::Config& c);

  /// Rebuilds from `c` (SIGHUP with a re-read configuration, or the same one when its files
  /// changed). On failure logs the error and keeps the running set. Returns whether it swapped.
  bool reload(const config::Config& c, const std::string& why);

  /// True when a certificate, key, CA or CRL file in use changed since the last build.
  bool filesChanged() const;

 private:
  transport::TlsSettings settingsFor(const config::Config& c);
  std::map<std::string, std::string> fingerprintFiles() const;

  transport::TlsContextHolder& holder_;
  std::vector<std::string> watched_;
  std::map<std::string, std::string> stamps_;  ///< file -> size/mtime/inode when built
};

}  // namespace sipwarden::server
