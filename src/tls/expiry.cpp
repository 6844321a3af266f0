#include "tls/expiry.hpp"

#include <algorithm>

#include "tls/utc_time.hpp"

namespace sipwarden::tls {

namespace {

using std::chrono::days;

std::string dayCount(long n) { return std::to_string(n) + (n == 1 ? " day" : " days"); }

}  // namespace

ExpiryStatus expiryStatus(const CertificateInfo& info, std::chrono::system_clock::time_point now,
                          unsigned warningDays) {
  if (now < info.notBefore)
    return {ExpiryState::NotYetValid, static_cast<long>(std::chrono::ceil<days>(info.notBefore - now).count())};
  if (now > info.notAfter)
    return {ExpiryState::Expired, static_cast<long>(std::chrono::floor<days>(now - info.notAfter).count())};
  auto left = info.notAfter - now;
  long daysLeft = static_cast<long>(std::chrono::ceil<days>(left).count());
  if (left <= days(warningDays)) return {ExpiryState::ExpiresSoon, daysLeft};
  return {ExpiryState::Ok, daysLeft};
}

const char* toString(ExpiryState state) {
  switch (state) {
    case ExpiryState::Ok: return "ok";
    case ExpiryState::ExpiresSoon: return "expires-soon";
    case ExpiryState::Expired: return "expired";
    case ExpiryState::NotYetValid: return "not-yet-valid";
  }
  return "unknown";
}

LogLine expiryLogLine(const CertificateInfo& info, const ExpiryStatus& status) {
  std::string who = "TLS certificate " + info.subject + " (SHA-1 " + info.sha1 + ")";
  switch (status.state) {
    case ExpiryState::Ok:
      return {LogLine::Level::Info,
              who + " is valid until " + formatUtc(info.notAfter) + " (" + dayCount(status.days) + ")"};
    case ExpiryState::ExpiresSoon:
      return {LogLine::Level::Warn,
              who + (status.days == 0 ? " expires today" : " expires in " + dayCount(status.days)) + ", on " +
                  formatUtc(info.notAfter) + ": renew it (peers reject it once it has expired)"};
    case ExpiryState::Expired:
      return {LogLine::Level::Error,
              who + (status.days == 0 ? " expired today" : " expired " + dayCount(status.days) + " ago") + ", on " +
                  formatUtc(info.notAfter) + ": peers reject it; replace it"};
    case ExpiryState::NotYetValid:
      return {LogLine::Level::Error, who + " is not valid before " + formatUtc(info.notBefore) + " (in " +
                                         dayCount(status.days) + "): peers reject it; check the clock"};
  }
  return {LogLine::Level::Error, who + ": unknown state"};
}

std::chrono::system_clock::time_point nextExpiryCheck(const CertificateInfo& info,
                                                      std::chrono::system_clock::time_point now, unsigned warningDays) {
  auto next = now + days(1);
  // Certificate times are whole seconds: one second after notAfter it has expired (§4.1.2.5).
  for (auto change : {info.notBefore, info.notAfter - days(warningDays), info.notAfter + std::chrono::seconds(1)}) {
    if (change > now) next = std::min(next, change);
  }
  return next;
}

}  // namespace sipwarden::tls
