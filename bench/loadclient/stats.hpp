// What one run (one offered rate) of the load client measured, merged over its threads, and the
// lines it prints: a human summary and one JSON object.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "options.hpp"

namespace sipwarden::loadclient {

struct RunStats {
  double offered = 0;            ///< calls (connections) per second asked for
  std::uint64_t calls = 0;       ///< calls the run was to make
  std::uint64_t started = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;      ///< ended without success (a reason counted in `failures`)
  std::uint64_t notStarted = 0;  ///< never started (the client's outstanding-call limit or the end of the run)
  std::uint64_t unfinished = 0;  ///< still running when the run had to end
  double elapsed = 0;            ///< first call started .. last call ended, seconds
  std::map<std::string, std::uint64_t> failures;
  std::vector<std::uint32_t> responseUs;  ///< per successful call: first request sent .. the final 2xx
  std::vector<std::uint32_t> setupUs;     ///< per new connection: connect .. ready (TLS: handshake done)
  std::uint64_t retransmissions = 0;      ///< UDP requests sent again
  std::uint64_t strays = 0;               ///< responses for no call in progress (late, duplicated)
  std::uint64_t invalid = 0;              ///< messages that did not parse
  std::uint64_t connectionsOpened = 0;
  std::uint64_t connectionsLost = 0;      ///< closed by the peer or an error while in use
  std::uint64_t sendErrors = 0;
  std::uint64_t maxOutstanding = 0;

  void merge(RunStats&& other);
  [[nodiscard]] std::uint64_t notSuccessful() const { return calls - succeeded; }
  [[nodiscard]] double failedPercent() const { return calls ? 100.0 * static_cast<double>(notSuccessful()) / static_cast<double>(calls) : 0; }
  [[nodiscard]] double achieved() const { return elapsed > 0 ? static_cast<double>(succeeded) / elapsed : 0; }
  /// < 0.1% of the calls not successful and achieved >= 95% of the offered rate.
  [[nodiscard]] bool passed() const { return failedPercent() < 0.1 && achieved() >= 0.95 * offered; }
};

/// Percentile `q` (0..1) of `v` in milliseconds (sorts v); -1 when empty.
double percentileMs(std::vector<std::uint32_t>& v, double q);

std::string jsonEscape(const std::string& s);

/// One JSON object (no newline) describing `s`; `extra` is inserted verbatim after the first brace
/// when not empty (e.g. "\"step\":3,").
std::string toJson(const Options& o, RunStats& s, const std::string& extra = {});
/// A few human lines.
std::string toText(const Options& o, RunStats& s);

}  // namespace sipwarden::loadclient
