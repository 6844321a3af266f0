// The request core of one worker: it receives what the transport parsed, runs it through the
// transaction layer, and handles new requests: policy checks (Max-Forwards, Require), then
// REGISTER (authentication, registrar, durable write, 200 OK) and OPTIONS to the server.
//
// Thread-safety: one WorkerCore per worker thread, used only there. Store completions arrive on
// the store's writer thread and are posted back to the worker's io_context.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/proxy.hpp"
#include "server/services.hpp"
#include "transaction/transaction_layer.hpp"
#include "transport/dns_resolver.hpp"
#include "transport/worker_transport.hpp"

namespace sipwarden::server {

class WorkerCore final : public transport::MessageHandler,
                         public transaction::TransactionUser,
                         public transaction::Sender,
                         public proxy::Network,
                         public storage::SqliteStore::ChangeSink {
 public:
  WorkerCore(boost::asio::io_context& io, Services& services, const transport::TransportSettings& transportSettings,
             transport::ConnectionRegistry& registry, transaction::TimerSettings timers);
  ~WorkerCore() override;

  /// Every worker of the server (this one at `index`): responses to a branch another worker
  /// created are posted there. Call before start().
  void setSiblings(std::vector<WorkerCore*> all, unsigned index);
  void start();
  void stopAccepting() { transport_.stopAccepting(); }
  void closeAll() { transport_.closeAll(); }
  /// A graceful stop, on the worker's thread: the connections close (WebSockets with 1001).
  void closeForShutdown() { transport_.closeForShutdown(); }
  /// On the worker's thread: publishes unfinishedWork() as the answer to the control thread's
  /// question number `round`.
  void reportUnfinished(std::uint32_t round) {
    const std::uint64_t count = std::min<std::size_t>(unfinishedWork(), 0xffffffffu);
    unfinished_.store(static_cast<std::uint64_t>(round) << 32 | count, std::memory_order_release);
  }
  /// From any thread: what the report for question `round` found; SIZE_MAX while that report has
  /// not come (an answer to an earlier question does not count).
  [[nodiscard]] std::size_t unfinishedAt(std::uint32_t round) const {
    const std::uint64_t v = unfinished_.load(std::memory_order_acquire);
    return static_cast<std::uint32_t>(v >> 32) == round ? static_cast<std::size_t>(v & 0xffffffffu) : SIZE_MAX;
  }
  transport::WorkerTransport& transport() { return transport_; }
  std::size_t transactionCount() const { return txn_.serverCount() + txn_.clientCount(); }
  const proxy::ProxyStats& proxyStats() const { return proxy_.stats(); }

  // proxy::Network
  std::string localHostPort(const transport::Peer& peer) override { return transport_.localHostPort(peer); }
  bool resolve(const sip::Uri& uri, transport::Peer& out) override;
  bool isLocalUri(const sip::Uri& uri) override;
  unsigned workerIndex() const override { return index_; }

  // transport::MessageHandler
  void onMessage(sip::Message& msg, const transport::Peer& from) override;
  void onInvalid(sip::Message& partial, const sip::ParseError& error, const transport::Peer& from) override;
  void onTransportError(const transport::Peer& peer, std::string_view what) override;
  void onConnectFailed(const transport::Peer& to) override;
  void onConnectionLost(std::uint64_t connectionId) override;
  bool answersOwed(std::uint64_t connectionId) override { return txn_.answersOwed(connectionId) > 0; }

  // transaction::Sender
  bool send(const transport::Peer& to, std::string_view bytes) override;

  // transaction::TransactionUser
  void onRequest(transaction::TransactionId id, sip::Message& request, const transport::Peer& from) override;
  void onCancel(transaction::TransactionId cancelId, transaction::TransactionId inviteId, sip::Message& cancel,
                const transport::Peer& from) override;
  void onAck(sip::Message& ack, const transport::Peer& from) override;
  void onResponse(transaction::TransactionId id, sip::Message& response) override;
  void onStrayResponse(sip::Message& response, const transport::Peer& from) override;
  void onClientFailure(transaction::TransactionId id, bool timeout) override;
  void onServerFailure(transaction::TransactionId id, bool timeout) override;

 private:
  /// What a graceful stop waits for: requests being forwarded (or waiting for an RFC 3263 lookup),
  /// offline deliveries waiting for their answer, writes not yet on the wire, and WebSocket closing
  /// handshakes.
  [[nodiscard]] std::size_t unfinishedWork() const;
  /// Runs the timers due now and sleeps until the next deadline.
  void tick();
  /// The ticker wakes by `when` (rounded up to the tick grid): re-armed when it would wake later.
  void wakeBy(transaction::TimePoint when);
  void handleRegister(transaction::TransactionId id, sip::Message& req);
  void handleOptions(transaction::TransactionId id, sip::Message& req);
  void handleOther(transaction::TransactionId id, sip::Message& req);
  /// A request not addressed to the server itself: Route processing, policy, and forwarding.
  void routeRequest(transaction::TransactionId id, sip::Message& req, const transport::Peer& from,
                    const proxy::RouteInfo& routes);
  /// To a user of ours: the bindings become the targets.
  void routeToUser(transaction::TransactionId id, sip::Message& req, const transport::Peer& from, const Domain& domain);
  /// RFC 3261 §22.3 for a request from a user of ours (From in one of our domains): true when it
  /// may go on (the credentials checked and consumed); otherwise it has been answered (407, 403).
  /// Whether the request came over a TLS connection whose verified client certificate names
  /// user@domain (per [tls] identity) and that user exists: then no digest is asked.
  bool certificateNames(std::string_view user, std::string_view domain, std::string_view realm) const;
  /// The per-domain security mode (arrival over TLS, SRTP in SDP) and the gateway rule for a
  /// request the proxy would forward; answers and returns false when it must not go on. Sets
  /// currentModes_ for the departure check.
  bool checkSecurity(transaction::TransactionId id, sip::Message& req);
  /// The security modes of a request's caller (From) and callee (To) domains.
  security::DomainModes modesOf(const sip::Message& req) const;
  /// Drops the targets a sip-secured or secured domain may not be reached over; answers 403 and
  /// returns false when none is left.
  bool filterDepartures(transaction::TransactionId id, sip::Message& req, std::vector<proxy::Target>& targets);
  /// For a request of a `secured` caller or callee domain (currentModes_): the check of the SDP in
  /// its provisional and 2xx responses. Empty otherwise.
  proxy::ResponseCheck responseCheck();
  /// Forwards `req` to a URI whose host is a name, after RFC 3263 resolution on the resolver
  /// thread (targets tried in order). `requestUri`: the Request-URI to set on the branch (empty:
  /// unchanged). Answers 404 when nothing resolves.
  void forwardAfterLookup(transaction::TransactionId id, sip::Message& req, const transport::Peer& from,
                          const sip::Uri& next, std::string requestUri);
  /// The gateway the current TLS connection's verified certificate names (admitted == false: none).
  security::GatewayAdmission currentGateway() const;
  bool authorizeSender(transaction::TransactionId id, sip::Message& req);
  /// The next hop for a URI (a Route or a foreign Request-URI) as a one-target list; empty (and
  /// answered) when it cannot be resolved.
  bool targetForUri(const sip::Uri& uri, proxy::Target& out);
  /// MESSAGE to a user without a binding: stored, 202 once durable (RFC 3428 store-and-forward).
  void storeOffline(transaction::TransactionId id, sip::Message& req, const std::string& aor);
  /// After a successful REGISTER: the messages waiting for `aor`, one at a time.
  /// Starts a delivery round of `aor`'s waiting messages (those with an id above `afterId`).
  void maybeDeliverOffline(const std::string& aor, std::int64_t afterId = 0);
  struct Delivery;
  void deliverNext(std::shared_ptr<Delivery> d);
  void deliveryDone(std::shared_ptr<Delivery> d, bool delivered);
  /// A server an RFC 3263 lookup of `host` found, as a target (nullopt: we have no listener of
  /// its transport and family); a TLS one's certificate must then name `host`.
  std::optional<proxy::Target> targetOf(const transport::DnsTarget& d, const std::string& requestUri,
                                        const std::string& host);
  /// The RFC 3263 lookup for a next hop named by `next`, over the transports we listen on.
  transport::SipLookup lookupFor(const sip::Uri& next) const;
  /// An ACK for a 2xx whose next hop is a name: resolved (RFC 3263), then forwarded statelessly.
  void forwardAckAfterLookup(sip::Message& ack, const sip::Uri& next, std::string requestUri);
  /// A refusal of an offline message that a later attempt may not get (408, 480, 486, 5xx...).
  static bool temporaryRefusal(int status);
  /// The security modes of a stored message's sender and recipient domains.
  security::DomainModes offlineModes(const storage::StoredMessage& m, const std::string& aor) const;
  bool onDeliveryResponse(transaction::TransactionId id, int status);
  /// The targets of the bindings of an AOR (the contact over UDP unless behind NAT; the flow
  /// over connection transports).
  std::vector<proxy::Target> targetsFor(std::vector<registrar::Binding> bindings);
  /// A response posted from another worker (the branch is ours).
  void receiveDispatched(sip::Message& msg, const transport::Peer& from);
  /// A response to `req` with a To tag, Server and any extra headers added by the caller.
  sip::Message makeResponse(const sip::Message& req, int status, std::string_view reason = {});
  /// makeResponse into `out` (cleared first, its storage reused).
  void makeResponseInto(sip::Message& out, const sip::Message& req, int status, std::string_view reason = {});
  /// A slot for a REGISTER's 200 OK that waits for the store's commit.
  std::uint32_t acquirePendingRegister();
  /// The store committed (or failed) the change of the REGISTER waiting in `slot`: answer it, free the slot.
  void registerCommitted(std::uint32_t slot, bool ok);
  /// storage::SqliteStore::ChangeSink, on the store's writer thread: the REGISTERs' changes (their
  /// token is the pending slot) come back to this worker, which answers them and frees them.
  void finished(std::vector<storage::SqliteStore::FinishedChange> changes) override;
  void respond(transaction::TransactionId id, const sip::Message& response);
  /// Whether our `status` answer to `req` goes without transaction state (RFC 3261 §8.2.7):
  /// challenges, and every final ≥ 300 to an INVITE whose credentials were not used up (see
  /// credentialsUsed_). makeResponse then gives it a stateless To tag (proxy::StatelessTags), by
  /// which respond() sends it statelessly and onAck drops its ACK.
  bool answersStatelessly(const sip::Message& req, int status) const;
  void reply(transaction::TransactionId id, const sip::Message& req, int status, std::string_view reason = {});
  void challenge(transaction::TransactionId id, const sip::Message& req, std::string_view realm, bool stale);
  /// RFC 3261 §18.2.1 (and RFC 3581): received / rport on the top Via of a request; returns the
  /// address responses go to (§18.2.2).
  transport::Peer fixVia(sip::Message& msg, const transport::Peer& from);
  bool requestIsForUs(const sip::Message& req) const;
  void logRateLimited(const std::string& line);

  boost::asio::io_context& io_;
  Services& services_;
  transport::WorkerTransport transport_;
  transaction::TransactionLayer txn_;
  proxy::Proxy proxy_;
  std::vector<WorkerCore*> siblings_;
  std::unordered_map<transaction::TransactionId, std::shared_ptr<Delivery>> deliveries_;
  unsigned index_ = 0;
  boost::asio::steady_timer ticker_;
  /// When the ticker wakes; nullopt while it is not armed (no timer pending).
  std::optional<transaction::TimePoint> tickerDue_;
  transport::Peer currentSource_;  ///< the real source of the message being handled
  security::DomainModes currentModes_;  ///< the security modes of the request being routed
  /// The request being handled passed a digest check, which recorded its nonce count: the same
  /// request again would be refused as a replay (407), so our final to it must be kept in its
  /// transaction and repeated to a retransmission, not sent statelessly (§8.2.7: a stateless
  /// answer must be the same for the same request).
  bool credentialsUsed_ = false;
  /// Some domain is not unsecured, or gateways are listed (else checkSecurity has nothing to do).
  bool securityActive_ = false;
  /// TLS destinations found by name: "host:port" -> the name their certificate must show (RFC 5922).
  std::unordered_map<std::string, std::string> tlsNames_;
  /// Requests waiting for an RFC 3263 lookup (forwardAfterLookup), as they will be forwarded: a
  /// CANCEL meanwhile answers its INVITE 487 here, and the lookup's answer then does nothing.
  std::unordered_map<transaction::TransactionId, std::string> resolving_;
  std::chrono::steady_clock::time_point logWindow_{};
  int logsInWindow_ = 0;
  std::uint64_t suppressedLogs_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::atomic<std::uint64_t> unfinished_{0};  ///< round << 32 | count; round 0 is never asked

  /// A REGISTER whose 200 OK waits for the store's commit. Slots are reused, with the storage of
  /// their response, so that once there are as many as REGISTERs in flight none is allocated.
  struct PendingRegister {
    transaction::TransactionId id = 0;
    sip::Message response;
    bool ready = false;  ///< response built (the REGISTER was answered 200 by the registrar)
    bool hasBindings = false;
    std::string aor;
    std::vector<registrar::Binding> written;  ///< the AOR's bindings as this REGISTER left them
  };
  static constexpr std::uint32_t kNoPendingRegister = 0xffffffffu;
  std::vector<std::unique_ptr<PendingRegister>> pendingRegisters_;  ///< stable addresses
  std::vector<std::uint32_t> freePendingRegisters_;
  sip::Message challengeResponse_;            ///< 401s and immediate 200s to REGISTER, rebuilt each time
  std::vector<std::string> challengeValues_;  ///< the WWW-Authenticate values of the last 401
  std::string viaScratch_;                    ///< fixVia's rebuilt Via
};

}  // namespace sipwarden::server
