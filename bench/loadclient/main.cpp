// sipwarden-load: the project's own SIP load client (issue 5). Debian's SIPp has no TLS, so TLS
// load (register, message and call, a persistent connection or a handshake per call, idle
// connections) is driven by this client; on UDP and TCP its figures are checked against SIPp's
// (bench/RESULTS.md). Run `sipwarden-load --help` for the options.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include <openssl/ssl.h>

#include "engine.hpp"
#include "hold.hpp"
#include "links.hpp"
#include "options.hpp"
#include "stats.hpp"

using namespace sipwarden::loadclient;

namespace {

void onSignal(int) { gStopRequested = true; }

void raiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void emit(const Options& o, const std::string& json) {
  std::cout << json << std::endl;
  if (!o.jsonFile.empty()) {
    std::ofstream f(o.jsonFile, std::ios::app);
    f << json << "\n";
  }
}

void note(const Options& o, const std::string& text) {
  if (!o.quiet) std::cerr << text << std::flush;
}

void writeReady(const Options& o, const std::string& text) {
  if (o.readyFile.empty()) return;
  std::string tmp = o.readyFile + ".tmp";
  {
    std::ofstream f(tmp);
    f << text << "\n";
  }
  std::rename(tmp.c_str(), o.readyFile.c_str());
}

/// One run over every engine, each on its own thread with its share of the rate and the calls.
RunStats runAll(std::vector<std::unique_ptr<Engine>>& engines, double rate, std::uint64_t calls) {
  if (engines.size() == 1) return engines[0]->run(rate, calls);
  std::vector<RunStats> parts(engines.size());
  std::vector<std::thread> threads;
  auto n = engines.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t share = calls / n + (i < calls % n ? 1 : 0);
    threads.emplace_back([&, i, share] { parts[i] = engines[i]->run(rate / static_cast<double>(n), share); });
  }
  for (auto& t : threads) t.join();
  RunStats all = std::move(parts[0]);
  for (std::size_t i = 1; i < n; ++i) all.merge(std::move(parts[i]));
  return all;
}

double niceRate(double r) {
  double step = r >= 1000 ? 50 : r >= 100 ? 10 : 1;
  return std::max(1.0, std::round(r / step) * step);
}

/// The longest the whole process may take, from the options (a watchdog enforces it).
double wallBound(const Options& o) {
  if (o.maxWall > 0) return o.maxWall;
  double run = static_cast<double>(o.calls) / o.rate + 2 * o.callTimeout + 10;
  switch (o.mode) {
    case Mode::Uas:
      return o.hold + static_cast<double>(o.usersLast - o.usersFirst + 1) / o.registerRate + 2 * o.callTimeout + 60;
    case Mode::Idle:
      return run + o.hold + 60;
    case Mode::Hold:
      return static_cast<double>(o.calls) / o.rate + 2 * o.callTimeout +
             static_cast<double>(o.milestones.size() + 1) * (o.settle + o.callTimeout + 5) + o.hold + 120;
    default:
      break;
  }
  if (o.search) {
    int steps = static_cast<int>(std::ceil(std::log(o.searchMax / o.searchStart) / std::log(o.searchFactor))) + 2 +
                o.searchRefine + 20;
    return steps * (o.duration + 2 * o.callTimeout + 10 + o.searchPause) + 60;
  }
  return run + 60;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parseOptions(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.empty()) {
      std::cout << usage();
      return 0;
    }
    std::cerr << "sipwarden-load: " << what << "\n\n" << usage();
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(2): a closed peer must not kill us
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  raiseFileLimit();

  // The watchdog: whatever happens, the process ends. First a stop request (runs end and report),
  // then, 15 s later, an exit.
  double bound = wallBound(o);
  std::thread([bound] {
    std::this_thread::sleep_for(std::chrono::duration<double>(bound));
    std::cerr << "sipwarden-load: the run's time bound (" << bound << " s) is up, stopping\n";
    gStopRequested = true;
    std::this_thread::sleep_for(std::chrono::seconds(15));
    std::cerr << "sipwarden-load: did not stop in time, exiting\n";
    std::_Exit(3);
  }).detach();

  std::vector<User> users;
  std::vector<std::string> callees;
  std::unique_ptr<TlsContexts> tls;
  try {
    users = loadUsers(o);
    callees = loadCallees(o);
    if (usesTls(o.transport)) tls = std::make_unique<TlsContexts>(o);
  } catch (const std::exception& e) {
    std::cerr << "sipwarden-load: " << e.what() << "\n";
    return 2;
  }

  std::uint32_t runTag = std::random_device{}();
  if (o.mode == Mode::Hold) {
    // One descriptor per client: refuse a run the file limit cannot hold rather than fail late.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && o.calls + 64 > rl.rlim_cur) {
      std::string why = "hold: " + std::to_string(o.calls) + " clients need as many descriptors, RLIMIT_NOFILE is " +
                        std::to_string(rl.rlim_cur) + " (hard " + std::to_string(rl.rlim_max) + ")";
      std::cerr << "sipwarden-load: " << why << "\n";
      emit(o, "{\"tool\":\"sipwarden-load\",\"mode\":\"hold\",\"error\":\"" + jsonEscape(why) + "\",\"verdict\":\"FAIL\"}");
      return 2;
    }
    HoldEngine h(o, users, tls.get(), runTag);
    bool passed = false;
    std::string j = h.run(passed);
    emit(o, j);
    return passed ? 0 : 1;
  }
  std::vector<std::unique_ptr<Engine>> engines;
  for (unsigned i = 0; i < o.threads; ++i) {
    engines.push_back(std::make_unique<Engine>(o, users, callees, tls.get(), i, o.threads, runTag));
  }
  for (auto& e : engines) {
    std::string why;
    if (!e->prepare(10, why)) {
      std::cerr << "sipwarden-load: " << why << "\n";
      emit(o, "{\"tool\":\"sipwarden-load\",\"mode\":\"" + std::string(modeName(o.mode)) + "\",\"error\":\"" +
                  jsonEscape(why) + "\",\"verdict\":\"FAIL\"}");
      return 2;
    }
  }

  if (o.mode == Mode::Uas) {
    // Register every user with this process as the Contact, over the connection(s) kept open.
    std::uint64_t n = users.size();
    RunStats reg = engines[0]->run(o.registerRate, n);
    emit(o, toJson(o, reg, "\"phase\":\"uas-register\","));
    if (reg.succeeded != n) {
      note(o, "uas: registering failed: " + toText(o, reg));
      return 2;
    }
    note(o, "uas: " + std::to_string(n) + " users registered; answering requests\n");
    writeReady(o, "{\"registered\":" + std::to_string(n) + "}");
    engines[0]->serve(o.hold);
    const UasStats& u = engines[0]->uasStats();
    std::string j = "{\"tool\":\"sipwarden-load\",\"mode\":\"uas\",\"transport\":\"" +
                    std::string(transportName(o.transport)) + "\",\"registered\":" + std::to_string(n) +
                    ",\"requests\":{";
    bool first = true;
    for (const auto& [k, v] : u.requests) {
      j += (first ? "\"" : ",\"") + jsonEscape(k) + "\":" + std::to_string(v);
      first = false;
    }
    j += "},\"responses_sent\":" + std::to_string(u.responsesSent) +
         ",\"connections_accepted\":" + std::to_string(u.connectionsAccepted) +
         ",\"connections_lost\":" + std::to_string(u.connectionsLost) + ",\"invalid\":" + std::to_string(u.invalid) +
         ",\"send_errors\":" + std::to_string(u.sendErrors);
    if (!o.label.empty()) j += ",\"label\":\"" + jsonEscape(o.label) + "\"";
    j += "}";
    emit(o, j);
    return 0;
  }

  if (o.mode == Mode::Idle) {
    RunStats open = runAll(engines, o.rate, o.calls);
    note(o, "idle: " + toText(o, open));
    writeReady(o, "{\"open\":" + std::to_string(open.succeeded) + ",\"failed\":" +
                      std::to_string(open.calls - open.succeeded) + "}");
    HoldStats held;
    std::vector<HoldStats> parts(engines.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < engines.size(); ++i) {
      threads.emplace_back([&, i] { parts[i] = engines[i]->hold(o.hold); });
    }
    for (auto& t : threads) t.join();
    for (auto& p : parts) {
      held.held += p.held;
      held.lost += p.lost;
      held.messagesDuringHold += p.messagesDuringHold;
      for (auto& [k, v] : p.reasons) held.reasons[k] += v;
    }
    std::string extra = "\"held\":" + std::to_string(held.held) + ",\"hold_s\":" + std::to_string(o.hold) +
                        ",\"lost_during_hold\":" + std::to_string(held.lost) +
                        ",\"messages_during_hold\":" + std::to_string(held.messagesDuringHold) + ",\"hold_losses\":{";
    bool first = true;
    for (const auto& [k, v] : held.reasons) {
      extra += (first ? "\"" : ",\"") + jsonEscape(k) + "\":" + std::to_string(v);
      first = false;
    }
    extra += "},";
    note(o, "idle: held " + std::to_string(held.held) + " connections for " + std::to_string(o.hold) + " s, " +
                std::to_string(held.lost) + " closed by the other side or an error meanwhile\n");
    emit(o, toJson(o, open, extra));
    return open.passed() && held.lost == 0 ? 0 : 1;
  }

  if (!o.search) {
    RunStats s = runAll(engines, o.rate, o.calls);
    note(o, toText(o, s));
    emit(o, toJson(o, s));
    return s.passed() ? 0 : 1;
  }

  // Search: raise the rate until a run fails, then bisect between the last pass and the first fail.
  double lo = 0, hi = 0;
  int step = 0;
  bool serverGone = false;
  auto tryRate = [&](double rate) {
    auto calls = static_cast<std::uint64_t>(std::llround(std::max(1.0, rate * o.duration)));
    RunStats s = runAll(engines, rate, calls);
    ++step;
    note(o, "search step " + std::to_string(step) + ": " + toText(o, s));
    emit(o, toJson(o, s, "\"search_step\":" + std::to_string(step) + ","));
    if (o.searchPause > 0 && !gStopRequested) std::this_thread::sleep_for(std::chrono::duration<double>(o.searchPause));
    // A server that refuses every connection has gone away: lower rates would not tell more.
    bool refused = s.succeeded == 0 && !s.failures.empty();
    for (const auto& [reason, n] : s.failures) refused = refused && reason.find("connect: ") != std::string::npos;
    if (refused) {
      note(o, "search: every connection was refused; the server is gone, the search stops\n");
      serverGone = true;
    }
    return s.passed();
  };
  double rate = niceRate(o.searchStart);
  if (tryRate(rate)) {
    lo = rate;
    while (!gStopRequested && !serverGone) {
      double next = niceRate(rate * o.searchFactor);
      if (next > o.searchMax || next <= rate) break;
      rate = next;
      if (tryRate(rate)) {
        lo = rate;
      } else {
        hi = rate;
        break;
      }
    }
  } else {
    hi = rate;
    for (int i = 0; i < 20 && rate > 1 && !gStopRequested && !serverGone; ++i) {
      rate = niceRate(rate / 2);
      if (rate >= hi) break;
      if (tryRate(rate)) {
        lo = rate;
        break;
      }
      hi = rate;
    }
  }
  for (int k = 0; k < o.searchRefine && hi > 0 && !gStopRequested && !serverGone; ++k) {
    double minStep = o.searchStep > 0 ? o.searchStep : std::max(1.0, 0.05 * lo);
    if (hi - lo <= minStep) break;
    double mid = niceRate((lo + hi) / 2);
    if (mid <= lo || mid >= hi) break;
    if (tryRate(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  char b[256];
  std::snprintf(b, sizeof b,
                "{\"tool\":\"sipwarden-load\",\"search_result\":true,\"mode\":\"%s\",\"transport\":\"%s\","
                "\"connections\":\"%s\",\"best\":%.0f,\"first_failing\":%.0f,\"steps\":%d,\"server_gone\":%s%s%s%s}",
                modeName(o.mode), transportName(o.transport),
                o.transport == Transport::Udp ? "udp" : o.connectionPerCall ? "per-call" : std::to_string(o.connections).c_str(),
                lo, hi, step, serverGone ? "true" : "false", o.label.empty() ? "" : ",\"label\":\"", jsonEscape(o.label).c_str(),
                o.label.empty() ? "" : "\"");
  note(o, "search: highest passing rate " + std::to_string(static_cast<long>(lo)) + "/s (first failing " +
              (hi > 0 ? std::to_string(static_cast<long>(hi)) : std::string("none up to the maximum")) + ")\n");
  emit(o, b);
  return 0;
}
