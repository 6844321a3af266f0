#include "stats.hpp"

#include <algorithm>
#include <cstdio>

namespace sipwarden::loadclient {

void RunStats::merge(RunStats&& o) {
  offered += o.offered;
  calls += o.calls;
  started += o.started;
  succeeded += o.succeeded;
  failed += o.failed;
  notStarted += o.notStarted;
  unfinished += o.unfinished;
  elapsed = std::max(elapsed, o.elapsed);
  for (auto& [k, v] : o.failures) failures[k] += v;
  responseUs.insert(responseUs.end(), o.responseUs.begin(), o.responseUs.end());
  setupUs.insert(setupUs.end(), o.setupUs.begin(), o.setupUs.end());
  retransmissions += o.retransmissions;
  strays += o.strays;
  invalid += o.invalid;
  connectionsOpened += o.connectionsOpened;
  connectionsLost += o.connectionsLost;
  sendErrors += o.sendErrors;
  maxOutstanding += o.maxOutstanding;
}

double percentileMs(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return -1;
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i] / 1000.0;
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string num(double d, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, d);
  return b;
}

std::string connectionText(const Options& o) {
  if (o.transport == Transport::Udp) return "udp";
  if (o.connectionPerCall) return "per-call";
  return std::to_string(o.connections);
}

}  // namespace

std::string toJson(const Options& o, RunStats& s, const std::string& extra) {
  std::string j = "{";
  j += extra;
  j += "\"tool\":\"sipwarden-load\",\"mode\":\"" + std::string(modeName(o.mode)) + "\"";
  if (o.mode == Mode::Idle) j += ",\"idle_request\":\"" + o.idleRequest + "\"";
  j += ",\"transport\":\"" + std::string(transportName(o.transport)) + "\"";
  j += ",\"connections\":\"" + connectionText(o) + "\"";
  j += ",\"threads\":" + std::to_string(o.threads);
  if (usesTls(o.transport)) j += ",\"tls_version\":\"" + o.tlsVersion + "\"";
  j += ",\"offered\":" + num(s.offered, 1);
  j += ",\"calls\":" + std::to_string(s.calls);
  j += ",\"started\":" + std::to_string(s.started);
  j += ",\"succeeded\":" + std::to_string(s.succeeded);
  j += ",\"failed\":" + std::to_string(s.failed);
  j += ",\"not_started\":" + std::to_string(s.notStarted);
  j += ",\"unfinished\":" + std::to_string(s.unfinished);
  j += ",\"failed_pct\":" + num(s.failedPercent(), 3);
  j += ",\"elapsed_s\":" + num(s.elapsed, 3);
  j += ",\"achieved\":" + num(s.achieved(), 1);
  j += ",\"p50_ms\":" + num(percentileMs(s.responseUs, 0.5), 3);
  j += ",\"p99_ms\":" + num(percentileMs(s.responseUs, 0.99), 3);
  if (!s.setupUs.empty()) {
    j += ",\"setup_p50_ms\":" + num(percentileMs(s.setupUs, 0.5), 3);
    j += ",\"setup_p99_ms\":" + num(percentileMs(s.setupUs, 0.99), 3);
  }
  j += ",\"retransmissions\":" + std::to_string(s.retransmissions);
  j += ",\"strays\":" + std::to_string(s.strays);
  j += ",\"invalid\":" + std::to_string(s.invalid);
  j += ",\"connections_opened\":" + std::to_string(s.connectionsOpened);
  j += ",\"connections_lost\":" + std::to_string(s.connectionsLost);
  j += ",\"send_errors\":" + std::to_string(s.sendErrors);
  j += ",\"max_outstanding\":" + std::to_string(s.maxOutstanding);
  j += ",\"failures\":{";
  bool first = true;
  for (const auto& [k, v] : s.failures) {
    if (!first) j += ",";
    first = false;
    j.append("\"").append(jsonEscape(k)).append("\":").append(std::to_string(v));
  }
  j += "}";
  j += ",\"verdict\":\"" + std::string(s.passed() ? "PASS" : "FAIL") + "\"";
  if (!o.label.empty()) j += ",\"label\":\"" + jsonEscape(o.label) + "\"";
  j += "}";
  return j;
}

std::string toText(const Options& o, RunStats& s) {
  std::string t;
  t += std::string(modeName(o.mode)) + " over " + transportName(o.transport);
  if (o.transport != Transport::Udp) {
    t += o.connectionPerCall ? " (a new connection per call)" : " (" + std::to_string(o.connections) + " connection(s))";
  }
  t += ": offered " + num(s.offered, 1) + "/s, " + std::to_string(s.calls) + " calls, " + std::to_string(s.succeeded) +
       " succeeded, " + std::to_string(s.calls - s.succeeded) + " not (" + num(s.failedPercent(), 3) + "%), achieved " +
       num(s.achieved(), 1) + "/s over " + num(s.elapsed, 2) + " s; response time p50 " +
       num(percentileMs(s.responseUs, 0.5), 2) + " ms, p99 " + num(percentileMs(s.responseUs, 0.99), 2) + " ms";
  if (!s.setupUs.empty()) {
    t += "; connection set-up p50 " + num(percentileMs(s.setupUs, 0.5), 2) + " ms, p99 " +
         num(percentileMs(s.setupUs, 0.99), 2) + " ms";
  }
  t += std::string(" -> ") + (s.passed() ? "PASS" : "FAIL") + "\n";
  for (const auto& [k, v] : s.failures) t += "  " + std::to_string(v) + " x " + k + "\n";
  if (s.retransmissions || s.strays || s.invalid || s.connectionsLost || s.sendErrors) {
    t += "  retransmissions " + std::to_string(s.retransmissions) + ", stray responses " + std::to_string(s.strays) +
         ", invalid messages " + std::to_string(s.invalid) + ", connections lost " + std::to_string(s.connectionsLost) +
         ", send errors " + std::to_string(s.sendErrors) + "\n";
  }
  return t;
}

}  // namespace sipwarden::loadclient
