#include "hold.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "engine.hpp"  // gStopRequested
#include "stats.hpp"   // percentileMs, jsonEscape

namespace sipwarden::loadclient {

namespace {

constexpr std::size_t kMaxReasons = 64;  // distinct failure texts kept; more go to "other"

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint32_t micros(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return static_cast<std::uint32_t>(std::clamp<long long>(us, 0, 0xffffffffLL));
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

Clock::duration span(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

/// "Name:   123 kB" lines of /proc/PID/status or smaps_rollup: the value in KiB, -1 when absent.
long procKib(const std::string& path, std::string_view key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() && line[key.size()] == ':') {
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

std::string fmt(double d, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, d);
  return b;
}

std::string jsonMap(const std::map<std::string, std::uint64_t>& m) {
  std::string j = "{";
  bool first = true;
  for (const auto& [k, v] : m) {
    j += (first ? "\"" : ",\"") + jsonEscape(k) + "\":" + std::to_string(v);
    first = false;
  }
  return j + "}";
}

}  // namespace

HoldEngine::HoldEngine(const Options& o, const std::vector<User>& users, const TlsContexts* tls, std::uint32_t runTag)
    : o_(o), users_(users), runTag_(runTag), shared_(io_, *this, tls), timer_(io_) {
  char b[16];
  std::snprintf(b, sizeof b, "%08x", runTag_);
  runTagHex_ = b;
  shared_.wsPath = o.wsPath;
  shared_.wsHost = o.wsHost;
  shared_.wsOrigin = o.wsOrigin;
  shared_.wsRandom = splitmix(runTag ^ std::random_device{}()) | 1;
  shared_.lean = true;
  server_ = tcp::endpoint(asio::ip::make_address(o.serverIp), o.serverPort);
  for (const auto& ip : o.localIps) sources_.push_back(asio::ip::make_address(ip));
  n_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(o.calls, users.size()));
  clients_.resize(n_);
  req_.reserve(2048);
}

HoldEngine::~HoldEngine() {
  for (auto& c : clients_) {
    if (c.link) {
      c.link->ownerTag = 0;
      c.link->close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The run

std::string HoldEngine::run(bool& passed) {
  t0_ = paceBase_ = nextProgress_ = Clock::now();
  std::vector<std::uint64_t> marks;
  for (auto m : o_.milestones) {
    if (m > 0 && m < n_) marks.push_back(m);
  }
  std::sort(marks.begin(), marks.end());
  marks.erase(std::unique(marks.begin(), marks.end()), marks.end());
  double bound = static_cast<double>(n_) / o_.rate + 2 * o_.callTimeout +
                 static_cast<double>(marks.size() + 1) * (o_.settle + o_.callTimeout + 5) + o_.hold + 60;
  hardEnd_ = t0_ + span(bound);
  sample("0");
  milestones_ = std::move(marks);
  milestones_.push_back(n_);
  tick();
  io_.run();

  // Close every connection (a WebSocket close frame first), let the closes go out.
  std::uint64_t openAtEnd = 0;
  for (auto& c : clients_) {
    if (c.link) {
      if (!c.link->closed()) ++openAtEnd;
      c.link->ownerTag = 0;
      c.link->close();
      c.link.reset();
    }
  }
  io_.restart();
  io_.poll();

  bool rampDone = rampEnd_ != Clock::time_point{};
  double rampWall = seconds((rampDone ? rampEnd_ : Clock::now()) - t0_);
  passed = rampDone && notStarted_ == 0 && registered_ == n_ && refreshFailed_ == 0 && drops_ == 0 && !gStopRequested;
  std::string j = "{\"tool\":\"sipwarden-load\",\"mode\":\"hold\",\"transport\":\"" +
                  std::string(transportName(o_.transport)) + "\",\"server\":\"" + o_.serverIp + ":" +
                  std::to_string(o_.serverPort) + "\",\"clients\":" + std::to_string(n_) +
                  ",\"rate\":" + fmt(o_.rate, 1) + ",\"max_outstanding\":" + std::to_string(o_.maxOutstanding) +
                  ",\"expires\":" + std::to_string(o_.expires) + ",\"refresh_at\":" + fmt(o_.refreshAt, 2) +
                  ",\"hold_s\":" + fmt(o_.hold, 1) +
                  ",\"source_addresses\":" + std::to_string(std::max<std::size_t>(1, sources_.size()));
  j += ",\"started\":" + std::to_string(issued_ - notStarted_) + ",\"not_started\":" + std::to_string(notStarted_) +
       ",\"connected\":" + std::to_string(connected_) + ",\"registered\":" + std::to_string(registered_) +
       ",\"connect_failed\":" + std::to_string(connectFailed_) +
       ",\"register_failed\":" + std::to_string(registerFailed_) + ",\"refresh_ok\":" + std::to_string(refreshOk_) +
       ",\"refresh_failed\":" + std::to_string(refreshFailed_) + ",\"drops\":" + std::to_string(drops_) +
       ",\"open_at_end\":" + std::to_string(openAtEnd) + ",\"ramp_completed\":" + (rampDone ? "true" : "false") +
       ",\"ramp_wall_s\":" + fmt(rampWall, 1) + ",\"ramp_s\":" + fmt(rampWall - rampPausedSeconds_, 1) +
       ",\"setup_p50_ms\":" + fmt(percentileMs(setupUs_, 0.5), 1) +
       ",\"setup_p99_ms\":" + fmt(percentileMs(setupUs_, 0.99), 1) +
       ",\"register_p50_ms\":" + fmt(percentileMs(registerUs_, 0.5), 1) +
       ",\"register_p99_ms\":" + fmt(percentileMs(registerUs_, 0.99), 1) +
       ",\"refresh_p50_ms\":" + fmt(percentileMs(refreshUs_, 0.5), 1) +
       ",\"refresh_p99_ms\":" + fmt(percentileMs(refreshUs_, 0.99), 1) +
       ",\"ws_pings_answered\":" + std::to_string(shared_.wsPings) +
       ",\"requests_received\":" + std::to_string(requestsIn_) + ",\"strays\":" + std::to_string(strays_) +
       ",\"invalid\":" + std::to_string(invalid_) + ",\"send_errors\":" + std::to_string(sendErrors_) +
       ",\"failures\":" + jsonMap(failures_) + ",\"drop_reasons\":" + jsonMap(dropReasons_) + ",\"samples\":[";
  for (std::size_t k = 0; k < samples_.size(); ++k) {
    const Sample& s = samples_[k];
    j += (k ? "," : "") + std::string("{\"label\":\"") + jsonEscape(s.label) + "\",\"t\":" + fmt(s.t, 1) +
         ",\"started\":" + std::to_string(s.started) + ",\"open\":" + std::to_string(s.open) +
         ",\"registered\":" + std::to_string(s.registered) + ",\"rss_kib\":" + std::to_string(s.rssKib) +
         ",\"hwm_kib\":" + std::to_string(s.hwmKib) + ",\"pss_kib\":" + std::to_string(s.pssKib) +
         ",\"client_rss_kib\":" + std::to_string(s.selfRssKib) + "}";
  }
  j += "],\"stopped\":" + std::string(gStopRequested ? "true" : "false") + ",\"verdict\":\"" +
       (passed ? "PASS" : "FAIL") + "\"";
  if (!o_.label.empty()) j += ",\"label\":\"" + jsonEscape(o_.label) + "\"";
  return j + "}";
}

void HoldEngine::tick() {
  auto now = Clock::now();
  if (gStopRequested || now >= hardEnd_) {
    if (!gStopRequested) count(failures_, "the run's time bound was reached");
    phase_ = Phase::Done;
    io_.stop();
    return;
  }
  expireTimeouts(now);
  runRefreshes(now);
  switch (phase_) {
    case Phase::Ramp:
      if (failedInRow_ >= kGiveUpAfter) {
        // The server refuses or drops every new connection (it has died, or is full): more
        // attempts would tell nothing more. The clients never started count as not started.
        count(failures_,
              "not started: the last " + std::to_string(kGiveUpAfter) + " connections all failed, the ramp stopped");
        notStarted_ = n_ - issued_;
        issued_ = n_;
        milestones_.resize(nextMilestone_ + 1);
        milestones_.back() = n_;
      }
      pace(now);
      if (issued_ >= milestones_[nextMilestone_]) {
        phase_ = Phase::Draining;
        pauseStart_ = now;
      }
      break;
    case Phase::Draining:
      // Every client started so far has registered or failed: nothing being set up is counted.
      if (inFlight() == 0) {
        if (issued_ == n_) rampEnd_ = now;
        phase_ = Phase::Settling;
        phaseUntil_ = now + span(o_.settle);
      }
      break;
    case Phase::Settling:
      if (now >= phaseUntil_) {
        bool last = issued_ == n_;
        sample(last ? "ramp end" : "milestone " + std::to_string(issued_));
        if (last) {
          if (!o_.readyFile.empty()) {
            std::ofstream(o_.readyFile + ".tmp") << "{\"registered\":" << registered_ << "}\n";
            std::rename((o_.readyFile + ".tmp").c_str(), o_.readyFile.c_str());
          }
          phase_ = Phase::Hold;
          holdEnd_ = now + span(o_.hold);
        } else {
          rampPausedSeconds_ += seconds(now - pauseStart_);
          ++nextMilestone_;
          paceBase_ = now;
          pacedBefore_ = issued_;
          phase_ = Phase::Ramp;
        }
      }
      break;
    case Phase::Hold:
      if (now >= holdEnd_ || open_ == 0) {
        if (open_ == 0) count(failures_, "every connection was gone: the hold ended early");
        sample("hold end");
        phase_ = Phase::Done;
        io_.stop();
        return;
      }
      break;
    case Phase::Done: return;
  }
  if (o_.progress > 0 && now >= nextProgress_) {
    printProgress(now);
    nextProgress_ = now + span(o_.progress);
  }
  timer_.expires_after(span(o_.tickMs / 1000.0));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void HoldEngine::pace(Clock::time_point now) {
  auto due = pacedBefore_ + static_cast<std::uint64_t>(seconds(now - paceBase_) * o_.rate) + 1;
  std::uint64_t target = std::min<std::uint64_t>(due, milestones_[nextMilestone_]);
  while (issued_ < target && inFlight() < o_.maxOutstanding) startClient(issued_++);
}

void HoldEngine::startClient(std::uint32_t i) {
  Client& c = clients_[i];
  c.state = State::Connecting;
  ++connecting_;
  c.txnStart = Clock::now();
  tcp::socket s(io_);
  boost::system::error_code ec;
  s.open(server_.protocol(), ec);
  if (ec) {
    failTransaction(i, "cannot open a socket: " + ec.message());
    return;
  }
  c.link = std::make_shared<StreamLink>(shared_, o_.transport, std::move(s));
  c.link->ownerTag = std::uint64_t{i} + 1;
  armTimeout(i);
  if (sources_.empty()) {
    c.link->connect(server_);
  } else {
    c.link->connectFrom(sources_[i % sources_.size()], server_);
  }
}

void HoldEngine::armTimeout(std::uint32_t i) {
  Client& c = clients_[i];
  ++c.txn;
  timeouts_.emplace_back(Clock::now() + span(o_.callTimeout), (std::uint64_t{i} << 32) | c.txn);
}

void HoldEngine::expireTimeouts(Clock::time_point now) {
  // Every deadline is its start + the same timeout: the queue is in deadline order.
  while (!timeouts_.empty() && timeouts_.front().first <= now) {
    auto key = timeouts_.front().second;
    timeouts_.pop_front();
    auto i = static_cast<std::uint32_t>(key >> 32);
    Client& c = clients_[i];
    if (c.txn != static_cast<std::uint32_t>(key)) continue;
    if (c.state == State::Connecting) {
      failTransaction(i, isWebSocket(o_.transport) ? "timeout: connection, TLS or WebSocket handshake not done"
                         : usesTls(o_.transport)   ? "timeout: connection or TLS handshake not done"
                                                   : "timeout: connection not established");
    } else if (c.state == State::Registering) {
      failTransaction(i, std::string("timeout: no final response to the ") +
                             (c.authSent ? "REGISTER with credentials" : "REGISTER") +
                             (c.refreshing ? " (refresh)" : ""));
    }
  }
}

void HoldEngine::runRefreshes(Clock::time_point now) {
  while (!refreshes_.empty() && refreshes_.top().first <= now) {
    std::uint32_t i = refreshes_.top().second;
    refreshes_.pop();
    Client& c = clients_[i];
    if (c.state != State::Registered || !c.link || c.link->closed()) continue;
    c.state = State::Registering;
    c.refreshing = true;
    c.authSent = false;
    c.txnStart = now;
    armTimeout(i);
    sendRegister(i, nullptr);
  }
}

void HoldEngine::failTransaction(std::uint32_t i, const std::string& why) {
  Client& c = clients_[i];
  count(failures_, why);
  ++c.txn;
  if (c.state == State::Registering && c.refreshing) {
    // The binding may outlive a failed refresh; the client tries again at its next refresh time.
    ++refreshFailed_;
    c.state = State::Registered;
    refreshes_.emplace(Clock::now() + span(o_.expires * o_.refreshAt), i);
    return;
  }
  if (c.state == State::Connecting) {
    --connecting_;
    ++connectFailed_;
    ++failedInRow_;
  } else if (c.state == State::Registering) {
    --registeringFirst_;
    ++registerFailed_;
    --open_;
  }
  c.state = State::Failed;
  if (c.link) {
    c.link->ownerTag = 0;
    c.link->close();
    asio::post(io_, [l = std::move(c.link)] {});  // released after the link's own call returns
  }
}

// ---------------------------------------------------------------------------------------------
// Links

void HoldEngine::onReady(Link& link) {
  if (link.ownerTag == 0) return;
  auto i = static_cast<std::uint32_t>(link.ownerTag - 1);
  Client& c = clients_[i];
  if (c.state != State::Connecting) return;
  auto now = Clock::now();
  setupUs_.push_back(micros(now - link.opened));
  --connecting_;
  ++registeringFirst_;
  ++connected_;
  failedInRow_ = 0;
  ++open_;
  c.state = State::Registering;
  c.refreshing = false;
  c.authSent = false;
  c.txnStart = now;
  armTimeout(i);
  sendRegister(i, nullptr);
}

void HoldEngine::onClosed(Link& link, std::string_view reason) {
  if (link.ownerTag == 0) return;
  auto i = static_cast<std::uint32_t>(link.ownerTag - 1);
  Client& c = clients_[i];
  std::string why(reason);
  if (c.state == State::Connecting) {
    failTransaction(i, "connection: " + why);
    return;
  }
  if (c.state == State::Registering && !c.refreshing) {
    failTransaction(i, "closed before the REGISTER was answered: " + why);
    return;
  }
  // A registered client's connection is gone: a drop.
  ++drops_;
  count(dropReasons_, why);
  if (c.state == State::Registering) count(failures_, "closed during a refresh: " + why);
  ++c.txn;
  --open_;
  c.state = State::Closed;
  link.ownerTag = 0;
  asio::post(io_, [l = std::move(c.link)] {});
}

void HoldEngine::onInvalid(Link&, std::string_view what) {
  ++invalid_;
  count(failures_, "invalid message from the server: " + std::string(what));
}

void HoldEngine::onMessage(Link& link, sip::Message& msg, const udp::endpoint*) {
  if (msg.isRequest()) {
    ++requestsIn_;
    answerRequest(link, msg);
    return;
  }
  // Call-ID "<run tag>-<client>@lc".
  std::string_view id = msg.callId();
  if (id.size() < 10 || id.substr(0, 8) != runTagHex_ || id[8] != '-') {
    ++strays_;
    return;
  }
  std::uint64_t i = 0;
  std::size_t k = 9;
  for (; k < id.size() && id[k] >= '0' && id[k] <= '9'; ++k) i = i * 10 + static_cast<unsigned>(id[k] - '0');
  if (k == 9 || i >= n_) {
    ++strays_;
    return;
  }
  Client& c = clients_[i];
  const sip::CSeq& cs = msg.cseq();
  if (c.link.get() != &link || c.state != State::Registering || cs.number != c.cseq ||
      cs.method != sip::Method::Register) {
    ++strays_;
    return;
  }
  onRegisterResponse(static_cast<std::uint32_t>(i), msg);
}

void HoldEngine::onRegisterResponse(std::uint32_t i, const sip::Message& msg) {
  Client& c = clients_[i];
  int st = msg.statusCode();
  if (st < 200) return;
  const char* what = c.refreshing ? " to REGISTER (refresh)" : " to REGISTER";
  if ((st == 401 || st == 407) && !c.authSent) {
    Challenge ch;
    std::string why;
    if (!pickChallenge(msg, o_.algorithm, ch, why)) {
      failTransaction(i, std::to_string(st) + what + ": " + why);
      return;
    }
    c.authSent = true;
    sendRegister(i, &ch);
    return;
  }
  if (st >= 300) {
    failTransaction(
        i, std::to_string(st) + " " + std::string(msg.reason()) + what + (c.authSent ? " with credentials" : ""));
    return;
  }
  // 2xx: the expiry granted to our binding (RFC 3261 §10.2.4), else the Expires header.
  std::string h = contactHost(i);
  std::optional<std::uint32_t> granted;
  for (const sip::Contact& ct : msg.contacts()) {
    if (ct.address.uri.raw.find(h) != std::string_view::npos) {
      granted = ct.expires;
      break;
    }
  }
  if (!granted) granted = msg.expires();
  if (!granted) {
    failTransaction(i, "2xx to REGISTER without our binding or an Expires");
    return;
  }
  auto now = Clock::now();
  if (c.refreshing) {
    ++refreshOk_;
    refreshUs_.push_back(micros(now - c.txnStart));
  } else {
    ++registered_;
    --registeringFirst_;
    registerUs_.push_back(micros(now - c.txnStart));
  }
  ++c.txn;
  c.registered = true;
  c.state = State::Registered;
  refreshes_.emplace(now + span(std::max(1.0, *granted * o_.refreshAt)), i);
}

void HoldEngine::answerRequest(Link& link, const sip::Message& req) {
  if (req.method() == sip::Method::Ack) return;
  bool ok = req.method() == sip::Method::Options || req.method() == sip::Method::Message ||
            req.method() == sip::Method::Notify || req.method() == sip::Method::Bye;
  req_.clear();
  req_.append(ok ? "SIP/2.0 200 OK\r\n" : "SIP/2.0 501 Not Implemented\r\n");
  for (const sip::HeaderField& f : req.headers()) {
    switch (f.id) {
      case sip::HeaderId::Via: req_.append("Via: ").append(f.value).append("\r\n"); break;
      case sip::HeaderId::From: req_.append("From: ").append(f.value).append("\r\n"); break;
      case sip::HeaderId::CallId: req_.append("Call-ID: ").append(f.value).append("\r\n"); break;
      case sip::HeaderId::CSeq: req_.append("CSeq: ").append(f.value).append("\r\n"); break;
      case sip::HeaderId::To:
        req_.append("To: ").append(f.value);
        if (!req.to().tag()) req_.append(";tag=h").append(runTagHex_);
        req_.append("\r\n");
        break;
      default: break;
    }
  }
  req_.append("Content-Length: 0\r\n\r\n");
  if (!link.reply(req_, nullptr)) ++sendErrors_;
}

// ---------------------------------------------------------------------------------------------
// Requests

std::string HoldEngine::host(std::uint32_t i) const {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uint64_t x = splitmix((std::uint64_t{runTag_} << 32) | i);
  std::string h(12, 'a');
  for (auto& ch : h) {
    ch = kAlphabet[x % 36];
    x /= 36;
  }
  return h + ".invalid";
}

std::string HoldEngine::contactHost(std::uint32_t i) const {
  if (isWebSocket(o_.transport)) return host(i);
  const Client& c = clients_[i];
  return (o_.localIps.empty() ? o_.localIp : o_.localIps[i % o_.localIps.size()]) + ":" +
         std::to_string(c.link ? c.link->localPort() : 0);
}

std::string_view HoldEngine::userName(std::uint32_t i) const { return users_[i % users_.size()].name; }

void HoldEngine::sendRegister(std::uint32_t i, const Challenge* challenge) {
  Client& c = clients_[i];
  ++c.cseq;
  std::string_view user = userName(i);
  std::string ruri = "sip:" + o_.domain;
  std::string idx = std::to_string(i);
  bool ws = isWebSocket(o_.transport);
  std::string h = contactHost(i);
  req_.clear();
  req_.append("REGISTER ")
      .append(ruri)
      .append(" SIP/2.0\r\nVia: SIP/2.0/")
      .append(transportViaName(o_.transport))
      .append(" ");
  req_.append(h);  // WebSocket: RFC 7118 §5.2, a client has no reachable address of its own
  req_.append(";branch=z9hG4bK-").append(runTagHex_).append("-").append(idx).append("-").append(std::to_string(c.cseq));
  req_.append(ws ? "\r\n" : ";rport\r\n");
  req_.append("Max-Forwards: 69\r\nTo: <sip:").append(user).append("@").append(o_.domain).append(">\r\n");
  req_.append("From: <sip:")
      .append(user)
      .append("@")
      .append(o_.domain)
      .append(">;tag=")
      .append(runTagHex_)
      .append("f")
      .append(idx);
  req_.append("\r\nCall-ID: ").append(runTagHex_).append("-").append(idx).append("@lc\r\nCSeq: ");
  req_.append(std::to_string(c.cseq)).append(" REGISTER\r\n");
  // RFC 5626 §4.2 as JsSIP sends it: the flow's instance and reg-id, ;ob on the Contact URI.
  std::uint64_t u = splitmix((std::uint64_t{runTag_} << 32) ^ (std::uint64_t{i} * 0x9e37ULL) ^ 0x5555);
  std::uint64_t v = splitmix(u);
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(u >> 32),
                static_cast<unsigned>((u >> 16) & 0xffff), static_cast<unsigned>(u & 0xfff),
                static_cast<unsigned>((v >> 48) & 0xfff), static_cast<unsigned long long>(v & 0xffffffffffffULL));
  req_.append("Contact: <sip:").append(user).append("@").append(h);
  req_.append(";transport=")
      .append(contactTransportName(o_.transport))
      .append(";ob>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:");
  req_.append(uuid).append(">\";expires=").append(std::to_string(o_.expires)).append("\r\n");
  req_.append("Expires: ").append(std::to_string(o_.expires)).append("\r\n");
  req_.append("Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n");
  req_.append("Supported: path,gruu,outbound\r\n");
  if (challenge != nullptr) {
    const User& usr = users_[i % users_.size()];
    char cn[24];
    std::snprintf(cn, sizeof cn, "%016llx",
                  static_cast<unsigned long long>(splitmix((std::uint64_t{i} << 24) ^ c.cseq ^ runTag_)));
    appendCredentials(hasher_, *challenge, usr.name, usr.password, "REGISTER", ruri, cn, req_);
  }
  req_.append("User-Agent: sipwarden-load hold\r\nContent-Length: 0\r\n\r\n");
  if (!c.link || !c.link->send(req_)) {
    ++sendErrors_;
    failTransaction(i, "send failed");
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

void HoldEngine::sample(const std::string& label) {
  Sample s;
  s.label = label;
  s.t = seconds(Clock::now() - t0_);
  s.started = issued_;
  s.open = open_;
  s.registered = registered_;
  for (int pid : o_.watchPids) {
    std::string base = "/proc/" + std::to_string(pid);
    s.rssKib += std::max(0L, procKib(base + "/status", "VmRSS"));
    s.hwmKib += std::max(0L, procKib(base + "/status", "VmHWM"));
    s.pssKib += std::max(0L, procKib(base + "/smaps_rollup", "Pss"));
  }
  s.selfRssKib = procKib("/proc/self/status", "VmRSS");
  samples_.push_back(s);
  if (!o_.quiet) {
    std::cerr << "hold: sample \"" << label << "\" at " << fmt(s.t, 1) << " s: " << s.open << " open, " << s.registered
              << " registered; watched RSS " << s.rssKib << " KiB (HWM " << s.hwmKib << ", PSS " << s.pssKib
              << "); client RSS " << s.selfRssKib << " KiB\n";
  }
}

void HoldEngine::printProgress(Clock::time_point now) {
  if (o_.quiet) return;
  std::cerr << "hold: " << fmt(seconds(now - t0_), 0) << " s: started " << issued_ << "/" << n_ << ", connected "
            << connected_ << ", registered " << registered_ << ", in flight " << inFlight() << ", failed "
            << connectFailed_ + registerFailed_ << ", refreshes " << refreshOk_ << " ok " << refreshFailed_
            << " failed, drops " << drops_ << ", open " << open_ << ", pings " << shared_.wsPings << "\n";
}

void HoldEngine::count(std::map<std::string, std::uint64_t>& m, const std::string& key) {
  if (m.size() >= kMaxReasons && m.find(key) == m.end()) {
    ++m["other reasons"];
  } else {
    ++m[key];
  }
}

}  // namespace sipwarden::loadclient
