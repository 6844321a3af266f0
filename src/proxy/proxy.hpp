// The stateful proxy core of one worker (RFC 3261 §16): forwarding a request to one or more
// targets (parallel forking within a q-value group, the groups one after the other), Via and
// Record-Route (double record-routing with flow tokens, RFC 5658 / RFC 5626 §5.3), loose and strict
// routing (§16.4, §16.6 step 7), best-response selection (§16.7), CANCEL (§16.10), the ring
// timeout (Timer C, §16.8), and stateless forwarding of ACK for a 2xx and of stray 2xx responses.
//
// Policy is not here: which requests are authenticated and where a user is reached is the
// caller's (server/worker_core.cpp) business; it hands the proxy the targets.
//
// Thread-safety: none. One Proxy per worker, next to that worker's TransactionLayer; every call on
// the worker's thread. Responses for a branch must reach the worker that created it: branches carry
// the worker index (workerOfBranch) so that the transport side can post them there.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proxy/flow_token.hpp"
#include "sip/message.hpp"
#include "transaction/transaction_layer.hpp"
#include "transport/peer.hpp"

namespace sipwarden::proxy {

using transaction::TimePoint;
using transaction::TransactionId;

/// What the proxy needs from the worker around it.
class Network {
 public:
  virtual ~Network() = default;
  /// Our address as `peer` reaches it, "192.0.2.1:5060" or "[2001:db8::1]:5060": the sent-by of our
  /// Via and the host of our Record-Route on that leg.
  virtual std::string localHostPort(const transport::Peer& peer) = 0;
  /// The next hop for a URI (RFC 3263 for the cases this server resolves): transport from the
  /// transport parameter (sips: TLS), the host, the port (5060, or 5061 for TLS), and the listener
  /// to send from. False when it cannot be reached.
  virtual bool resolve(const sip::Uri& uri, transport::Peer& out) = 0;
  /// True when `uri` names this server (one of its addresses or names, on one of its ports).
  virtual bool isLocalUri(const sip::Uri& uri) = 0;
  /// Index of this worker (0..255), stamped into the branches the proxy creates.
  virtual unsigned workerIndex() const = 0;
};

/// One destination of a forwarded request.
struct Target {
  std::string uri;             ///< the Request-URI of the branch ("" keeps the request's)
  transport::Peer peer;        ///< where the branch is sent
  std::vector<std::string> routes;  ///< Route values to add (a registration's Path, RFC 3327)
  int q = -1;                  ///< q-value in thousandths; -1 = 1.0; sorts the sequential groups
  /// The peer is a registered flow (a connection the user agent opened): when it is gone the
  /// branch fails at once with 430 Flow Failed (RFC 5626 §5.3) instead of timing out.
  bool flow = false;
  /// A UDP contact behind a NAT (reached where its REGISTER came from): a large request stays on
  /// UDP, since a TCP connection there would not get through (no RFC 3261 §18.1.1 switch).
  bool keepUdp = false;
  /// One of the servers an RFC 3263 lookup gave, in order: the next is tried only after a timeout,
  /// a transport failure or a 503 (RFC 3263 §4.3), not after any other final.
  bool failover = false;
};

/// A verdict on the body of a response a branch returned (the secured mode's SRTP rule applied to
/// an SDP answer, or to an offer in a 2xx after an INVITE without one). Status 0: it passes.
struct Refusal {
  int status = 0;            ///< 488 in practice
  std::string reasonPhrase;  ///< of the response the caller gets
  std::string warning;       ///< a Warning header value for that response, or empty
};
/// Checks a provisional or 2xx response that has a body before the proxy passes it on. Set per
/// forwarded request by the policy around the proxy; empty when nothing is to be checked.
using ResponseCheck = std::function<Refusal(const sip::Message& response)>;

struct ProxySettings {
  /// No final response to an INVITE within this time: CANCEL every branch and answer 480
  /// (Timer C, RFC 3261 §16.8; at least 3 minutes there, a ring timeout here).
  std::chrono::milliseconds ringTimeout{std::chrono::seconds(120)};
  /// A cancelled INVITE branch that stays in Proceeding this long is dropped (§9.1: 64*T1).
  std::chrono::milliseconds cancelWait{32000};
  /// How long a finished INVITE keeps its branch map, to forward 2xx retransmissions (64*T1).
  std::chrono::milliseconds lingerAfterInvite{32000};
  bool recordRoute = true;
  std::string serverHeader = "sipwarden";
};

struct ProxyStats {
  std::uint64_t forwarded = 0;          ///< requests forwarded statefully
  std::uint64_t branches = 0;           ///< client transactions started
  std::uint64_t statelessForwarded = 0; ///< ACKs and stray 2xx sent on
  std::uint64_t cancelled = 0;          ///< CANCELs sent to branches
  std::uint64_t ringTimeouts = 0;
  std::uint64_t loops = 0;              ///< 482 answers
  std::uint64_t flowFailures = 0;       ///< branches failed because their connection was gone
  std::uint64_t refusedResponses = 0;   ///< responses refused by a ResponseCheck (not passed on)
  std::uint64_t refusedDialogs = 0;     ///< 2xx to INVITE refused: the callee got ACK and BYE
  std::uint64_t late2xx = 0;            ///< 2xx to INVITE passed on after our own non-2xx final

  /// Adds another worker's counters (the server sums them at its stop).
  ProxyStats& operator+=(const ProxyStats& o) {
    forwarded += o.forwarded;
    branches += o.branches;
    statelessForwarded += o.statelessForwarded;
    cancelled += o.cancelled;
    ringTimeouts += o.ringTimeouts;
    loops += o.loops;
    flowFailures += o.flowFailures;
    refusedResponses += o.refusedResponses;
    refusedDialogs += o.refusedDialogs;
    late2xx += o.late2xx;
    return *this;
  }
};

/// The result of Route pre-processing (§16.4).
struct RouteInfo {
  bool poppedOwn = false;               ///< at least one Route naming this server was removed
  std::optional<transport::Peer> flow;  ///< the flow token of the last one removed, if any
  bool strictRouted = false;            ///< the Request-URI was ours and was replaced by the last Route
};

/// "z9hG4bK" + "sw" + two hex digits of the worker + the loop hash + "." + 16 random hex digits +
/// 16 hex digits of a MAC (server secret) over all that: isSignedBranch tells ours from a copy.
std::string newProxyBranch(unsigned worker, std::string_view loopHash, const auth::HmacSha256& key);
/// Whether `branch` was made by newProxyBranch with this key (constant-time comparison). A Via
/// with such a branch on top was written by this server: the request is a spiral.
bool isSignedBranch(std::string_view branch, const auth::HmacSha256& key);
/// The worker index a branch of ours names; -1 for anybody else's branch.
int workerOfBranch(std::string_view branch);
/// A To tag (RFC 3261 §19.3: at least 32 bits of randomness): 16 hex digits.
std::string newTag();
/// The same tag written into `out` (no allocation); returns a view of it.
std::string_view writeTag(std::array<char, 16>& out);
/// To tags for finals sent without transaction state (RFC 3261 §8.2.7): "sl." and 13 hex digits
/// of HMAC-SHA256(secret, Call-ID, From tag, CSeq number, top Via branch). §8.2.7 asks for "the
/// same tag for the same request": a retransmission is answered with the tag of the first answer.
/// The caller's ACK for such a final has the same Call-ID, From tag, CSeq number and (§17.1.1.3)
/// Via branch as its INVITE, so matches() recognises it as the ACK of one of our stateless finals
/// (it matches no transaction) without trusting the "sl." prefix alone.
/// Thread-safety: const after construction; one instance serves every worker.
class StatelessTags {
 public:
  explicit StatelessTags(std::span<const std::uint8_t> secret);
  /// The tag for a final answering `m` (a request, or the response made from it), written into
  /// `out` (no allocation); returns a view of it.
  std::string_view write(const sip::Message& m, std::array<char, 16>& out) const;
  /// Whether `tag` is the one write() gives for `m` (a response of ours, or an ACK for it).
  [[nodiscard]] bool matches(const sip::Message& m, std::string_view tag) const;

 private:
  auth::HmacSha256 mac_;
};

class Proxy {
 public:
  /// `txn`, `net` and `tokens` must outlive the proxy.
  Proxy(transaction::TransactionLayer& txn, Network& net, const FlowTokens& tokens, ProxySettings settings);
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  /// §16.4: when the Request-URI is one of our Record-Route URIs (a strict router before us), the
  /// last Route becomes the Request-URI; then every Route on top that names us is removed.
  RouteInfo preprocessRoutes(sip::Message& req);

  /// §16.3 step 4: a Via of ours whose loop hash equals this request's (same Request-URI, tags,
  /// Call-ID, CSeq): the request came back unchanged, a loop (482). A spiral (changed
  /// Request-URI) is not a loop.
  bool isLoop(const sip::Message& req);

  /// Forwards `req`, the request of server transaction `id`, to `targets` (any order; they are
  /// grouped by q, highest first). The proxy answers the server transaction from then on: the
  /// best response, 100 Trying for INVITE, 480 on ring timeout, 487 after a CANCEL without an
  /// answer. `from` is the flow the request came on (Record-Route flow token). An empty list is
  /// answered 480.
  ///
  /// `check`, when set, sees every provisional and 2xx response with a body before it goes on. A
  /// refused one is not passed on: a provisional gets its branch cancelled, a 2xx to INVITE gets
  /// ACK and BYE from the proxy (the callee's dialog ends at once), and the branch ends with the
  /// refusal (e.g. 488 with a Warning), which competes for the best response like any other.
  void forward(TransactionId id, sip::Message& req, const transport::Peer& from, std::vector<Target> targets,
               TimePoint now, ResponseCheck check = {});

  /// Stateless forwarding (ACK for a 2xx, §16.11 simplified to what a record-routing proxy does):
  /// Max-Forwards, Via, and the send. False when it could not be sent.
  bool forwardStateless(sip::Message& req, const Target& target);

  /// An ACK for a 2xx whose SDP answer the security policy refuses (late offer in a secured
  /// domain): it is not forwarded; instead the callee's dialog is ended with a BYE built from the
  /// ACK (its Request-URI, remaining Route, From, To, Call-ID; CSeq + 1), carrying
  /// `Reason: SIP;cause=488`, sent to where the ACK would have gone. Once per dialog: the caller
  /// sends its ACK again for each retransmission of the 2xx, and the BYE's own transaction
  /// retransmits it. Returns whether a BYE went now (false: this dialog's went before).
  bool endDialogOfRefusedAck(const sip::Message& ack, const Target& target, TimePoint now);

  // Transaction-user events; each returns false when it is not about a request the proxy forwards
  // (the caller handles it).
  bool onResponse(TransactionId client, sip::Message& response, TimePoint now);
  bool onClientFailure(TransactionId client, bool timeout, TimePoint now);
  bool onCancel(TransactionId cancelId, TransactionId inviteId, sip::Message& cancel, TimePoint now);
  bool onServerFailure(TransactionId server);
  /// §16.7 / RFC 6026: a 2xx to INVITE that no transaction knows (a retransmission after the
  /// branch ended, or another fork's) is forwarded statelessly by its next Via. Others: dropped.
  void onStrayResponse(sip::Message& response);

  /// Runs ring timeouts, CANCEL waits and linger expiries due at `now`.
  void advance(TimePoint now);
  /// When advance() next has work; nullopt when nothing waits.
  [[nodiscard]] std::optional<TimePoint> nextTimer() const;
  /// Called with the deadline of every ring timeout, CANCEL wait and linger started from now on.
  void onTimerArmed(std::function<void(TimePoint)> hook) { timerArmed_ = std::move(hook); }

  [[nodiscard]] std::size_t contextCount() const { return contexts_.size(); }
  [[nodiscard]] const ProxyStats& stats() const { return stats_; }

 private:
  struct Branch {
    TransactionId client = 0;
    sip::Message request;  ///< as sent (for CANCEL, §9.1): a view of Context::request plus its edits
    transport::Peer peer;
    int status = 0;        ///< final status received (or made up: 408, 430, 503); 0 while pending
    bool provisional = false;
    bool flow = false;          ///< sent to a registered flow (Target::flow): a lost connection is 430
    bool cancelWanted = false;  ///< CANCEL once a provisional arrives
    /// Cancelled before any provisional: the answer no longer waits for it (its Timer B), but a
    /// late provisional still gets the CANCEL.
    bool abandoned = false;
    bool cancelSent = false;
    Refusal refusal;  ///< set when a response of this branch was refused by the context's check
  };
  struct Context {
    TransactionId server = 0;
    sip::Message request;  ///< the received request after the common edits (owned copy; never edited
                           ///< after: the branches' requests are views of it)
    std::string loopHash;  ///< of the received request, in every branch (§16.6 step 8)
    transport::Peer from;
    bool invite = false;
    bool finalSent = false;
    bool cancelled = false;
    bool failover = false;  ///< the groups are RFC 3263 servers (Target::failover)
    bool answered = false;  ///< a branch ended with a final other than 408, 430 or 503
    std::vector<Branch> branches;
    std::vector<std::vector<Target>> groups;  ///< sequential groups not started yet (front first)
    std::size_t nextGroup = 0;
    int bestStatus = 0;
    std::string bestResponse;               ///< wire bytes of the best final so far (our Via popped)
    std::vector<std::string> authHeaders;   ///< "Name: value" of every 401/407 challenge (§16.7 step 7)
    ResponseCheck check;                    ///< see forward()
  };
  /// A finished INVITE branch, kept lingerAfterInvite to deal with 2xx retransmissions (RFC 6026).
  struct Linger {
    TransactionId server = 0;
    transport::Peer peer;              ///< where the branch went
    ResponseCheck check;
    /// The ACKs the proxy sent for refused 2xx (one per To tag: a fork downstream may answer
    /// twice), sent again when that 2xx is retransmitted.
    std::vector<std::shared_ptr<sip::Message>> acks;
    transport::Peer caller;  ///< where the INVITE came from (Context::from)
  };
  static constexpr std::size_t kMaxRefusedForks = 8;

  /// A branch the answer still waits for.
  static bool anyPending(const Context& ctx);
  void startGroup(Context& ctx, TimePoint now);
  void startBranch(Context& ctx, const Target& target, TimePoint now);
  void branchFinal(Context& ctx, std::size_t b, int status, const sip::Message* response, TimePoint now);
  /// After a branch ended: next group, or the best response when nothing is pending.
  void maybeFinish(Context& ctx, TimePoint now);
  void sendBest(Context& ctx, TimePoint now);
  void cancelBranch(Context& ctx, Branch& branch, TimePoint now);
  void cancelPending(Context& ctx, TimePoint now);
  void respondLocal(Context& ctx, int status, std::string_view reason, TimePoint now);
  void destroyIfDone(TransactionId server);
  /// A branch response the context's check refused, or any response of a branch refused before.
  void onRefusedResponse(Context& ctx, std::size_t b, TransactionId client, sip::Message& response, TimePoint now);
  /// Ends the dialog a refused 2xx to INVITE created at the callee: ACK (sent statelessly, kept
  /// for retransmissions of that 2xx) and BYE (a client transaction of ours). Returns the ACK.
  std::shared_ptr<sip::Message> hangUpRefused(const sip::Message& ok, const transport::Peer& peer, TimePoint now);
  /// A request the proxy itself sends inside a dialog: Request-URI `target`, `routes` as Route in
  /// order, From, To and Call-ID copied from `dialog`, "CSeq: cseq method", Reason when given, and a
  /// Via of ours toward `peer`.
  sip::Message ownInDialogRequest(std::string_view method, std::string_view target,
                                  const std::vector<std::string>& routes, const sip::Message& dialog,
                                  std::uint32_t cseq, std::string_view reason, const transport::Peer& peer);
  [[nodiscard]] std::string loopHash(const sip::Message& req) const;
  bool sendResponseStateless(sip::Message& response);
  /// A 2xx to the INVITE of server transaction `server` that came from `caller`: through the
  /// transaction while it takes one (Proceeding, Accepted), else statelessly to `caller`.
  void passOn2xx(TransactionId server, const transport::Peer& caller, sip::Message& response, TimePoint now);

  /// Counts the proxy's entry points on the stack: a respond() that fails calls onServerFailure
  /// back, which must not free a Context the entry point still uses.
  struct Busy {
    explicit Busy(int& depth) : depth_(depth) { ++depth_; }
    ~Busy() { --depth_; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    int& depth_;
  };
  int busy_ = 0;

  transaction::TransactionLayer& txn_;
  Network& net_;
  const FlowTokens& tokens_;
  ProxySettings settings_;
  std::unordered_map<TransactionId, Context> contexts_;  ///< by server transaction
  struct BranchRef {
    TransactionId server = 0;
    std::uint32_t index = 0;
  };
  std::unordered_map<TransactionId, BranchRef> branches_;  ///< by client transaction
  /// Client transactions of requests the proxy made itself (CANCEL, and BYE for a refused 2xx) ->
  /// the server transaction they are for; their answers go nowhere.
  std::unordered_map<TransactionId, TransactionId> ownRequests_;
  /// Finished INVITE branches by client transaction, to forward 2xx retransmissions.
  std::unordered_map<TransactionId, Linger> lingering_;
  struct Due {
    TimePoint when;
    TransactionId id;
  };
  std::deque<Due> ringDue_;     ///< server ids, in deadline order (one constant timeout)
  std::deque<Due> lingerDue_;   ///< client ids
  std::deque<Due> cancelDue_;   ///< client ids of cancelled INVITE branches
  std::function<void(TimePoint)> timerArmed_;
  /// Queues `id` on `due` (one of the deques above) and tells the owner of the deadline.
  void schedule(std::deque<Due>& due, TimePoint when, TransactionId id);
  ProxyStats stats_;
  std::string scratch_;  ///< the serialized request in forward(), before its owned parse

  /// The flow token of `flow` (FlowTokens::encode is an HMAC, and a proxy record-routes the same
  /// callers' and callees' flows over and over): remembered per peer, at most kTokenCacheSize
  /// peers, forgotten all at once when full.
  const std::string& flowToken(const transport::Peer& flow);
  struct PeerHash {
    std::size_t operator()(const transport::Peer& p) const noexcept;
  };
  static constexpr std::size_t kTokenCacheSize = 4096;
  std::unordered_map<transport::Peer, std::string, PeerHash> tokenCache_;

  /// The flow of a token in a Route or Request-URI naming us (FlowTokens::decode checks an HMAC,
  /// and every in-dialog request brings the same tokens back): tokens this worker made, and
  /// tokens whose MAC checked, remembered by their text, at most kTokenCacheSize of them.
  /// Forged tokens are never remembered.
  std::optional<transport::Peer> flowOf(std::string_view token);
  struct TokenHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, transport::Peer, TokenHash, std::equal_to<>> flowCache_;

  /// Dialogs ended by endDialogOfRefusedAck (Call-ID, From tag, To tag), the last
  /// kEndedDialogs of them, oldest forgotten first.
  std::unordered_set<std::string> endedDialogs_;
  std::deque<std::string> endedOrder_;
  static constexpr std::size_t kEndedDialogs = 1024;
};

}  // namespace sipwarden::proxy
