// One io_context thread of the load client: its connections, its calls and their state machines
// (RFC 3261 user agent client behaviour for REGISTER, MESSAGE, INVITE/ACK/BYE with digest
// authentication), the pacing of new calls at a fixed rate, and the uas that answers requests.
//
// Calls live in a ring of slots indexed by their sequence number; the number is carried in the
// Call-ID ("<run tag>-<number>@lc"), so a response finds its call without a hash lookup. Every call
// has a deadline; every run has a hard end; nothing waits without a bound.
//
// Thread-safety: an Engine is used by one thread at a time (its own while it runs).
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "digest.hpp"
#include "links.hpp"
#include "options.hpp"
#include "stats.hpp"

namespace sipwarden::loadclient {

/// Set by SIGINT/SIGTERM: runs end early (their calls counted as unfinished).
extern std::atomic<bool> gStopRequested;

/// What the uas saw.
struct UasStats {
  std::map<std::string, std::uint64_t> requests;  ///< by method
  std::uint64_t responsesSent = 0;
  std::uint64_t connectionsAccepted = 0;
  std::uint64_t connectionsLost = 0;
  std::uint64_t invalid = 0;
  std::uint64_t sendErrors = 0;
};

/// What happened to the connections an idle run holds.
struct HoldStats {
  std::uint64_t held = 0;  ///< open when the hold started
  std::uint64_t lost = 0;  ///< closed by the peer or an error during the hold
  std::map<std::string, std::uint64_t> reasons;
  std::uint64_t messagesDuringHold = 0;
};

class Engine final : public LinkHandler {
 public:
  Engine(const Options& o, const std::vector<User>& users, const std::vector<std::string>& callees,
         const TlsContexts* tls, unsigned index, unsigned count, std::uint32_t runTag);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Opens the UDP socket or the persistent connections (and, for the uas, its listener) and
  /// waits, at most `timeoutSeconds`, until they are ready. False (and why) when they are not.
  bool prepare(double timeoutSeconds, std::string& why);

  /// One run: `calls` calls (this thread's share) started at `rate` per second. Blocks until every
  /// call has ended or the run's hard end (start + calls/rate + call timeout + 5 s).
  RunStats run(double rate, std::uint64_t calls);

  /// idle: keeps the connections of the run just made open for `seconds`, then closes them.
  HoldStats hold(double seconds);

  /// uas: answers requests until `seconds` have passed or a stop is requested.
  void serve(double seconds);
  const UasStats& uasStats() const { return uas_; }

  // LinkHandler
  void onReady(Link& link) override;
  void onMessage(Link& link, sip::Message& msg, const udp::endpoint* from) override;
  void onInvalid(Link& link, std::string_view what) override;
  void onClosed(Link& link, std::string_view reason) override;

 private:
  enum class Kind : std::uint8_t { Register, Message, Invite, Options };
  enum class Stage : std::uint8_t { First, Authenticated, Bye };

  struct Call {
    std::uint64_t seq = 0;
    bool active = false;
    Stage stage = Stage::First;
    bool provisional = false;  ///< INVITE: a 1xx arrived, no more retransmissions
    std::uint32_t user = 0;
    Clock::time_point start{}, deadline{}, retransAt{};
    std::uint32_t retransMs = 0;
    std::uint32_t responseUs = 0;
    Link* link = nullptr;
    std::shared_ptr<Link> own;  ///< the call's own connection (connection per call)
    std::string lastRequest;    ///< UDP: for retransmissions
    std::string ack1, ack2;     ///< UDP: ACKs sent again when their response is retransmitted
    std::string dialogTo, remoteTarget, routes;  ///< INVITE dialog (RFC 3261 §12.1.2)
  };

  static constexpr std::uint64_t kKeptTag = ~std::uint64_t{0};

  Kind kindFor(Mode m) const;
  std::shared_ptr<StreamLink> openStream();
  void acceptNext();
  void replacePersistent(Link& dead);

  void armPacer();
  void pace();
  void armSweeper();
  void sweep();
  bool startCall();
  void endRunIfDone();
  void finishRun();

  Call* callFor(const sip::Message& msg);
  void onResponse(Call& c, const sip::Message& msg);
  void onRequest(Link& link, const sip::Message& msg, const udp::endpoint* from);
  void succeed(Call& c);
  void failCall(Call& c, const std::string& reason);
  void finish(Call& c, bool ok);
  void sendRequest(Call& c);

  // Request and response text.
  void appendVia(const Call& c, std::string_view branchSuffix);
  void appendCommon(const Call& c, std::string_view toValue);
  void buildFirst(Call& c, const Challenge* challenge);
  void buildAckNon2xx(Call& c, int cseq, std::string_view toValue);
  void buildAck2xx(Call& c);
  void buildBye(Call& c);
  void buildResponse(const sip::Message& req, int status, std::string_view reason, bool dialog, std::string_view body);
  std::string_view userName(const Call& c) const;
  std::string_view calleeName(const Call& c) const;
  std::string_view callId(const Call& c);
  std::string cnonce(const Call& c) const;

  const Options& o_;
  const std::vector<User>& users_;
  const std::vector<std::string>& callees_;
  unsigned index_, count_;
  std::uint32_t runTag_;
  std::string runTagHex_;

  asio::io_context io_;
  LinkShared shared_;
  DigestHasher hasher_;
  tcp::endpoint serverTcp_;
  udp::endpoint serverUdp_;

  std::shared_ptr<UdpLink> udp_;
  std::vector<std::shared_ptr<StreamLink>> persistent_;
  std::size_t nextLink_ = 0;
  std::uint64_t reconnects_ = 0;
  std::string lastCloseReason_;
  std::vector<std::shared_ptr<Link>> kept_;  ///< idle: the connections held open
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::shared_ptr<StreamLink>> accepted_;

  Kind kind_ = Kind::Register;
  std::string contactHostPort_;
  bool keepLinks_ = false;
  bool holding_ = false;

  std::vector<Call> calls_;
  std::uint64_t mask_ = 0;
  std::uint64_t seq_ = 0;       ///< next call's sequence number
  std::uint64_t oldest_ = 0;    ///< no active call below this
  std::uint64_t userCursor_ = 0;
  std::uint64_t outstanding_ = 0;
  std::uint64_t maxOutstanding_ = 0;

  // The run in progress.
  bool running_ = false;
  std::uint64_t generation_ = 0;  ///< timers of an earlier run find a newer generation and stop
  double rate_ = 0;
  std::uint64_t total_ = 0, issued_ = 0;
  Clock::time_point t0_{}, lastEnd_{}, startDeadline_{}, hardEnd_{};
  bool pacingDone_ = false;
  RunStats stats_;
  HoldStats holdStats_;
  UasStats uas_;
  asio::steady_timer pacer_, sweeper_;
  std::string req_, tmp_;
};

}  // namespace sipwarden::loadclient
