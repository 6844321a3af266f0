// Parser micro-benchmark (issue 2): sipwarden's parser and serializer against libosip2 and
// sofia-sip on the same four messages (bench_messages.hpp), in messages per second on one core,
// with heap allocations per message counted for every parser (bench_alloc_counter.cpp).
//
// Every parser is first checked on every message (Call-ID, CSeq, status, Contact count,
// credentials, body size, and that its serialized output parses back to the same message); the
// binary exits with an error before timing anything if one of them gets a message wrong.
//
// Variants:
//   sipwarden        one Message (and, for serialize, one output std::string) reused across
//                    messages, as a server worker uses them;
//   sipwarden_fresh  a Message (and output string) constructed for every message;
//   osip2            osip_message_init / osip_message_parse / osip_message_free
//                    (+ osip_message_force_update, osip_message_to_str, osip_free);
//   sofia            msg_make / sip_object / msg_destroy (+ msg_as_string into the msg's home).
// After the runs a table gives the figures side by side and the ratio to the faster peer.
// Besides the Google Benchmark flags, --messages=a,b (names from bench_messages.hpp) restricts the
// benchmarks and the allocation probes to those messages.
#include <benchmark/benchmark.h>
#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bench_alloc_counter.hpp"
#include "bench_messages.hpp"
#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::bench {
namespace {

// ---------------------------------------------------------------------------------------------
// The operations under test. Each is a small object holding whatever it reuses between messages;
// operator() handles one message and returns false when the parser rejected it.

class SipwardenParse {
 public:
  explicit SipwardenParse(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    sip::ParseError e = sip::parseMessage(text_, message_);
    benchmark::DoNotOptimize(message_.callId().data());
    return e.ok();
  }

 private:
  std::string_view text_;
  sip::Message message_;
};

class SipwardenParseFresh {
 public:
  explicit SipwardenParseFresh(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    sip::Message message;
    sip::ParseError e = sip::parseMessage(text_, message);
    benchmark::DoNotOptimize(message.callId().data());
    return e.ok();
  }

 private:
  std::string_view text_;
};

class SipwardenParseSerialize {
 public:
  explicit SipwardenParseSerialize(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    sip::ParseError e = sip::parseMessage(text_, message_);
    out_.clear();
    sip::serialize(message_, out_);
    benchmark::DoNotOptimize(out_.data());
    return e.ok();
  }

 private:
  std::string_view text_;
  sip::Message message_;
  std::string out_;
};

class SipwardenParseSerializeFresh {
 public:
  explicit SipwardenParseSerializeFresh(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    sip::Message message;
    sip::ParseError e = sip::parseMessage(text_, message);
    std::string out;
    sip::serialize(message, out);
    benchmark::DoNotOptimize(out.data());
    return e.ok();
  }

 private:
  std::string_view text_;
};

class OsipParse {
 public:
  explicit OsipParse(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    osip_message_t* msg = nullptr;
    if (osip_message_init(&msg) != 0) return false;
    int rc = osip_message_parse(msg, text_.data(), text_.size());
    benchmark::DoNotOptimize(msg->call_id);
    osip_message_free(msg);
    return rc == 0;
  }

 private:
  std::string_view text_;
};

// osip_message_parse keeps a copy of the input and marks it "identical to the structure", so
// osip_message_to_str on an unmodified message is a memcpy of the input. A proxy never forwards
// an unmodified message (it adds a Via), so the structure is re-encoded, as sipwarden and sofia do.
class OsipParseSerialize {
 public:
  explicit OsipParseSerialize(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    osip_message_t* msg = nullptr;
    if (osip_message_init(&msg) != 0) return false;
    int rc = osip_message_parse(msg, text_.data(), text_.size());
    char* out = nullptr;
    std::size_t len = 0;
    if (rc == 0) {
      osip_message_force_update(msg);
      rc = osip_message_to_str(msg, &out, &len);
    }
    benchmark::DoNotOptimize(out);
    osip_free(out);
    osip_message_free(msg);
    return rc == 0 && len != 0;
  }

 private:
  std::string_view text_;
};

class SofiaParse {
 public:
  explicit SofiaParse(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    msg_t* msg = msg_make(sip_default_mclass(), 0, text_.data(), static_cast<ssize_t>(text_.size()));
    if (msg == nullptr) return false;
    sip_t* sip = sip_object(msg);
    bool ok = sip != nullptr && !msg_has_error(msg);
    benchmark::DoNotOptimize(sip);
    msg_destroy(msg);
    return ok;
  }

 private:
  std::string_view text_;
};

class SofiaParseSerialize {
 public:
  explicit SofiaParseSerialize(const BenchMessage& m) : text_(m.text) {}
  bool operator()() {
    msg_t* msg = msg_make(sip_default_mclass(), 0, text_.data(), static_cast<ssize_t>(text_.size()));
    if (msg == nullptr) return false;
    bool ok = sip_object(msg) != nullptr && !msg_has_error(msg);
    std::size_t len = 0;
    char* out = msg_as_string(msg_home(msg), msg, nullptr, 0, &len);  // freed with the msg's home
    benchmark::DoNotOptimize(out);
    msg_destroy(msg);
    return ok && out != nullptr && len != 0;
  }

 private:
  std::string_view text_;
};

// ---------------------------------------------------------------------------------------------
// Verification: each parser must extract what bench_messages.hpp says, once, before timing.

std::string describe(std::string_view parser, const BenchMessage& m, std::string_view what) {
  return std::string(parser) + " on " + std::string(m.name) + ": " + std::string(what);
}

// The serialized form of every parser is parsed back by sipwarden and must carry the same message.
std::string checkWire(std::string_view parser, const BenchMessage& m, std::string_view wire) {
  sip::Message back;
  sip::ParseError e = sip::parseMessage(wire, back);
  if (!e.ok()) return describe(parser, m, "serialized output does not parse: " + std::string(e.detail));
  if (back.callId() != m.callId || back.cseq().number != m.cseq || back.body().size() != m.bodySize ||
      back.statusCode() != m.status || back.contacts().size() != m.contacts) {
    return describe(parser, m, "serialized output parses to a different message");
  }
  return {};
}

std::string verifySipwarden(const BenchMessage& m) {
  // Content-Length must state the body size (the messages are hand-written).
  std::size_t headerEnd = m.text.find("\r\n\r\n");
  if (headerEnd == std::string_view::npos || m.text.size() - headerEnd - 4 != m.bodySize) {
    return describe("bench_messages.hpp", m, "body size differs from the expectation");
  }
  sip::Message msg;
  sip::ParseError e = sip::parseMessage(m.text, msg);
  if (!e.ok()) return describe("sipwarden", m, std::string("rejected: ") + e.detail);
  if (msg.callId() != m.callId) return describe("sipwarden", m, "wrong Call-ID");
  if (msg.cseq().number != m.cseq || msg.cseq().methodText != m.cseqMethod)
    return describe("sipwarden", m, "wrong CSeq");
  if (msg.statusCode() != m.status) return describe("sipwarden", m, "wrong status");
  if (msg.contacts().size() != m.contacts) return describe("sipwarden", m, "wrong Contact count");
  if (!msg.hasContentLength() || msg.contentLength() != m.bodySize || msg.body().size() != m.bodySize) {
    return describe("sipwarden", m, "wrong body");
  }
  if (m.hasAuthorization) {
    const sip::HeaderField* h = msg.find(sip::HeaderId::Authorization);
    sip::AuthValue auth;
    if (h == nullptr || sip::parseAuth(h->value, auth) != nullptr || auth.response.size() != 32) {
      return describe("sipwarden", m, "Authorization not understood");
    }
  }
  std::string wire = sip::toWire(msg);
  if (wire != m.text) return describe("sipwarden", m, "serialize(parse(x)) != x");
  return checkWire("sipwarden", m, wire);
}

std::string verifyOsip(const BenchMessage& m) {
  osip_message_t* msg = nullptr;
  osip_message_init(&msg);
  std::string problem;
  auto fail = [&](std::string_view what) {
    if (problem.empty()) problem = describe("osip2", m, what);
  };
  if (osip_message_parse(msg, m.text.data(), m.text.size()) != 0) {
    fail("osip_message_parse failed");
  } else {
    osip_call_id_t* id = osip_message_get_call_id(msg);
    std::string callId = id == nullptr || id->number == nullptr ? "" : id->number;
    if (id != nullptr && id->host != nullptr) callId += std::string("@") + id->host;
    if (callId != m.callId) fail("wrong Call-ID");
    osip_cseq_t* cseq = osip_message_get_cseq(msg);
    if (cseq == nullptr || cseq->number == nullptr || cseq->method == nullptr ||
        std::to_string(m.cseq) != cseq->number || m.cseqMethod != cseq->method) {
      fail("wrong CSeq");
    }
    if ((m.status == 0) != MSG_IS_REQUEST(msg) || (m.status != 0 && msg->status_code != m.status)) fail("wrong status");
    if (static_cast<std::size_t>(osip_list_size(&msg->contacts)) != m.contacts) fail("wrong Contact count");
    std::size_t body = 0;
    for (int i = 0; i < osip_list_size(&msg->bodies); ++i) {
      body += static_cast<osip_body_t*>(osip_list_get(&msg->bodies, i))->length;
    }
    if (body != m.bodySize) fail("wrong body size");
    if (m.hasAuthorization) {
      osip_authorization_t* auth = nullptr;
      osip_message_get_authorization(msg, 0, &auth);
      if (auth == nullptr || auth->response == nullptr || std::strlen(auth->response) != 34) {  // with quotes
        fail("Authorization not understood");
      }
    }
    osip_message_force_update(msg);
    char* out = nullptr;
    std::size_t len = 0;
    if (osip_message_to_str(msg, &out, &len) != 0 || out == nullptr) {
      fail("osip_message_to_str failed");
    } else {
      std::string p = checkWire("osip2", m, std::string_view(out, len));
      if (!p.empty()) fail(p);
    }
    osip_free(out);
  }
  osip_message_free(msg);
  return problem;
}

std::string verifySofia(const BenchMessage& m) {
  msg_t* msg = msg_make(sip_default_mclass(), 0, m.text.data(), static_cast<ssize_t>(m.text.size()));
  if (msg == nullptr) return describe("sofia", m, "msg_make failed");
  std::string problem;
  auto fail = [&](std::string_view what) {
    if (problem.empty()) problem = describe("sofia", m, what);
  };
  sip_t* sip = sip_object(msg);
  if (sip == nullptr || msg_has_error(msg) || sip->sip_error != nullptr) {
    fail("parse error");
  } else {
    if (sip->sip_call_id == nullptr || m.callId != sip->sip_call_id->i_id) fail("wrong Call-ID");
    if (sip->sip_cseq == nullptr || sip->sip_cseq->cs_seq != m.cseq || m.cseqMethod != sip->sip_cseq->cs_method_name) {
      fail("wrong CSeq");
    }
    if ((m.status == 0) != (sip->sip_request != nullptr) ||
        (m.status != 0 && (sip->sip_status == nullptr || sip->sip_status->st_status != m.status))) {
      fail("wrong status");
    }
    std::size_t contacts = 0;
    for (sip_contact_t* c = sip->sip_contact; c != nullptr; c = c->m_next) ++contacts;
    if (contacts != m.contacts) fail("wrong Contact count");
    std::size_t body = 0;
    for (sip_payload_t* pl = sip->sip_payload; pl != nullptr; pl = pl->pl_next) body += pl->pl_len;
    if (body != m.bodySize) fail("wrong body size");
    if (m.hasAuthorization) {
      bool found = false;
      if (sip->sip_authorization != nullptr && sip->sip_authorization->au_params != nullptr) {
        for (msg_param_t const* p = sip->sip_authorization->au_params; *p != nullptr; ++p) {
          found = found || std::strncmp(*p, "response=\"6d0f4a9b", 18) == 0;
        }
      }
      if (!found) fail("Authorization not understood");
    }
    std::size_t len = 0;
    char* out = msg_as_string(msg_home(msg), msg, nullptr, 0, &len);
    if (out == nullptr) {
      fail("msg_as_string failed");
    } else {
      std::string p = checkWire("sofia", m, std::string_view(out, len));
      if (!p.empty()) fail(p);
    }
  }
  msg_destroy(msg);
  return problem;
}

// ---------------------------------------------------------------------------------------------
// Benchmarks and allocation probes.

template <typename Op>
void runBenchmark(benchmark::State& state, const BenchMessage& m) {
  Op op(m);
  if (!op()) {  // warm-up, and a last check
    state.SkipWithError("the parser rejected the message");
    return;
  }
  AllocCounts before = allocCounts();
  for (auto _ : state) {
    if (!op()) {
      state.SkipWithError("the parser rejected the message");
      break;
    }
  }
  AllocCounts used = allocCounts() - before;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * m.text.size()));
  state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["allocs/msg"] =
      benchmark::Counter(static_cast<double>(used.allocations), benchmark::Counter::kAvgIterations);
  state.counters["alloc_bytes/msg"] =
      benchmark::Counter(static_cast<double>(used.bytes), benchmark::Counter::kAvgIterations);
}

struct Probe {
  double allocations = 0;
  double bytes = 0;
};

// Allocations of one message, averaged over many after a warm-up (exact for deterministic parsers).
template <typename Op>
Probe probe(const BenchMessage& m) {
  constexpr int kRuns = 100;
  Op op(m);
  op();
  AllocCounts before = allocCounts();
  for (int i = 0; i < kRuns; ++i) op();
  AllocCounts used = allocCounts() - before;
  return {static_cast<double>(used.allocations) / kRuns, static_cast<double>(used.bytes) / kRuns};
}

using BenchFn = void (*)(benchmark::State&, const BenchMessage&);
using ProbeFn = Probe (*)(const BenchMessage&);

struct Variant {
  const char* name;
  BenchFn bench;
  ProbeFn probe;
};

constexpr std::string_view kOps[] = {"parse", "parse_serialize"};
constexpr std::string_view kVariantNames[] = {"sipwarden", "sipwarden_fresh", "osip2", "sofia"};

const Variant kVariants[2][4] = {
    {
        {"sipwarden", runBenchmark<SipwardenParse>, probe<SipwardenParse>},
        {"sipwarden_fresh", runBenchmark<SipwardenParseFresh>, probe<SipwardenParseFresh>},
        {"osip2", runBenchmark<OsipParse>, probe<OsipParse>},
        {"sofia", runBenchmark<SofiaParse>, probe<SofiaParse>},
    },
    {
        {"sipwarden", runBenchmark<SipwardenParseSerialize>, probe<SipwardenParseSerialize>},
        {"sipwarden_fresh", runBenchmark<SipwardenParseSerializeFresh>, probe<SipwardenParseSerializeFresh>},
        {"osip2", runBenchmark<OsipParseSerialize>, probe<OsipParseSerialize>},
        {"sofia", runBenchmark<SofiaParseSerialize>, probe<SofiaParseSerialize>},
    },
};

// The messages selected with --messages= (all by default).
std::vector<const BenchMessage*> gSelected;

std::string benchName(std::string_view op, std::string_view message, std::string_view variant) {
  return std::string(op) + "/" + std::string(message) + "/" + std::string(variant);
}

// Keeps the console output and remembers, per benchmark, the median of the repetitions (or the
// single run when there are none).
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  struct Result {
    double msgsPerSecond = 0;      ///< median of the repetitions (or the single run)
    double bestMsgsPerSecond = 0;  ///< fastest repetition; 0 without repetitions
    double allocations = 0;
    bool error = false;
    bool fromMedian = false;
  };

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      Result& r = results_[run.run_name.function_name];
      if (run.error_occurred) {
        r.error = true;
        continue;
      }
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "min_time") {
        // The "min_time" statistic (registered in main): the fastest repetition's CPU time.
        double ns = run.GetAdjustedCPUTime();
        if (ns > 0) r.bestMsgsPerSecond = 1e9 / ns;
        continue;
      }
      bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      if (r.fromMedian && !median) continue;
      auto value = [&](const char* counter) {
        auto it = run.counters.find(counter);
        return it == run.counters.end() ? 0.0 : it->second.value;
      };
      r.msgsPerSecond = value("msgs/s");
      r.allocations = value("allocs/msg");
      r.fromMedian = median;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  [[nodiscard]] const Result* find(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, Result> results_;
};

std::string formatRate(const CollectingReporter::Result* r) {
  if (r == nullptr) return "-";
  if (r->error) return "error";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", r->msgsPerSecond);
  // Thousands separators make the columns readable.
  std::string digits = buf;
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// ours / the faster of the two peers, on the median rates or (`best`) on the fastest repetitions.
std::string formatRatio(const CollectingReporter::Result* ours, const CollectingReporter::Result* a,
                        const CollectingReporter::Result* b, bool best) {
  auto rate = [best](const CollectingReporter::Result* r) {
    if (r == nullptr || r->error) return 0.0;
    return best ? r->bestMsgsPerSecond : r->msgsPerSecond;
  };
  double peer = std::max(rate(a), rate(b));
  if (rate(ours) <= 0 || peer <= 0) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2fx (%s)", rate(ours) / peer, rate(a) >= rate(b) ? "osip2" : "sofia");
  return buf;
}

void printSpeedTable(const CollectingReporter& reporter) {
  for (std::size_t op = 0; op < 2; ++op) {
    std::printf("\n### %s: messages per second on one core (median of repetitions, CPU time)\n\n",
                op == 0 ? "parse" : "parse + serialize");
    std::printf(
        "| message | sipwarden | sipwarden_fresh | osip2 | sofia | sipwarden / faster peer | "
        "same, fastest repetitions | sipwarden_fresh / faster peer |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    bool any = false;
    for (const BenchMessage* mp : gSelected) {
      const BenchMessage& m = *mp;
      const CollectingReporter::Result* r[4];
      bool row = false;
      for (std::size_t v = 0; v < 4; ++v) {
        r[v] = reporter.find(benchName(kOps[op], m.name, kVariantNames[v]));
        row = row || r[v] != nullptr;
      }
      if (!row) continue;
      any = true;
      std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", std::string(m.name).c_str(), formatRate(r[0]).c_str(),
                  formatRate(r[1]).c_str(), formatRate(r[2]).c_str(), formatRate(r[3]).c_str(),
                  formatRatio(r[0], r[2], r[3], false).c_str(), formatRatio(r[0], r[2], r[3], true).c_str(),
                  formatRatio(r[1], r[2], r[3], false).c_str());
    }
    if (!any) std::printf("| (no benchmark of this kind was selected) | | | | | | | |\n");
  }
}

void printAllocationTable() {
  for (std::size_t op = 0; op < 2; ++op) {
    std::printf("\n### %s: heap allocations per message (bytes requested in parentheses)\n\n",
                op == 0 ? "parse" : "parse + serialize");
    std::printf("| message | sipwarden | sipwarden_fresh | osip2 | sofia |\n|---|---:|---:|---:|---:|\n");
    for (const BenchMessage* mp : gSelected) {
      const BenchMessage& m = *mp;
      std::printf("| %s", std::string(m.name).c_str());
      for (const Variant& v : kVariants[op]) {
        Probe p = v.probe(m);
        std::printf(" | %g (%g B)", p.allocations, p.bytes);
      }
      std::printf(" |\n");
    }
  }
}

}  // namespace
}  // namespace sipwarden::bench

namespace sipwarden::bench {
namespace {

// --messages=a,b keeps only those messages (names as in kBenchMessages) for the benchmarks and
// the allocation probes; verification always covers all four. Returns false on an unknown name.
bool selectMessages(int& argc, char** argv) {
  constexpr std::string_view kFlag = "--messages=";
  std::string_view list;
  int kept = 0;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i > 0 && arg.substr(0, kFlag.size()) == kFlag) {
      list = arg.substr(kFlag.size());
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  for (const BenchMessage& m : kBenchMessages) {
    if (list.empty()) gSelected.push_back(&m);
  }
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    auto it = std::find_if(kBenchMessages.begin(), kBenchMessages.end(),
                           [&](const BenchMessage& m) { return m.name == name; });
    if (it == kBenchMessages.end()) {
      std::fprintf(stderr, "parser_bench: unknown message '%.*s'\n", static_cast<int>(name.size()), name.data());
      return false;
    }
    gSelected.push_back(&*it);
  }
  return true;
}

}  // namespace
}  // namespace sipwarden::bench

int main(int argc, char** argv) {
  using namespace sipwarden::bench;
  if (!selectMessages(argc, argv)) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  parser_init();  // libosip2's one-time initialisation

  std::vector<std::string> problems;
  for (const BenchMessage& m : kBenchMessages) {
    for (std::string p : {verifySipwarden(m), verifyOsip(m), verifySofia(m)}) {
      if (!p.empty()) problems.push_back(p);
    }
  }
  if (!problems.empty()) {
    std::fprintf(stderr,
                 "parser_bench: a parser does not parse the benchmark messages correctly; "
                 "refusing to compare:\n");
    for (const std::string& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
    return 1;
  }
  std::printf("All parsers verified on all %zu messages (fields, body, serialize round trip).\n",
              kBenchMessages.size());

  for (std::size_t op = 0; op < 2; ++op) {
    for (const BenchMessage* m : gSelected) {
      for (const Variant& v : kVariants[op]) {
        benchmark::RegisterBenchmark(benchName(kOps[op], m->name, v.name).c_str(), v.bench, *m)
            ->Unit(benchmark::kNanosecond)
            // On a shared machine the fastest repetition is the least disturbed one; the table
            // reports it beside the median (with --benchmark_repetitions). Only the time columns
            // of the *_min_time rows mean "fastest"; their counters are minima too (slowest msgs/s).
            ->ComputeStatistics("min_time",
                                [](const std::vector<double>& xs) { return *std::min_element(xs.begin(), xs.end()); });
      }
    }
  }

  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::fflush(stdout);

  std::printf("\n## Summary\n");
  printSpeedTable(reporter);
  printAllocationTable();
  benchmark::Shutdown();
  return 0;
}
