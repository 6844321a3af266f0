// The expiry schedule on a simulated clock: the server checks at start and then whenever
// nextExpiryCheck() says; from 30 days before expiry a warning every day, an error every day after.
#include "tls/expiry.hpp"

#include "tls_test_support.hpp"

namespace sipwarden::tls {
namespace {

using namespace test;

CertificateInfo certificate(Clock::time_point notBefore, Clock::time_point notAfter) {
  CertificateInfo info;
  info.subject = "CN=sip.example.com";
  info.sha1 = "0A:1B:2C";
  info.notBefore = notBefore;
  info.notAfter = notAfter;
  return info;
}

struct Check {
  Clock::time_point at;
  ExpiryStatus status;
  LogLine line;
};

/// Runs the daily check from `start` until `end` as the server would, on simulated time.
std::vector<Check> simulate(const CertificateInfo& info, Clock::time_point start, Clock::time_point end,
                            unsigned window) {
  std::vector<Check> checks;
  for (Clock::time_point now = start; now < end;) {
    ExpiryStatus st = expiryStatus(info, now, window);
    checks.push_back({now, st, expiryLogLine(info, st)});
    Clock::time_point next = nextExpiryCheck(info, now, window);
    EXPECT_GT(next, now);
    EXPECT_LE(next - now, 24h);
    if (next <= now) break;
    now = next;
  }
  return checks;
}

TEST(ExpirySchedule, DailyWarningsInTheWindowAndDailyErrorsAfterExpiry) {
  Clock::time_point start = fixedNow();
  CertificateInfo info = certificate(start - Days(365), start + Days(40) + 6h);
  std::vector<Check> checks = simulate(info, start, info.notAfter + Days(5), 30);

  std::vector<const Check*> ok, warnings, errors;
  for (const Check& c : checks) {
    switch (c.line.level) {
      case LogLine::Level::Info: ok.push_back(&c); break;
      case LogLine::Level::Warn: warnings.push_back(&c); break;
      case LogLine::Level::Error: errors.push_back(&c); break;
    }
  }
  // Before the window: quiet (info) checks once a day.
  ASSERT_FALSE(ok.empty());
  for (const Check* c : ok) {
    EXPECT_EQ(c->status.state, ExpiryState::Ok);
    EXPECT_LT(c->at, info.notAfter - Days(30));
  }
  EXPECT_EQ(ok.size(), 11u);  // start .. start + 10 days

  // The first warning is exactly when the window opens, then one every 24 hours, counting down.
  ASSERT_EQ(warnings.size(), 31u);  // 30 days left .. 1 day left, and "today" at notAfter itself
  EXPECT_EQ(warnings.front()->at, info.notAfter - Days(30));
  for (std::size_t i = 0; i < warnings.size(); ++i) {
    EXPECT_EQ(warnings[i]->status.state, ExpiryState::ExpiresSoon);
    EXPECT_EQ(warnings[i]->status.days, 30 - static_cast<long>(i));
    if (i > 0) {
      EXPECT_EQ(warnings[i]->at - warnings[i - 1]->at, 24h);
    }
  }
  EXPECT_EQ(warnings.back()->at, info.notAfter);

  // The first error one second after notAfter (RFC 5280 §4.1.2.5: notAfter is inclusive), then daily.
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors.front()->at, info.notAfter + 1s);
  for (std::size_t i = 0; i < errors.size(); ++i) {
    EXPECT_EQ(errors[i]->status.state, ExpiryState::Expired);
    EXPECT_EQ(errors[i]->status.days, static_cast<long>(i));
    if (i > 0) {
      EXPECT_EQ(errors[i]->at - errors[i - 1]->at, 24h);
    }
  }
}

TEST(ExpirySchedule, AShorterWindowStartsLater) {
  CertificateInfo info = certificate(fixedNow() - Days(10), fixedNow() + Days(20));
  std::vector<Check> checks = simulate(info, fixedNow(), info.notAfter, 7);
  auto firstWarning = std::find_if(checks.begin(), checks.end(),
                                   [](const Check& c) { return c.status.state == ExpiryState::ExpiresSoon; });
  ASSERT_NE(firstWarning, checks.end());
  EXPECT_EQ(firstWarning->at, info.notAfter - Days(7));
  EXPECT_EQ(firstWarning->status.days, 7);
}

TEST(ExpirySchedule, BoundariesAndRounding) {
  Clock::time_point na = fixedNow();
  CertificateInfo info = certificate(na - Days(100), na);
  auto at = [&](Clock::duration d) { return expiryStatus(info, na + d, 30); };
  EXPECT_EQ(at(-Days(30) - 1s).state, ExpiryState::Ok);
  EXPECT_EQ(at(-Days(30) - 1s).days, 31);
  EXPECT_EQ(at(-Days(30)).state, ExpiryState::ExpiresSoon);
  EXPECT_EQ(at(-Days(30)).days, 30);
  EXPECT_EQ(at(-Days(9) - 1h).days, 10);  // 9 days 1 hour left: "in 10 days"
  EXPECT_EQ(at(-1s).days, 1);
  EXPECT_EQ(at(0s).state, ExpiryState::ExpiresSoon);
  EXPECT_EQ(at(0s).days, 0);
  EXPECT_EQ(at(1s).state, ExpiryState::Expired);
  EXPECT_EQ(at(1s).days, 0);
  EXPECT_EQ(at(Days(3) + 1h).days, 3);
  EXPECT_EQ(expiryStatus(info, info.notBefore - 1s, 30).state, ExpiryState::NotYetValid);
  EXPECT_EQ(expiryStatus(info, info.notBefore - Days(2) - 1s, 30).days, 3);
  EXPECT_EQ(expiryStatus(info, info.notBefore, 30).state, ExpiryState::Ok);
}

TEST(ExpirySchedule, NextCheckWaitsForNotBefore) {
  CertificateInfo info = certificate(fixedNow() + 3h, fixedNow() + Days(400));
  EXPECT_EQ(nextExpiryCheck(info, fixedNow(), 30), fixedNow() + 3h);
  EXPECT_EQ(nextExpiryCheck(info, fixedNow() + 3h, 30), fixedNow() + 3h + 24h);
}

TEST(ExpirySchedule, LogLinesNameTheCertificateAndTheDate) {
  CertificateInfo info = certificate(fixedNow() - Days(100), *parseUtc("2031-03-25T12:00:00Z"));
  LogLine soon = expiryLogLine(info, expiryStatus(info, fixedNow(), 30));
  EXPECT_EQ(soon.level, LogLine::Level::Warn);
  EXPECT_EQ(soon.text,
            "TLS certificate CN=sip.example.com (SHA-1 0A:1B:2C) expires in 10 days, on 2031-03-25T12:00:00Z: renew it "
            "(peers reject it once it has expired)");
  LogLine one = expiryLogLine(info, expiryStatus(info, info.notAfter - 1h, 30));
  EXPECT_NE(one.text.find("expires in 1 day, on"), std::string::npos) << one.text;
  LogLine expired = expiryLogLine(info, expiryStatus(info, info.notAfter + Days(3), 30));
  EXPECT_EQ(expired.level, LogLine::Level::Error);
  EXPECT_EQ(expired.text,
            "TLS certificate CN=sip.example.com (SHA-1 0A:1B:2C) expired 3 days ago, on 2031-03-25T12:00:00Z: peers "
            "reject it; replace it");
  EXPECT_NE(expiryLogLine(info, expiryStatus(info, info.notAfter + 1s, 30)).text.find("expired today"),
            std::string::npos);
  LogLine fine = expiryLogLine(info, expiryStatus(info, fixedNow(), 5));
  EXPECT_EQ(fine.level, LogLine::Level::Info);
  EXPECT_NE(fine.text.find("is valid until 2031-03-25T12:00:00Z (10 days)"), std::string::npos) << fine.text;
  LogLine early = expiryLogLine(info, expiryStatus(info, info.notBefore - Days(1), 30));
  EXPECT_EQ(early.level, LogLine::Level::Error);
  EXPECT_NE(early.text.find("is not valid before"), std::string::npos) << early.text;
  EXPECT_STREQ(toString(ExpiryState::ExpiresSoon), "expires-soon");
  EXPECT_STREQ(toString(ExpiryState::Expired), "expired");
  EXPECT_STREQ(toString(ExpiryState::Ok), "ok");
  EXPECT_STREQ(toString(ExpiryState::NotYetValid), "not-yet-valid");
}

}  // namespace
}  // namespace sipwarden::tls
