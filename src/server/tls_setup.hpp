// The TLS wiring: which certificates the listeners use (from the configuration), building the
// context set, and reloading it when asked (SIGHUP) or when one of its files changes. A new set
// replaces the old one only when it builds; connections keep the set they were opened with.
//
// Thread-safety: used on the control thread only; the holder it fills is read by the workers.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tls/certificate_store.hpp"
#include "transport/tls_context.hpp"

namespace sipwarden::server {

/// The certificate selection inputs the configuration gives: the [tls] pair and directory, the
/// data directory, the served domains followed by the host name.
tls::CertificateStoreSettings certificateStoreSettings(const config::Config& c);

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

  /// True when a certificate, key, CA or CRL file in use (or the certificates directory) changed
  /// since the last build.
  bool filesChanged() const;

  /// The expiry schedule: logs each certificate in use when its daily check is due (a warning
  /// every day from [tls] expiry_warning_days before expiry, an error every day after it).
  void checkExpiry(std::chrono::system_clock::time_point now);

 private:
  static void logSentChains(const transport::TlsContextSet& set);
  transport::TlsSettings settingsFor(const config::Config& c, std::vector<tls::CertificateInfo>& infos);
  std::map<std::string, std::string> fingerprintFiles() const;

  transport::TlsContextHolder& holder_;
  std::vector<std::string> watched_;
  std::map<std::string, std::string> stamps_;  ///< file -> size/mtime/inode when built
  std::vector<tls::CertificateInfo> inUse_;
  unsigned warningDays_ = 30;
  std::chrono::system_clock::time_point nextExpiryCheck_{};
};

}  // namespace sipwarden::server
