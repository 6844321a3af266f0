// The SIP transaction layer (RFC 3261 §17 with the INVITE fixes of RFC 6026): matches requests
// and responses to transactions, absorbs retransmissions, retransmits over UDP, runs the
// timeouts, and hands the transaction user (proxy, registrar) only what is new.
//
// No sockets and no clock of its own: the transport feeds parsed messages in with the time, a
// Sender writes bytes out, and the owner calls advance() when nextTimer() is due. Tests run on
// simulated time.
//
// Thread-safety: none. One TransactionLayer per worker thread; every call on one thread.
// Re-entrancy: TransactionUser callbacks may call respond(), sendRequest(), sendStateless() and
// terminate() on the same layer; they must not call receive() or advance(). Sender::send must not
// call back into the layer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sip/message.hpp"
#include "transaction/timer_queue.hpp"
#include "transaction/transaction.hpp"
#include "transaction/transaction_index.hpp"
#include "transport/peer.hpp"

namespace sipwarden::transaction {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

/// RFC 3261 Table 4 timer values.
struct TimerSettings {
  std::chrono::milliseconds t1{500};        ///< RTT estimate; A, E, G start here; B, F, H, J, L, M = 64*T1
  std::chrono::milliseconds t2{4000};       ///< cap of E and G
  std::chrono::milliseconds t4{5000};       ///< how long the network holds a message; I and K
  std::chrono::milliseconds timerD{32000};  ///< client INVITE Completed on UDP (§17.1.1.2: at least 32 s)
  /// Auto 100 Trying for INVITE server transactions when the TU has sent nothing by then
  /// (§17.2.1); zero sends it on receipt.
  std::chrono::milliseconds trying100{200};
};

/// Names one transaction for its whole life and is never reused by the layer; 0 means none.
using TransactionId = std::uint64_t;

class Sender {
 public:
  virtual ~Sender() = default;
  /// Writes `bytes` to `to` (for connection transports, the connection to.connectionId, or a new
  /// one when it is 0). False when the transport cannot send (connection gone).
  virtual bool send(const transport::Peer& to, std::string_view bytes) = 0;
};

/// What the layer tells its user. Messages are passed by reference for the duration of the call
/// (the user may edit them, e.g. pop a Via); they are not kept.
class TransactionUser {
 public:
  virtual ~TransactionUser() = default;
  /// A new request for which server transaction `id` was created (never a retransmission; never
  /// ACK or CANCEL). Answer with respond(id, ...).
  virtual void onRequest(TransactionId id, sip::Message& request, const transport::Peer& from) = 0;
  /// CANCEL (§9.2): it gets its own non-INVITE server transaction `cancelId`; `inviteId` is the
  /// INVITE server transaction it matches, in whatever state (0 when none: the TU answers 481).
  virtual void onCancel(TransactionId cancelId, TransactionId inviteId, sip::Message& cancel,
                        const transport::Peer& from) = 0;
  /// An ACK no INVITE server transaction absorbed: an ACK for a 2xx (RFC 6026 §7.1) or a stray
  /// one. The TU decides (a proxy forwards it).
  virtual void onAck(sip::Message& ack, const transport::Peer& from) = 0;
  /// A response on client transaction `id`: every provisional, the final, and for INVITE every 2xx
  /// that arrives while in Accepted (retransmissions and other forks, RFC 6026 §8.4). Retransmitted
  /// non-2xx finals are absorbed.
  virtual void onResponse(TransactionId id, sip::Message& response) = 0;
  /// A response matching no client transaction (§17.1.3); a proxy forwards 2xx statelessly (§16.7).
  virtual void onStrayResponse(sip::Message& response, const transport::Peer& from) = 0;
  /// The client transaction is gone without a final response: Timer B or F fired (`timeout`,
  /// to be treated as 408, §8.1.3.1) or a retransmission could not be sent (§17.1.4).
  virtual void onClientFailure(TransactionId id, bool timeout) = 0;
  /// The server transaction is gone: a response could not be sent (§17.2.4), or Timer H fired
  /// without an ACK (`timeout`).
  virtual void onServerFailure(TransactionId id, bool timeout) = 0;
};

/// Counters for monitoring; they only grow.
struct TransactionStats {
  std::uint64_t requestRetransmissions = 0;   ///< requests and ACKs absorbed by server transactions
  std::uint64_t responseRetransmissions = 0;  ///< responses absorbed by client transactions
  std::uint64_t timerRetransmissions = 0;     ///< sends by Timer A, E and G
  std::uint64_t strayResponses = 0;
  std::uint64_t invalidDropped = 0;  ///< messages without what matching needs (Via, CSeq, ...)
  std::uint64_t sendFailures = 0;
  std::uint64_t sizeSwitches = 0;  ///< requests sent over TCP instead of UDP for their size (§18.1.1)
  std::uint64_t udpFallbacks = 0;  ///< of those, sent over UDP after all (the connection failed)
  std::uint64_t connectionLosses = 0;  ///< client transactions failed when their connection closed
};

class TransactionLayer {
 public:
  /// `sender` and `tu` must outlive the layer.
  TransactionLayer(Sender& sender, TransactionUser& tu, TimerSettings timers = {});
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  /// Everything the transport parsed: requests with canBuildResponse(), responses with a top Via
  /// (anything less is counted and dropped). `msg` need only live for the call.
  void receive(sip::Message& msg, const transport::Peer& from, TimePoint now);

  /// Sends a response (100..699) on server transaction `id` to the Peer its request came from
  /// (the transport resolves the §18.2.2 response address from it) and keeps the bytes for
  /// retransmission. False when the transaction no longer exists, when the state machine discards
  /// the response (e.g. a second final, §17.2.1/§17.2.2), or when sending failed: the transaction
  /// is then gone and onServerFailure(id, false) has been called (§17.2.4).
  bool respond(TransactionId id, const sip::Message& response, TimePoint now);

  /// RFC 3261 §8.2.7, a stateless answer: sends a final response to a request that has had no
  /// response yet (200..699; for INVITE 300..699) and ends its server transaction at once: no
  /// Timer J, and for INVITE no Timer G retransmissions and no wait for the ACK (which then
  /// reaches the TU's onAck). A retransmission of the request is new to the layer and reaches the
  /// TU again. Meant for challenges, whose stateless nonces make a second one as good as the
  /// first, and for refusals of INVITE: a flood leaves no state, and a forged source address gets
  /// one response per request, not eleven. False (nothing sent) for a provisional, a 2xx to
  /// INVITE, or a transaction that already answered (e.g. its automatic 100 Trying); false after
  /// a failed send too, which ends the transaction with onServerFailure(id, false) like respond().
  bool respondStatelessly(TransactionId id, const sip::Message& response);

  /// Starts a client transaction: `request` already has its top Via with a fresh branch
  /// (newBranch()). INVITE or non-INVITE per its method; ACK is not a transaction (0: use
  /// sendStateless). Returns 0, creating nothing and calling nothing, when the request cannot
  /// start a transaction (ACK, no branch, branch and method already in use) or the first send
  /// fails.
  /// `maySwitchForSize` false keeps a large UDP request on UDP (the destination is behind a NAT
  /// that would not let a TCP connection in; see setUdpSizeLimit).
  /// `failWithConnection`: `to` is a registered flow (a connection the user agent opened), so the
  /// transaction fails at once should that connection close before the final (connectionLost).
  TransactionId sendRequest(const sip::Message& request, const transport::Peer& to, TimePoint now,
                            bool maySwitchForSize = true, bool failWithConnection = false);

  /// RFC 3261 §18.1.1: a request for UDP larger than `bytes` (the path MTU less 200; 1300 by
  /// default) goes over TCP to the same address and port instead, with its top Via saying so;
  /// should the connection fail before any response, it goes over UDP after all. 0: never.
  void setUdpSizeLimit(std::size_t bytes) { udpSizeLimit_ = bytes; }

  /// A connection to `to` (transport, address, port) could not be set up (refused, unreachable,
  /// TLS handshake failed): the client transactions sent that way that have no response yet
  /// fail now (§17.1.4: onClientFailure(id, false)), rather than at Timer B/F, or go over UDP
  /// when they left it only for their size. Returns how many were affected.
  std::size_t transportFailed(const transport::Peer& to, TimePoint now);

  /// The connection `connectionId` (of any worker) has closed: the client transactions sent over
  /// it with `failWithConnection` that have no final response yet (Calling, Trying, Proceeding)
  /// fail now (onClientFailure(id, false)), since their response cannot come back that way,
  /// instead of at Timer B/F or never (an INVITE in Proceeding). One hash lookup when no live
  /// transaction of this layer was sent over it. Returns how many failed.
  std::size_t connectionLost(std::uint64_t connectionId);

  /// How many server transactions of requests that came over connection `connectionId` have not
  /// sent their final response yet: what the connection still owes its client.
  [[nodiscard]] std::size_t answersOwed(std::uint64_t connectionId) const;

  /// Sends outside any transaction (ACK for a 2xx, a proxy's stateless forwarding of a 2xx).
  bool sendStateless(const sip::Message& msg, const transport::Peer& to);

  /// Removes a transaction now, without callbacks: for the TU that gives up, e.g. on an INVITE
  /// client transaction still in Proceeding 64*T1 after its CANCEL (§9.1), which RFC 3261 gives
  /// no timer of its own. False when it no longer exists.
  bool terminate(TransactionId id);

  /// Fires every timer due at `now` (retransmissions A/E/G, timeouts B/F/H, clean-ups D/I/J/K,
  /// RFC 6026 L/M).
  void advance(TimePoint now);
  /// When advance() next has work; nullopt when no timer runs.
  [[nodiscard]] std::optional<TimePoint> nextTimer() const;
  /// Called with the deadline of every timer armed from now on, so that an owner that sleeps
  /// until nextTimer() can wake earlier for a new, earlier one.
  void onTimerArmed(std::function<void(TimePoint)> hook) { timerArmed_ = std::move(hook); }

  [[nodiscard]] std::size_t serverCount() const { return servers_; }
  [[nodiscard]] std::size_t clientCount() const { return clients_; }
  /// The state of a live transaction; nullopt once it has terminated.
  [[nodiscard]] std::optional<State> state(TransactionId id) const;
  [[nodiscard]] const TransactionStats& stats() const { return stats_; }
  [[nodiscard]] const TimerSettings& timers() const { return timers_; }

  /// "z9hG4bK" followed by 128 bits (64 random from a thread-local generator seeded from
  /// std::random_device, 64 from a per-thread random salt plus a counter): unique across threads
  /// and time (§8.1.1.7), lower case so that case-insensitive comparison loses nothing.
  static std::string newBranch();

 private:
  using Transaction = detail::Transaction;
  using Kind = detail::Kind;
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};

  // ---- server side (server_transaction.cpp) ----
  void receiveRequest(sip::Message& request, const transport::Peer& from, TimePoint now);
  void receiveAck(sip::Message& ack, const transport::Peer& from, TimePoint now);
  void receiveCancel(sip::Message& cancel, const transport::Peer& from, TimePoint now);
  /// A retransmitted request: answer with the last response sent, if any (§17.2.1, §17.2.2).
  void absorbRequest(std::uint32_t slot);
  std::uint32_t createServer(Kind kind, const transport::Peer& from);
  void fireServerTimer(std::uint32_t slot, detail::Timer which, TimePoint now);
  /// Sends `bytes` of server transaction `slot`; on failure removes it and tells the TU.
  bool sendServerBytes(std::uint32_t slot);
  std::uint32_t findServerInvite(const sip::Message& request, std::string_view toTag);

  // ---- client side (client_transaction.cpp) ----
  void receiveResponse(sip::Message& response, const transport::Peer& from, TimePoint now);
  void inviteClientResponse(std::uint32_t slot, sip::Message& response, TimePoint now);
  void nonInviteClientResponse(std::uint32_t slot, sip::Message& response, TimePoint now);
  void fireClientTimer(std::uint32_t slot, detail::Timer which, TimePoint now);
  /// §18.1.1 on a fresh client transaction: over TCP when too large for UDP. False when it stays.
  bool switchForSize(Transaction& tx);
  /// Back to UDP (the TCP attempt failed) and sent; false when that send fails too.
  bool fallBackToUdp(std::uint32_t slot, TimePoint now);
  /// Replaces the stored INVITE with the ACK for `response` (§17.1.1.3); false if it cannot.
  bool buildAck(Transaction& tx, const sip::Message& response);

  // ---- table and timers (transaction_layer.cpp) ----
  std::uint32_t allocate(Kind kind, const transport::Peer& peer);  ///< files it under keyScratch_
  void destroy(std::uint32_t slot);
  [[nodiscard]] std::uint32_t lookup(std::string_view key) const;
  [[nodiscard]] std::uint32_t slotOf(TransactionId id) const;
  [[nodiscard]] TransactionId idOf(std::uint32_t slot) const {
    return (static_cast<TransactionId>(slots_[slot].generation) << 32) | slot;
  }
  void arm(std::uint32_t slot, detail::Timer which, TimePoint when);
  void disarm(std::uint32_t slot, detail::Timer which);
  [[nodiscard]] bool timerLive(const detail::TimerEntry& e) const;
  void dropStaleTop() const;
  void maybeCompactTimers();
  static void release(std::string& s) { std::string().swap(s); }

  Sender& sender_;
  TransactionUser& tu_;
  TimerSettings timers_;
  std::vector<Transaction> slots_;
  std::vector<std::uint32_t> freeSlots_;
  detail::TransactionIndex index_;
  // nextTimer() is const but drops stale entries it finds on top.
  mutable detail::TimerQueue queue_;
  mutable std::size_t staleTimers_ = 0;
  std::function<void(TimePoint)> timerArmed_;
  /// Live client transactions with failsWithConnection, by connection (connectionLost looks only
  /// at connections listed here).
  using ConnectionCounts = std::unordered_map<std::uint64_t, std::uint32_t>;
  ConnectionCounts requestConnections_;
  /// Live server transactions with owesAnswer, by connection (see answersOwed).
  ConnectionCounts answersOwed_;
  /// One transaction of `connectionId` fewer in `counts` (the entry goes at zero).
  static void countDown(ConnectionCounts& counts, std::uint64_t connectionId);
  /// A server transaction's final went out (or it ended): it owes nothing any more.
  void settleAnswer(Transaction& tx);
  std::uint32_t timerSerial_ = 0;
  std::size_t servers_ = 0;
  std::size_t clients_ = 0;
  std::size_t udpSizeLimit_ = 1300;
  std::string keyScratch_;   ///< the key of the message being matched
  std::string wireScratch_;  ///< stateless sends and 2xx retransmissions in Accepted
  TransactionStats stats_;
};

}  // namespace sipwarden::transaction
