#include "engine.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sip/header_values.hpp"

namespace sipwarden::loadclient {

std::atomic<bool> gStopRequested{false};

namespace {

constexpr std::string_view kSdp =
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

constexpr std::size_t kMaxReasons = 64;  // distinct failure texts kept; more go to "other"

std::uint32_t micros(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return static_cast<std::uint32_t>(std::clamp<long long>(us, 0, 0xffffffffLL));
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string hex64(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

/// The UAS's To tag for a dialog: the same for every response of one call (stateless UAS).
std::string tagFor(std::string_view callId) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char ch : callId) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
  return "u" + hex64(h).substr(0, 12);
}

void count(std::map<std::string, std::uint64_t>& m, const std::string& key) {
  if (m.size() >= kMaxReasons && m.find(key) == m.end()) {
    ++m["other reasons"];
  } else {
    ++m[key];
  }
}

std::uint64_t openFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return rl.rlim_cur;
}

}  // namespace

Engine::Engine(const Options& o, const std::vector<User>& users, const std::vector<std::string>& callees,
               const TlsContexts* tls, unsigned index, unsigned count, std::uint32_t runTag)
    : o_(o), users_(users), callees_(callees), index_(index), count_(count), runTag_(runTag),
      shared_(io_, *this, tls), pacer_(io_), sweeper_(io_) {
  shared_.coalesce = o.coalesce;
  shared_.wsPath = o.wsPath;
  shared_.wsHost = o.wsHost;
  shared_.wsOrigin = o.wsOrigin;
  shared_.wsRandom = splitmix((std::uint64_t{runTag} << 8) ^ index) | 1;
  char b[16];
  std::snprintf(b, sizeof b, "%08x", runTag_);
  runTagHex_ = b;
  auto ip = asio::ip::make_address(o.serverIp);
  serverTcp_ = tcp::endpoint(ip, o.serverPort);
  serverUdp_ = udp::endpoint(ip, o.serverPort);
  kind_ = kindFor(o.mode);
  keepLinks_ = o.mode == Mode::Idle;
  contactHostPort_ = o.mode == Mode::Uas ? o.localIp + ":" + std::to_string(o.localPort) : o.contact;

  // Slots for the calls in progress: enough for the highest rate this process will offer.
  double maxRate = o.search ? o.searchMax : (o.mode == Mode::Uas ? o.registerRate : o.rate);
  double want = o.maxOutstanding ? o.maxOutstanding : std::clamp(3 * maxRate, 1000.0, 65536.0);
  auto perEngine = static_cast<std::uint64_t>(std::ceil(want / count_));
  if (o.connectionPerCall) {
    std::uint64_t fds = openFileLimit();
    std::uint64_t byFds = fds > 512 ? (fds - 256) / count_ : 64;
    if (o.mode == Mode::Idle) byFds = std::max<std::uint64_t>(64, byFds > o.calls / count_ ? byFds - o.calls / count_ : 64);
    perEngine = std::min(perEngine, byFds);
  }
  std::uint64_t cap = 64;
  while (cap < perEngine) cap <<= 1;
  calls_.resize(cap);
  mask_ = cap - 1;
  maxOutstanding_ = perEngine;
  req_.reserve(2048);
}

Engine::~Engine() {
  for (auto& l : persistent_) l->close();
  for (auto& l : kept_) l->close();
  for (auto& l : accepted_) l->close();
  for (auto& c : calls_) {
    if (c.own) c.own->close();
  }
  if (udp_) udp_->close();
}

Engine::Kind Engine::kindFor(Mode m) const {
  switch (m) {
    case Mode::Message: return Kind::Message;
    case Mode::Invite: return Kind::Invite;
    case Mode::Options: return Kind::Options;
    case Mode::Idle: return o_.idleRequest == "options" ? Kind::Options : Kind::Register;
    default: return Kind::Register;
  }
}

// ---------------------------------------------------------------------------------------------
// Connections

std::shared_ptr<StreamLink> Engine::openStream() {
  tcp::socket s(io_);
  boost::system::error_code ec;
  s.open(serverTcp_.protocol(), ec);
  if (ec) return nullptr;
  auto l = std::make_shared<StreamLink>(shared_, o_.transport, std::move(s));
  l->connect(serverTcp_);
  return l;
}

bool Engine::prepare(double timeoutSeconds, std::string& why) {
  try {
    if (o_.transport == Transport::Udp) {
      std::uint16_t port = o_.localPort == 0 ? 0 : static_cast<std::uint16_t>(o_.localPort + index_);
      udp_ = std::make_shared<UdpLink>(shared_, udp::endpoint(asio::ip::make_address(o_.localIp), port), serverUdp_);
      udp_->start();
      if (o_.mode == Mode::Uas) {
        contactHostPort_ = o_.localIp + ":" + std::to_string(udp_->localPort());
      }
      return true;
    }
    if (o_.mode == Mode::Uas) {
      tcp::endpoint local(asio::ip::make_address(o_.localIp), o_.localPort);
      acceptor_ = std::make_unique<tcp::acceptor>(io_);
      acceptor_->open(local.protocol());
      acceptor_->set_option(asio::socket_base::reuse_address(true));
      acceptor_->bind(local);
      acceptor_->listen(4096);
      contactHostPort_ = o_.localIp + ":" + std::to_string(acceptor_->local_endpoint().port());
      acceptNext();
    }
  } catch (const boost::system::system_error& e) {
    why = std::string("cannot bind ") + o_.localIp + ":" + std::to_string(o_.localPort) + ": " + e.code().message();
    return false;
  }
  if (o_.connectionPerCall) return true;
  // This thread's share of the persistent connections.
  for (std::uint32_t j = index_; j < o_.connections; j += count_) {
    auto l = openStream();
    if (!l) {
      why = "cannot open a socket";
      return false;
    }
    persistent_.push_back(std::move(l));
  }
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeoutSeconds));
  while (Clock::now() < deadline && !gStopRequested) {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(20));
    bool all = true;
    for (auto& l : persistent_) {
      if (l->closed()) {
        why = "connection to " + o_.serverIp + ":" + std::to_string(o_.serverPort) + " failed: " + lastCloseReason_;
        return false;
      }
      all = all && l->ready();
    }
    if (all) return true;
  }
  why = "connections to the server not ready within " + std::to_string(timeoutSeconds) + " s";
  return false;
}

void Engine::acceptNext() {
  acceptor_->async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
    if (ec) {
      if (ec != asio::error::operation_aborted && acceptor_->is_open()) acceptNext();
      return;
    }
    if (accepted_.size() < 20000) {
      auto l = std::make_shared<StreamLink>(shared_, o_.transport, std::move(s));
      accepted_.push_back(l);
      ++uas_.connectionsAccepted;
      l->startAccepted();
    }
    acceptNext();
  });
}

void Engine::replacePersistent(Link& dead) {
  for (auto& l : persistent_) {
    if (l.get() != &dead) continue;
    if (reconnects_ >= 1000) return;  // bounded: a server that keeps refusing is reported, not hammered
    ++reconnects_;
    auto n = openStream();
    if (n) {
      l = std::move(n);
      ++stats_.connectionsOpened;
    }
    return;
  }
}

void Engine::onReady(Link& link) {
  if (link.ownerTag == 0 || link.ownerTag == kKeptTag) return;
  std::uint64_t seq = link.ownerTag - 1;
  Call& c = calls_[seq & mask_];
  if (!c.active || c.seq != seq) return;
  stats_.setupUs.push_back(micros(link.readyAt - link.opened));
  // The first request waits for the connection: its Via names the connection's port.
  buildFirst(c, nullptr);
  sendRequest(c);
}

void Engine::onClosed(Link& link, std::string_view reason) {
  std::string why(reason);
  if (link.ownerTag == kKeptTag) {
    ++holdStats_.lost;
    count(holdStats_.reasons, why);
    return;
  }
  if (link.ownerTag != 0) {  // a call's own connection
    std::uint64_t seq = link.ownerTag - 1;
    Call& c = calls_[seq & mask_];
    if (c.active && c.seq == seq) {
      if (link.readyAt != Clock::time_point{}) ++stats_.connectionsLost;
      failCall(c, "connection: " + why);
    }
    return;
  }
  for (auto it = accepted_.begin(); it != accepted_.end(); ++it) {
    if (it->get() == &link) {
      ++uas_.connectionsLost;
      accepted_.erase(it);
      return;
    }
  }
  // A persistent connection: its calls cannot finish.
  lastCloseReason_ = why;
  ++stats_.connectionsLost;
  ++uas_.connectionsLost;
  for (std::uint64_t s = oldest_; s < seq_; ++s) {
    Call& c = calls_[s & mask_];
    if (c.active && c.seq == s && c.link == &link) failCall(c, "connection lost: " + why);
  }
  if (running_) replacePersistent(link);
}

void Engine::onInvalid(Link&, std::string_view) {
  ++stats_.invalid;
  ++uas_.invalid;
}

// ---------------------------------------------------------------------------------------------
// Runs

RunStats Engine::run(double rate, std::uint64_t calls) {
  stats_ = RunStats{};
  stats_.offered = rate;
  stats_.calls = calls;
  rate_ = rate;
  total_ = calls;
  issued_ = 0;
  pacingDone_ = calls == 0;
  double limit = o_.maxOutstanding ? static_cast<double>(o_.maxOutstanding) : std::clamp(3 * rate * count_, 1000.0, 65536.0);
  std::uint64_t perRun = static_cast<std::uint64_t>(std::ceil(limit / count_));
  maxOutstanding_ = std::min<std::uint64_t>(perRun, calls_.size());
  if (o_.connectionPerCall) {
    std::uint64_t fds = openFileLimit();
    std::uint64_t room = fds > kept_.size() + 512 ? (fds - kept_.size() - 256) / count_ : 64;
    maxOutstanding_ = std::min(maxOutstanding_, room);
  }
  stats_.maxOutstanding = maxOutstanding_;
  auto d = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  t0_ = Clock::now();
  lastEnd_ = t0_;
  startDeadline_ = t0_ + d(static_cast<double>(calls) / rate + o_.callTimeout);
  hardEnd_ = startDeadline_ + d(o_.callTimeout + 5);
  running_ = true;
  ++generation_;
  for (auto& l : persistent_) {
    if (l->closed()) replacePersistent(*l);
  }
  pace();
  armSweeper();
  if (running_) {
    io_.restart();
    io_.run();
  }
  stats_.elapsed = seconds(lastEnd_ - t0_);
  return std::move(stats_);
}

void Engine::armPacer() {
  // Wake when the next call is due, but at most once a millisecond: at high rates each wake starts
  // a few calls, as SIPp's scheduler does.
  auto next = t0_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(issued_ / rate_));
  auto tick = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(o_.tickMs));
  pacer_.expires_at(std::max(next, Clock::now() + tick));
  auto gen = generation_;
  pacer_.async_wait([this, gen](const boost::system::error_code& ec) {
    if (ec || gen != generation_ || !running_) return;
    pace();
  });
}

void Engine::pace() {
  if (!running_ || pacingDone_) return;
  auto now = Clock::now();
  auto due = std::min<std::uint64_t>(total_, static_cast<std::uint64_t>(seconds(now - t0_) * rate_) + 1);
  while (issued_ < due && running_) {
    if (outstanding_ >= maxOutstanding_ || calls_[seq_ & mask_].active) break;  // wait for a slot
    ++issued_;
    startCall();
  }
  if (!running_) return;
  if (issued_ >= total_) {
    pacingDone_ = true;
  } else if (now >= startDeadline_) {
    std::uint64_t left = total_ - issued_;
    stats_.notStarted += left;
    stats_.failures["not started: " + std::to_string(maxOutstanding_) + " calls in progress (the client's limit)"] += left;
    pacingDone_ = true;
  }
  if (pacingDone_) {
    endRunIfDone();
  } else {
    armPacer();
  }
}

void Engine::armSweeper() {
  auto interval = o_.transport == Transport::Udp ? std::chrono::milliseconds(20) : std::chrono::milliseconds(50);
  sweeper_.expires_after(interval);
  auto gen = generation_;
  sweeper_.async_wait([this, gen](const boost::system::error_code& ec) {
    if (ec || gen != generation_ || !running_) return;
    sweep();
  });
}

void Engine::sweep() {
  auto now = Clock::now();
  if (gStopRequested || now >= hardEnd_) {
    finishRun();
    return;
  }
  while (oldest_ < seq_) {
    const Call& c = calls_[oldest_ & mask_];
    if (c.active && c.seq == oldest_) break;
    ++oldest_;
  }
  for (std::uint64_t s = oldest_; s < seq_ && running_; ++s) {
    Call& c = calls_[s & mask_];
    if (!c.active || c.seq != s) continue;
    if (now >= c.deadline) {
      std::string what;
      if (c.own && !c.own->ready()) {
        what = usesTls(o_.transport) ? "connection or TLS handshake not done" : "connection not established";
      } else if (c.stage == Stage::First) {
        what = std::string("no final response to the first ") + (kind_ == Kind::Register  ? "REGISTER"
                                                                 : kind_ == Kind::Message ? "MESSAGE"
                                                                 : kind_ == Kind::Invite  ? "INVITE"
                                                                                          : "OPTIONS");
      } else if (c.stage == Stage::Authenticated) {
        what = std::string("no final response to the ") +
               (kind_ == Kind::Register ? "REGISTER" : kind_ == Kind::Message ? "MESSAGE" : "INVITE") +
               " with credentials";
      } else {
        what = "no response to the BYE";
      }
      failCall(c, "timeout: " + what);
      continue;
    }
    if (o_.transport == Transport::Udp && !c.lastRequest.empty() && now >= c.retransAt &&
        !(kind_ == Kind::Invite && c.provisional && c.stage != Stage::Bye)) {
      // RFC 3261 §17.1.1.2 / §17.1.2.2: T1 = 500 ms, doubling, capped at T2 = 4 s.
      if (!c.link->send(c.lastRequest)) ++stats_.sendErrors;
      ++stats_.retransmissions;
      c.retransMs = std::min<std::uint32_t>(c.retransMs * 2, 4000);
      c.retransAt = now + std::chrono::milliseconds(c.retransMs);
    }
  }
  if (running_) armSweeper();
}

bool Engine::startCall() {
  auto now = Clock::now();
  Call& c = calls_[seq_ & mask_];
  c.seq = seq_++;
  c.active = true;
  c.stage = Stage::First;
  c.provisional = false;
  c.user = static_cast<std::uint32_t>((userCursor_++ * count_ + index_) % users_.size());
  c.start = now;
  c.deadline = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.callTimeout));
  c.responseUs = 0;
  c.lastRequest.clear();
  c.ack1.clear();
  c.ack2.clear();
  c.link = nullptr;
  ++outstanding_;
  ++stats_.started;
  if (o_.connectionPerCall) {
    auto l = openStream();
    if (!l) {
      failCall(c, "cannot open a socket (file descriptors?)");
      return false;
    }
    l->ownerTag = c.seq + 1;
    c.own = l;
    c.link = l.get();
    ++stats_.connectionsOpened;
    return true;  // the first request goes out in onReady
  }
  if (udp_) {
    c.link = udp_.get();
  } else {
    for (std::size_t i = 0; i < persistent_.size(); ++i) {
      auto& l = persistent_[nextLink_++ % persistent_.size()];
      if (l->ready()) {
        c.link = l.get();
        break;
      }
    }
    if (c.link == nullptr) {
      failCall(c, "no connection to the server");
      return false;
    }
  }
  buildFirst(c, nullptr);
  sendRequest(c);
  return true;
}

void Engine::sendRequest(Call& c) {
  if (!c.link->send(req_)) {
    ++stats_.sendErrors;
    if (o_.transport != Transport::Udp) {
      failCall(c, "send failed");
      return;
    }
  }
  if (o_.transport == Transport::Udp) {
    c.lastRequest.assign(req_);
    c.retransMs = 500;
    c.retransAt = Clock::now() + std::chrono::milliseconds(500);
  }
}

void Engine::endRunIfDone() {
  if (running_ && pacingDone_ && outstanding_ == 0) finishRun();
}

void Engine::finishRun() {
  if (!running_) return;
  running_ = false;
  ++generation_;
  pacer_.cancel();
  sweeper_.cancel();
  if (!pacingDone_) {
    std::uint64_t left = total_ - issued_;
    stats_.notStarted += left;
    if (left) stats_.failures[gStopRequested ? "not started: stopped" : "not started: the run's time was up"] += left;
    pacingDone_ = true;
  }
  auto now = Clock::now();
  for (std::uint64_t s = oldest_; s < seq_; ++s) {
    Call& c = calls_[s & mask_];
    if (!c.active || c.seq != s) continue;
    ++stats_.unfinished;
    count(stats_.failures, gStopRequested ? "unfinished: stopped" : "unfinished at the run's hard end");
    lastEnd_ = now;
    finish(c, false);
  }
  io_.stop();
}

void Engine::succeed(Call& c) {
  auto now = Clock::now();
  ++stats_.succeeded;
  stats_.responseUs.push_back(c.responseUs != 0 ? c.responseUs : micros(now - c.start));
  lastEnd_ = now;
  finish(c, true);
}

void Engine::failCall(Call& c, const std::string& reason) {
  ++stats_.failed;
  count(stats_.failures, reason);
  lastEnd_ = Clock::now();
  finish(c, false);
}

void Engine::finish(Call& c, bool ok) {
  c.active = false;
  --outstanding_;
  if (c.own) {
    if (keepLinks_ && ok && !c.own->closed()) {
      c.own->ownerTag = kKeptTag;
      kept_.push_back(std::move(c.own));
    } else {
      c.own->ownerTag = 0;
      c.own->close();
    }
    c.own.reset();
  }
  c.link = nullptr;
  endRunIfDone();
}

HoldStats Engine::hold(double secs) {
  holdStats_ = HoldStats{};
  for (auto& l : kept_) holdStats_.held += l->closed() ? 0 : 1;
  holding_ = true;
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
  while (Clock::now() < end && !gStopRequested) {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(100));
  }
  holding_ = false;
  for (auto& l : kept_) {
    l->ownerTag = 0;
    l->close();
  }
  kept_.clear();
  // Let the closes go out.
  io_.restart();
  io_.poll();
  return holdStats_;
}

void Engine::serve(double secs) {
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
  while (Clock::now() < end && !gStopRequested) {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(100));
  }
}

// ---------------------------------------------------------------------------------------------
// Messages

Engine::Call* Engine::callFor(const sip::Message& msg) {
  std::string_view id = msg.callId();
  if (id.size() < 10 || id.substr(0, 8) != runTagHex_ || id[8] != '-') return nullptr;
  std::uint64_t num = 0;
  std::size_t i = 9;
  for (; i < id.size() && id[i] >= '0' && id[i] <= '9'; ++i) num = num * 10 + static_cast<unsigned>(id[i] - '0');
  if (i == 9 || num % count_ != index_) return nullptr;
  std::uint64_t seq = num / count_;
  Call& c = calls_[seq & mask_];
  if (!c.active || c.seq != seq) return nullptr;
  return &c;
}

void Engine::onMessage(Link& link, sip::Message& msg, const udp::endpoint* from) {
  if (holding_) ++holdStats_.messagesDuringHold;
  if (msg.isRequest()) {
    onRequest(link, msg, from);
    return;
  }
  Call* c = callFor(msg);
  if (c == nullptr) {
    ++stats_.strays;
    return;
  }
  onResponse(*c, msg);
}

void Engine::onResponse(Call& c, const sip::Message& msg) {
  int st = msg.statusCode();
  const sip::CSeq& cs = msg.cseq();
  sip::Method method = kind_ == Kind::Register  ? sip::Method::Register
                       : kind_ == Kind::Message ? sip::Method::Message
                       : kind_ == Kind::Invite  ? sip::Method::Invite
                                                : sip::Method::Options;
  std::uint32_t wantNumber = c.stage == Stage::First ? 1 : c.stage == Stage::Authenticated ? 2 : 3;
  sip::Method wantMethod = c.stage == Stage::Bye ? sip::Method::Bye : method;
  if (cs.number != wantNumber || cs.method != wantMethod) {
    // A final response to an INVITE sent again (UDP): its ACK was lost, send it again.
    if (kind_ == Kind::Invite && cs.method == sip::Method::Invite && st >= 200) {
      if (cs.number == 1 && !c.ack1.empty()) c.link->send(c.ack1);
      if (cs.number == 2 && st < 300 && !c.ack2.empty()) c.link->send(c.ack2);
    }
    ++stats_.strays;
    return;
  }
  if (st < 200) {
    if (kind_ == Kind::Invite) c.provisional = true;
    return;
  }
  std::string_view methodText = sip::methodName(method);
  auto describe = [&](const char* when) {
    std::string r = std::to_string(st) + " " + std::string(msg.reason()) + " to " + std::string(methodText);
    return r + when;
  };
  auto toValue = [&]() -> std::string_view {
    const sip::HeaderField* to = msg.find(sip::HeaderId::To);
    return to != nullptr ? to->value : std::string_view{};
  };

  switch (c.stage) {
    case Stage::First: {
      if (kind_ == Kind::Options) {
        if (st < 300) {
          succeed(c);
        } else {
          failCall(c, describe(""));
        }
        return;
      }
      if (st == 401 || st == 407) {
        Challenge ch;
        std::string why;
        if (!pickChallenge(msg, o_.algorithm, ch, why)) {
          if (kind_ == Kind::Invite) {
            buildAckNon2xx(c, 1, toValue());
            c.link->send(req_);
          }
          failCall(c, std::to_string(st) + " to " + std::string(methodText) + ": " + why);
          return;
        }
        if (kind_ == Kind::Invite) {  // RFC 3261 §17.1.1.3: ACK the 407, same branch
          buildAckNon2xx(c, 1, toValue());
          c.link->send(req_);
          if (o_.transport == Transport::Udp) c.ack1.assign(req_);
        }
        c.stage = Stage::Authenticated;
        c.provisional = false;
        buildFirst(c, &ch);
        sendRequest(c);
        return;
      }
      if (kind_ == Kind::Invite && st >= 300) {
        buildAckNon2xx(c, 1, toValue());
        c.link->send(req_);
      }
      failCall(c, describe(st < 300 ? " without a challenge" : " (before credentials)"));
      return;
    }
    case Stage::Authenticated: {
      if (st < 300) {
        c.responseUs = micros(Clock::now() - c.start);
        if (kind_ != Kind::Invite) {
          succeed(c);
          return;
        }
        // RFC 3261 §12.1.2: the dialog's remote target, route set (Record-Route reversed), To tag.
        c.dialogTo.assign(toValue());
        c.remoteTarget.clear();
        for (const sip::Contact& ct : msg.contacts()) {
          c.remoteTarget.assign(ct.address.uri.raw);
          break;
        }
        std::vector<std::string_view> rr;
        msg.forEachValue(sip::HeaderId::RecordRoute, [&](std::string_view v) {
          rr.push_back(v);
          return true;
        });
        c.routes.clear();
        for (auto it = rr.rbegin(); it != rr.rend(); ++it) c.routes.append("Route: ").append(*it).append("\r\n");
        if (c.remoteTarget.empty()) {
          failCall(c, "200 to INVITE without a Contact");
          return;
        }
        buildAck2xx(c);
        c.link->send(req_);
        if (o_.transport == Transport::Udp) c.ack2.assign(req_);
        c.stage = Stage::Bye;
        buildBye(c);
        sendRequest(c);
        return;
      }
      if (kind_ == Kind::Invite) {
        buildAckNon2xx(c, 2, toValue());
        c.link->send(req_);
      }
      failCall(c, describe(" with credentials"));
      return;
    }
    case Stage::Bye:
      if (st < 300) {
        succeed(c);
      } else {
        failCall(c, std::to_string(st) + " " + std::string(msg.reason()) + " to BYE");
      }
      return;
  }
}

void Engine::onRequest(Link& link, const sip::Message& msg, const udp::endpoint* from) {
  std::string method(msg.methodText().substr(0, 20));
  if (uas_.requests.size() < 32 || uas_.requests.count(method)) ++uas_.requests[method];
  auto send = [&] {
    if (link.reply(req_, from)) {
      ++uas_.responsesSent;
    } else {
      ++uas_.sendErrors;
    }
  };
  switch (msg.method()) {
    case sip::Method::Ack:
      return;
    case sip::Method::Invite:
      buildResponse(msg, 100, "Trying", false, {});
      send();
      buildResponse(msg, 180, "Ringing", true, {});
      send();
      buildResponse(msg, 200, "OK", true, kSdp);
      send();
      return;
    case sip::Method::Message:
    case sip::Method::Bye:
    case sip::Method::Options:
    case sip::Method::Cancel:
    case sip::Method::Notify:
      buildResponse(msg, 200, "OK", false, {});
      send();
      return;
    default:
      buildResponse(msg, 501, "Not Implemented", false, {});
      send();
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Text

std::string_view Engine::userName(const Call& c) const { return users_[c.user].name; }

std::string_view Engine::calleeName(const Call& c) const {
  const User& u = users_[c.user];
  if (!u.callee.empty()) return u.callee;
  std::uint64_t n = callees_.size();
  std::uint64_t offset = o_.calleeOffset >= 0 ? static_cast<std::uint64_t>(o_.calleeOffset) : n / 2;
  return callees_[(c.user + offset) % n];
}

std::string_view Engine::callId(const Call& c) {
  tmp_.assign(runTagHex_).append("-").append(std::to_string(c.seq * count_ + index_)).append("@lc");
  return tmp_;
}

std::string Engine::cnonce(const Call& c) const { return hex64(splitmix(c.seq * count_ + index_ + (std::uint64_t{runTag_} << 32))); }

void Engine::appendVia(const Call& c, std::string_view branchSuffix) {
  req_.append("Via: SIP/2.0/").append(transportViaName(o_.transport)).append(" ").append(o_.localIp).append(":");
  req_.append(std::to_string(c.link->localPort())).append(";branch=z9hG4bK-").append(runTagHex_).append("-");
  req_.append(std::to_string(c.seq * count_ + index_)).append("-").append(branchSuffix).append(";rport\r\n");
}

void Engine::appendCommon(const Call& c, std::string_view toValue) {
  req_.append("Max-Forwards: 70\r\nFrom: <sip:").append(userName(c)).append("@").append(o_.domain).append(">;tag=");
  req_.append(runTagHex_).append("f").append(std::to_string(c.seq * count_ + index_)).append("\r\nTo: ");
  req_.append(toValue).append("\r\nCall-ID: ").append(callId(c)).append("\r\n");
}

void Engine::buildFirst(Call& c, const Challenge* challenge) {
  const char* method = kind_ == Kind::Register  ? "REGISTER"
                       : kind_ == Kind::Message ? "MESSAGE"
                       : kind_ == Kind::Invite  ? "INVITE"
                                                : "OPTIONS";
  int cseq = challenge != nullptr ? 2 : 1;
  std::string ruri = "sip:";
  std::string to = "<sip:";
  if (kind_ == Kind::Message || kind_ == Kind::Invite) {
    ruri.append(calleeName(c)).append("@");
    to.append(calleeName(c)).append("@");
  } else if (kind_ == Kind::Register) {
    to.append(userName(c)).append("@");
  }
  ruri.append(o_.domain);
  to.append(o_.domain).append(">");

  req_.clear();
  req_.append(method).append(" ").append(ruri).append(" SIP/2.0\r\n");
  appendVia(c, cseq == 1 ? "1" : "2");
  appendCommon(c, to);
  req_.append("CSeq: ").append(std::to_string(cseq)).append(" ").append(method).append("\r\n");
  const char* t = contactTransportName(o_.transport);
  if (kind_ == Kind::Register) {
    req_.append("Contact: <sip:").append(userName(c)).append("@").append(contactHostPort_);
    req_.append(";transport=").append(t).append(">\r\nExpires: ").append(std::to_string(o_.expires)).append("\r\n");
  } else if (kind_ == Kind::Invite) {
    req_.append("Contact: <sip:").append(userName(c)).append("@").append(o_.localIp).append(":");
    req_.append(std::to_string(c.link->localPort())).append(";transport=").append(t).append(">\r\n");
  }
  if (challenge != nullptr) {
    const User& u = users_[c.user];
    appendCredentials(hasher_, *challenge, u.name, u.password, method, ruri, cnonce(c), req_);
  }
  req_.append("User-Agent: sipwarden-load\r\n");
  if (kind_ == Kind::Message) {
    std::string body = "Hello " + std::string(calleeName(c)) + ", this is " + std::string(userName(c)) + ".\r\n";
    req_.append("Content-Type: text/plain\r\nContent-Length: ").append(std::to_string(body.size()));
    req_.append("\r\n\r\n").append(body);
  } else if (kind_ == Kind::Invite) {
    req_.append("Content-Type: application/sdp\r\nContent-Length: ").append(std::to_string(kSdp.size()));
    req_.append("\r\n\r\n").append(kSdp);
  } else {
    req_.append("Content-Length: 0\r\n\r\n");
  }
}

void Engine::buildAckNon2xx(Call& c, int cseq, std::string_view toValue) {
  // The ACK of a non-2xx belongs to the INVITE's transaction: same Request-URI, Via branch (RFC
  // 3261 §17.1.1.3), CSeq number.
  req_.clear();
  req_.append("ACK sip:").append(calleeName(c)).append("@").append(o_.domain).append(" SIP/2.0\r\n");
  appendVia(c, cseq == 1 ? "1" : "2");
  appendCommon(c, toValue);
  req_.append("CSeq: ").append(std::to_string(cseq)).append(" ACK\r\nContent-Length: 0\r\n\r\n");
}

void Engine::buildAck2xx(Call& c) {
  // The ACK of a 2xx is a new transaction along the dialog's route (RFC 3261 §13.2.2.4).
  req_.clear();
  req_.append("ACK ").append(c.remoteTarget).append(" SIP/2.0\r\n");
  appendVia(c, "2a");
  req_.append(c.routes);
  appendCommon(c, c.dialogTo);
  req_.append("CSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n");
}

void Engine::buildBye(Call& c) {
  req_.clear();
  req_.append("BYE ").append(c.remoteTarget).append(" SIP/2.0\r\n");
  appendVia(c, "3");
  req_.append(c.routes);
  appendCommon(c, c.dialogTo);
  req_.append("CSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n");
}

void Engine::buildResponse(const sip::Message& req, int status, std::string_view reason, bool dialog,
                           std::string_view body) {
  req_.clear();
  req_.append("SIP/2.0 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  for (const sip::HeaderField& h : req.headers()) {
    switch (h.id) {
      case sip::HeaderId::Via: req_.append("Via: ").append(h.value).append("\r\n"); break;
      case sip::HeaderId::From: req_.append("From: ").append(h.value).append("\r\n"); break;
      case sip::HeaderId::CallId: req_.append("Call-ID: ").append(h.value).append("\r\n"); break;
      case sip::HeaderId::CSeq: req_.append("CSeq: ").append(h.value).append("\r\n"); break;
      case sip::HeaderId::To:
        req_.append("To: ").append(h.value);
        if (status > 100 && !req.to().tag()) req_.append(";tag=").append(tagFor(req.callId()));
        req_.append("\r\n");
        break;
      case sip::HeaderId::RecordRoute:
        if (dialog) req_.append("Record-Route: ").append(h.value).append("\r\n");
        break;
      default: break;
    }
  }
  if (dialog) {
    req_.append("Contact: <sip:").append(contactHostPort_).append(";transport=").append(contactTransportName(o_.transport));
    req_.append(">\r\n");
  }
  if (!body.empty()) req_.append("Content-Type: application/sdp\r\n");
  req_.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
}

}  // namespace sipwarden::loadclient
