// The certificate expiry schedule (the Exchange guide's): from `warningDays` before a certificate
// in use expires, a warning every day; after it has expired, an error every day. Pure functions
// of an injected time, so the schedule is tested on a simulated clock; the server calls
// expiryStatus()/expiryLogLine() at start and then whenever nextExpiryCheck() says.
#pragma once

#include <chrono>
#include <string>

#include "tls/certificate_info.hpp"

namespace sipwarden::tls {

enum class ExpiryState { Ok, ExpiresSoon, Expired, NotYetValid };

struct ExpiryStatus {
  ExpiryState state = ExpiryState::Ok;
  /// Ok and ExpiresSoon: whole days left, rounded up ("expires in 1 day" until the last second);
  /// Expired: whole days since notAfter, rounded down ("0 days ago" during the first day);
  /// NotYetValid: whole days until notBefore, rounded up.
  long days = 0;
};

/// RFC 5280 §4.1.2.5: the certificate is valid from notBefore through notAfter, inclusive.
/// ExpiresSoon when notAfter is at most `warningDays` days away.
ExpiryStatus expiryStatus(const CertificateInfo& info, std::chrono::system_clock::time_point now, unsigned warningDays);

/// "ok", "expires-soon", "expired", "not-yet-valid" (JSON and --json output).
const char* toString(ExpiryState state);

/// The daily log line: Info when Ok, Warn when ExpiresSoon, Error when Expired or NotYetValid.
/// It names the certificate (subject and SHA-1 thumbprint) and the date, e.g.
///   "TLS certificate CN=example.com (SHA-1 AB:...) expires in 10 days, on 2026-03-01T12:00:00Z: renew it"
LogLine expiryLogLine(const CertificateInfo& info, const ExpiryStatus& status);

/// When to check again after a check at `now`: in one day, or earlier at the moment the state
/// changes (notBefore, the start of the warning window, the instant after notAfter), so the first
/// warning and the first error are not up to a day late.
std::chrono::system_clock::time_point nextExpiryCheck(const CertificateInfo& info,
                                                      std::chrono::system_clock::time_point now, unsigned warningDays);

}  // namespace sipwarden::tls
