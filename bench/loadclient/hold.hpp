// The load client's hold mode (issue 6): N clients, each one user on its own connection (TCP,
// TLS, WS or WSS), connected and registered at a bounded rate, then kept registered with
// refreshes (each a REGISTER challenged afresh, as JsSIP's are) for a bounded time, then closed.
// It reports how many connected, registered and stayed registered, the refreshes that passed or
// failed, the connections the server dropped (with the WebSocket close code or the error), the ramp
// time, and the memory of the watched processes (the server's) and of this process at 0, at each
// milestone and at the end of the ramp and of the hold.
//
// Per client it keeps a small record (the connection, its CSeq, its state); everything else in a
// request (Call-ID, tags, the random .invalid host, +sip.instance) is derived from the client's
// number and the run's tag when the request is written, so that 100,000 clients cost little more
// than their sockets.
//
// Thread-safety: one HoldEngine, one thread.
#pragma once

#include <boost/asio.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "digest.hpp"
#include "links.hpp"
#include "options.hpp"

namespace sipwarden::loadclient {

class HoldEngine final : public LinkHandler {
 public:
  HoldEngine(const Options& o, const std::vector<User>& users, const TlsContexts* tls, std::uint32_t runTag);
  ~HoldEngine() override;
  HoldEngine(const HoldEngine&) = delete;
  HoldEngine& operator=(const HoldEngine&) = delete;

  /// Ramp, hold, close; blocks for at most the ramp's bound + --hold + a minute. Returns the JSON
  /// report (one line) and sets `passed` (every client registered, no refresh failed, nothing dropped).
  std::string run(bool& passed);

  // LinkHandler
  void onReady(Link& link) override;
  void onMessage(Link& link, sip::Message& msg, const udp::endpoint* from) override;
  void onInvalid(Link& link, std::string_view what) override;
  void onClosed(Link& link, std::string_view reason) override;

 private:
  enum class State : std::uint8_t { NotStarted, Connecting, Registering, Registered, Failed, Closed };

  struct Client {
    std::shared_ptr<StreamLink> link;
    Clock::time_point txnStart{};  ///< connect or REGISTER transaction in progress: when it began
    std::uint32_t cseq = 0;
    std::uint32_t txn = 0;  ///< bumped per connect/transaction: stale timeouts find another number
    State state = State::NotStarted;
    bool authSent = false;    ///< the transaction's REGISTER with credentials is out
    bool refreshing = false;  ///< the transaction in progress is a refresh
    bool registered = false;  ///< a 200 arrived at least once
  };

  struct Sample {
    std::string label;
    double t = 0;
    std::uint64_t started = 0, open = 0, registered = 0;
    long rssKib = 0, hwmKib = 0, pssKib = 0, selfRssKib = 0;
  };

  void tick();
  void pace(Clock::time_point now);
  void startClient(std::uint32_t i);
  void sendRegister(std::uint32_t i, const Challenge* challenge);
  void onRegisterResponse(std::uint32_t i, const sip::Message& msg);
  void failTransaction(std::uint32_t i, const std::string& why);
  void answerRequest(Link& link, const sip::Message& msg);
  void armTimeout(std::uint32_t i);
  void expireTimeouts(Clock::time_point now);
  void runRefreshes(Clock::time_point now);
  void sample(const std::string& label);
  void printProgress(Clock::time_point now);
  std::uint64_t inFlight() const { return connecting_ + registeringFirst_; }

  std::string host(std::uint32_t i) const;  ///< the client's random "<12 chars>.invalid"
  /// The host part of the client's Via and Contact: host(i) on WebSocket, else source IP:port.
  std::string contactHost(std::uint32_t i) const;
  std::string_view userName(std::uint32_t i) const;
  void count(std::map<std::string, std::uint64_t>& m, const std::string& key);

  const Options& o_;
  const std::vector<User>& users_;
  std::uint32_t runTag_;
  std::string runTagHex_;
  asio::io_context io_;
  LinkShared shared_;
  DigestHasher hasher_;
  tcp::endpoint server_;
  std::vector<asio::ip::address> sources_;
  asio::steady_timer timer_;

  std::vector<Client> clients_;
  std::uint32_t n_ = 0;
  std::deque<std::pair<Clock::time_point, std::uint64_t>> timeouts_;  ///< (deadline, client << 32 | txn)
  using Due = std::pair<Clock::time_point, std::uint32_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> refreshes_;

  // Ramp.
  enum class Phase : std::uint8_t { Ramp, Draining, Settling, Hold, Done };
  Phase phase_ = Phase::Ramp;
  Clock::time_point t0_{}, paceBase_{}, phaseUntil_{}, rampEnd_{}, holdEnd_{}, hardEnd_{}, nextProgress_{};
  std::uint64_t pacedBefore_ = 0;  ///< clients started before paceBase_
  double rampPausedSeconds_ = 0;   ///< the ramp's pauses for the samples before its end
  Clock::time_point pauseStart_{};
  std::vector<std::uint64_t> milestones_;  ///< where the ramp pauses for a sample; the last is N
  std::size_t nextMilestone_ = 0;
  std::uint32_t issued_ = 0;
  std::uint64_t connecting_ = 0, registeringFirst_ = 0;
  static constexpr std::uint64_t kGiveUpAfter = 1000;  ///< connection failures in a row that end the ramp
  std::uint64_t failedInRow_ = 0, notStarted_ = 0;

  // Counters.
  std::uint64_t connected_ = 0, registered_ = 0, registerFailed_ = 0, connectFailed_ = 0;
  std::uint64_t refreshOk_ = 0, refreshFailed_ = 0, drops_ = 0, open_ = 0;
  std::uint64_t requestsIn_ = 0, strays_ = 0, invalid_ = 0, sendErrors_ = 0;
  std::map<std::string, std::uint64_t> failures_, dropReasons_;
  std::vector<std::uint32_t> setupUs_, registerUs_, refreshUs_;
  std::vector<Sample> samples_;
  std::string req_;
};

}  // namespace sipwarden::loadclient
