#include "server/worker_core.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

#include "registrar/registrar.hpp"
#include "server/wall_clock.hpp"
#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::server {

namespace asio = boost::asio;
using transaction::TransactionId;
using transport::Peer;
using transport::TransportKind;
using proxy::newTag;
using proxy::writeTag;

namespace {

constexpr std::string_view kAllow = "REGISTER, OPTIONS, INVITE, ACK, CANCEL, BYE, MESSAGE";
constexpr std::string_view kSupported = "path, outbound, gruu";
constexpr std::chrono::milliseconds kTick{10};

/// SIP-date (RFC 3261 §20.17), e.g. "Sun, 22 Nov 2026 10:00:00 GMT"; now by default.
std::string sipDate(std::time_t t = std::time(nullptr)) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

/// sipDate() of now, formatted once per second per thread (every 200 OK to REGISTER carries it).
std::string_view currentSipDate() {
  thread_local std::time_t cachedAt = -1;
  thread_local std::string cached;
  std::time_t t = std::time(nullptr);
  if (t != cachedAt) {
    cached = sipDate(t);
    cachedAt = t;
  }
  return cached;
}

bool supportedOption(std::string_view tag) {
  return sip::iequals(tag, "path") || sip::iequals(tag, "outbound") || sip::iequals(tag, "gruu");
}

/// RFC 1918, RFC 6598 (carrier-grade NAT), link-local, and IPv6 unique-local / link-local.
bool isPrivateAddress(const transport::IpAddress& a) {
  const auto& b = a.bytes;
  if (!a.v6) {
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xc0) == 64) || (b[0] == 169 && b[1] == 254);
  }
  return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

}  // namespace

const Domain* Services::domainFor(std::string_view host) const {
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  for (const Domain& d : settings.domains) {
    if (sip::iequals(d.name, host)) return &d;
  }
  for (const std::string& a : settings.localAliases) {
    if (sip::iequals(a, host)) return settings.domains.empty() ? nullptr : &settings.domains.front();
  }
  return nullptr;
}

WorkerCore::WorkerCore(asio::io_context& io, Services& services, const transport::TransportSettings& transportSettings,
                       transport::ConnectionRegistry& registry, transaction::TimerSettings timers)
    : io_(io),
      services_(services),
      transport_(io, transportSettings, registry, services.stats.transport, *this),
      txn_(*this, *this, timers),
      proxy_(txn_, *this, services.flowTokens,
             proxy::ProxySettings{.ringTimeout = services.settings.ringTimeout,
                                  .cancelWait = 64 * timers.t1,
                                  .lingerAfterInvite = 64 * timers.t1,
                                  .recordRoute = true,
                                  .serverHeader = services.settings.serverHeader}),
      ticker_(io) {
  txn_.setUdpSizeLimit(transportSettings.udpMtu > 200 ? transportSettings.udpMtu - 200 : 0);
  const security::SecuritySettings& sec = services.security.settings();
  securityActive_ = !sec.gatewayNames.empty() || sec.defaultMode != security::SecurityMode::Unsecured ||
                    std::any_of(sec.domains.begin(), sec.domains.end(), [](const security::DomainSecurity& d) {
                      return d.mode != security::SecurityMode::Unsecured;
                    });
}

void WorkerCore::setSiblings(std::vector<WorkerCore*> all, unsigned index) {
  siblings_ = std::move(all);
  index_ = index;
}

WorkerCore::~WorkerCore() { *alive_ = false; }

void WorkerCore::start() {
  transport_.start();
  txn_.onTimerArmed([this](transaction::TimePoint when) { wakeBy(when); });
  proxy_.onTimerArmed([this](transaction::TimePoint when) { wakeBy(when); });
  tick();
}

// Timers run on a grid of kTick: one wake-up serves every deadline up to its grid point. The
// ticker sleeps until the earliest pending deadline, and not at all while none is pending, so an
// idle worker never wakes up (a fixed 10 ms tick cost about 0.4% of a core per worker, idle).
void WorkerCore::tick() {
  tickerDue_.reset();
  const auto now = transaction::Clock::now();
  txn_.advance(now);
  proxy_.advance(now);
  std::optional<transaction::TimePoint> next = txn_.nextTimer();
  if (auto p = proxy_.nextTimer(); p && (!next || *p < *next)) next = p;
  if (next) wakeBy(*next);
}

void WorkerCore::wakeBy(transaction::TimePoint when) {
  const auto grid = std::chrono::duration_cast<transaction::Clock::duration>(kTick);
  const auto since = when.time_since_epoch();
  const transaction::TimePoint due{((since + grid - transaction::Clock::duration(1)) / grid) * grid};
  if (tickerDue_ && due >= *tickerDue_) return;
  tickerDue_ = due;
  ticker_.expires_at(due);  // a wait still pending ends with operation_aborted
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

std::size_t WorkerCore::unfinishedWork() const {
  return proxy_.contextCount() + deliveries_.size() + resolving_.size() + transport_.connectionsWritingOut() +
         transport_.webSocketsClosing();
}

void WorkerCore::logRateLimited(const std::string& line) {
  auto now = std::chrono::steady_clock::now();
  if (now - logWindow_ > std::chrono::seconds(1)) {
    if (suppressedLogs_ > 0) spdlog::warn("{} similar messages suppressed", suppressedLogs_);
    logWindow_ = now;
    logsInWindow_ = 0;
    suppressedLogs_ = 0;
  }
  if (++logsInWindow_ <= 10) {
    spdlog::warn("{}", line);
  } else {
    ++suppressedLogs_;
  }
}

void WorkerCore::onTransportError(const Peer& /*peer*/, std::string_view what) { logRateLimited(std::string(what)); }

void WorkerCore::onConnectFailed(const Peer& to) {
  // §17.1.4: the requests that were to go over it fail now (503 for a proxy branch), or, when
  // they left UDP only for their size (§18.1.1), go over UDP.
  if (txn_.transportFailed(to, transaction::Clock::now()) > 0) {
    logRateLimited("could not connect to " + to.toString() + " (" + std::string(transport::transportName(to.transport)) +
                   ")");
  }
}

void WorkerCore::onConnectionLost(std::uint64_t connectionId) {
  // Any worker may have sent requests over it (a connection is written by its owner for all).
  for (WorkerCore* w : siblings_) {
    if (w == this) continue;
    asio::post(w->io_, [w, connectionId] { w->txn_.connectionLost(connectionId); });
  }
  txn_.connectionLost(connectionId);
}

// ---- transport -> transactions ---------------------------------------------------------------

Peer WorkerCore::fixVia(sip::Message& msg, const Peer& from) {
  // Over TCP the responses go back on the connection (§18.2.2); received is recorded all the same.
  const sip::Via& via = msg.topVia();
  transport::IpAddress sentBy;
  bool sameAddress = transport::IpAddress::parse(via.host, sentBy) && sentBy == from.address;
  bool rport = via.rport.has_value();
  Peer replyTo = from;
  if (from.transport == TransportKind::Udp && !rport) {
    // §18.2.2: to the received address, at the sent-by port (5060 by default).
    replyTo.port = via.hasPort ? via.port : 5060;
  }
  if (sameAddress && !(rport && via.rport->empty())) return replyTo;
  // Rebuild the top Via with received (and a filled rport, RFC 3581 §4), in reused storage.
  std::string& text = viaScratch_;
  text.clear();
  text.reserve(via.raw.size() + 48);
  text.append(via.protocolName).append("/").append(via.protocolVersion).append("/").append(via.transport);
  text.append(" ").append(via.host);
  if (via.hasPort) text.append(":").append(std::to_string(via.port));
  for (const sip::Param& p : via.params) {
    if (sip::iequals(p.name, "received")) continue;
    text.append(";").append(p.name);
    if (sip::iequals(p.name, "rport")) {
      text.append("=").append(std::to_string(from.port));
      continue;
    }
    if (p.hasValue) {
      text.append("=");
      if (p.quoted) {
        text.append("\"").append(p.value).append("\"");
      } else {
        text.append(p.value);
      }
    }
  }
  text.append(";received=").append(from.address.toString());
  msg.popVia();
  if (msg.pushVia(text) != nullptr) {
    // Cannot happen for a Via that parsed; keep going with the source address.
    logRateLimited("could not rewrite Via: " + text);
  }
  return replyTo;
}

void WorkerCore::onMessage(sip::Message& msg, const Peer& from) {
  currentSource_ = from;
  if (spdlog::should_log(spdlog::level::trace)) {
    std::string text;
    sip::serialize(msg, text);
    spdlog::trace("worker {} received from {}:\n{}", index_, from.toString(), text);
  }
  auto now = transaction::Clock::now();
  if (msg.isRequest()) {
    services_.stats.requests++;
    if (!msg.canBuildResponse()) {
      logRateLimited("request without Via/From/To/Call-ID/CSeq from " + from.toString() + " dropped");
      return;
    }
    Peer replyTo = fixVia(msg, from);
    txn_.receive(msg, replyTo, now);
  } else {
    services_.stats.responsesIn++;
    // A response to a branch another worker created (it came on a connection or a socket of
    // this worker) goes to that worker, which holds the client transaction.
    if (msg.hasVia() && msg.topVia().branch) {
      int owner = proxy::workerOfBranch(*msg.topVia().branch);
      if (owner >= 0 && static_cast<unsigned>(owner) != index_ && static_cast<std::size_t>(owner) < siblings_.size()) {
        // The parsed message itself goes: its text is copied out of this worker's read buffer
        // and its views follow the copy, so that worker neither serializes nor parses again.
        auto moved = std::make_unique<sip::Message>(std::move(msg));
        moved->ownText();
        WorkerCore* target = siblings_[static_cast<std::size_t>(owner)];
        asio::post(target->io_, [target, moved = std::move(moved), from] { target->receiveDispatched(*moved, from); });
        return;
      }
    }
    txn_.receive(msg, from, now);
  }
}

void WorkerCore::receiveDispatched(sip::Message& msg, const Peer& from) {
  currentSource_ = from;
  txn_.receive(msg, from, transaction::Clock::now());
}

void WorkerCore::onInvalid(sip::Message& partial, const sip::ParseError& error, const Peer& from) {
  services_.stats.invalidMessages++;
  std::string reason = error.reasonPhrase();
  logRateLimited("invalid message from " + from.toString() + ": " + std::to_string(error.status()) + " " + reason);
  // Never answer an ACK or a response. A request is answered whenever the answer can be routed:
  // on its connection, or over UDP by its (parsed) top Via, else to the source address. The
  // response copies Via, From, To, Call-ID and CSeq as they were written, even where one of them
  // is the bad header (RFC 4475 §3.1.2: a 400 for each of these requests).
  if (!partial.isRequest() || partial.method() == sip::Method::Ack || partial.methodText().empty()) return;
  if (partial.count(sip::HeaderId::Via) == 0 && !transport::isReliable(from.transport)) return;
  Peer replyTo = partial.hasVia() ? fixVia(partial, from) : from;
  sip::Message resp = makeResponse(partial, error.status(), reason);
  std::string bytes;
  sip::serialize(resp, bytes);
  if (transport_.send(replyTo, bytes)) services_.stats.responsesSent[static_cast<std::size_t>(error.status())]++;
}

bool WorkerCore::send(const Peer& to, std::string_view bytes) {
  if (spdlog::should_log(spdlog::level::trace)) spdlog::trace("worker {} sends to {}:\n{}", index_, to.toString(), bytes);
  if (to.transport == TransportKind::Tls && to.connectionId == 0) {
    // A new TLS connection to a destination found by name checks that name (RFC 5922).
    auto it = tlsNames_.find(to.hostPort());
    if (it != tlsNames_.end()) return transport_.send(to, bytes, it->second);
  }
  return transport_.send(to, bytes);
}

// ---- responses ---------------------------------------------------------------------------------

sip::Message WorkerCore::makeResponse(const sip::Message& req, int status, std::string_view reason) {
  sip::Message resp;
  makeResponseInto(resp, req, status, reason);
  return resp;
}

void WorkerCore::makeResponseInto(sip::Message& out, const sip::Message& req, int status, std::string_view reason) {
  std::array<char, 16> tag{};
  std::string_view toTag;
  if (answersStatelessly(req, status)) {
    toTag = services_.statelessTags.write(req, tag);
  } else if (status > 100) {
    toTag = writeTag(tag);
  }
  out.assignResponseTo(req, status, reason, toTag);
  out.addHeader("Server", services_.settings.serverHeader);
}

bool WorkerCore::answersStatelessly(const sip::Message& req, int status) const {
  // RFC 3261 §8.2.7. Challenges: a flood without credentials must leave no state. Every other
  // final of ours to an INVITE is a refusal before any forwarding (404, 403, 488, 482...): kept
  // statefully over UDP it would be sent again and again by Timer G until Timer H, 11 times in
  // 32 s, to whatever source address the INVITE claimed, a reflection amplifier. The caller's
  // own INVITE retransmissions make a stateless final just as reliable, as long as a
  // retransmission gets the same answer: not after a digest check, whose nonce count a
  // retransmission would replay (it would get 407). Such a refusal went to an authenticated
  // user, not to a forged address, and keeps its transaction.
  if (status == 401 || status == 407) return true;
  // A 487 ends a cancelled INVITE: its transaction must stay to absorb that INVITE's
  // retransmissions, which would otherwise be taken for a new call.
  return status >= 300 && status != 487 && req.method() == sip::Method::Invite && !credentialsUsed_;
}

void WorkerCore::respond(TransactionId id, const sip::Message& response) {
  const int s = response.statusCode();  // read first: `response` may be a scratch the call reuses
  const std::optional<std::string_view> tag = response.to().tag();
  // A response made statelessly (its To tag is the one StatelessTags gives its request) leaves the
  // transaction at once, unless the transaction answered before (an automatic 100 Trying to a
  // slow INVITE): then it keeps to it.
  const bool sent = (tag && services_.statelessTags.matches(response, *tag) && txn_.respondStatelessly(id, response)) ||
                    txn_.respond(id, response, transaction::Clock::now());
  if (sent && s >= 100 && s < 700) services_.stats.responsesSent[static_cast<std::size_t>(s)]++;
}

void WorkerCore::reply(TransactionId id, const sip::Message& req, int status, std::string_view reason) {
  sip::Message resp = makeResponse(req, status, reason);
  if (status == 405 || status == 501) resp.addHeader("Allow", kAllow);
  respond(id, resp);
}

void WorkerCore::challenge(TransactionId id, const sip::Message& req, std::string_view realm, bool stale) {
  // The first answer to every REGISTER: built in reused storage (the message's arena, the
  // challenge strings), since respond() keeps only the serialized bytes.
  sip::Message& resp = challengeResponse_;
  makeResponseInto(resp, req, 401);
  services_.authenticator.challenges(realm, stale, std::chrono::system_clock::now(), challengeValues_);
  for (const std::string& c : challengeValues_) resp.addHeader("WWW-Authenticate", c);
  services_.stats.authChallenges++;
  respond(id, resp);
}

// ---- requests ----------------------------------------------------------------------------------

bool WorkerCore::requestIsForUs(const sip::Message& req) const {
  const sip::Uri& u = req.requestUri();
  return u.isSip() && u.user.empty() && services_.domainFor(u.hostBare()) != nullptr;
}

bool WorkerCore::isLocalUri(const sip::Uri& uri) {
  if (!uri.isSip() || services_.domainFor(uri.hostBare()) == nullptr) return false;
  // One of our domains, on any port; one of our host names or addresses only on one of our ports
  // (a phone on this host listens on another port of the same address).
  if (!uri.hasPort) return true;
  for (const Domain& d : services_.settings.domains) {
    if (sip::iequals(d.name, uri.hostBare())) return true;
  }
  for (std::size_t l = 0; l < transport_.listeners().size(); ++l) {
    if (transport_.localPort(l) == uri.port) return true;
  }
  return false;
}

bool WorkerCore::resolve(const sip::Uri& uri, Peer& out) {
  if (!uri.isSip()) return false;
  TransportKind kind = uri.scheme == sip::UriScheme::Sips ? TransportKind::Tls : TransportKind::Udp;
  if (auto t = uri.param("transport")) {
    if (!transport::parseTransportName(*t, kind)) return false;
  }
  transport::IpAddress address;
  // RFC 3263 by DNS (NAPTR/SRV/A) is not done yet: a numeric host, or one of our own names.
  if (!transport::IpAddress::parse(uri.hostBare(), address)) return false;
  auto listener = transport_.listenerFor(kind, address.v6);
  if (!listener) return false;
  out = Peer{};
  out.transport = kind;
  out.address = address;
  out.port = uri.hasPort ? uri.port : (kind == TransportKind::Tls || kind == TransportKind::Wss ? 5061 : 5060);
  out.listener = *listener;
  return true;
}

namespace {

/// A SIP URI whose host is a name (not an address literal): RFC 3263 resolves it.
bool isDnsName(const sip::Uri& uri) {
  transport::IpAddress ip;
  return uri.isSip() && !uri.hostBare().empty() && !transport::IpAddress::parse(uri.hostBare(), ip);
}

}  // namespace

void WorkerCore::onRequest(TransactionId id, sip::Message& req, const Peer& from) {
  credentialsUsed_ = false;
  // Stopping: nothing new starts, but requests within a dialog (a BYE, a re-INVITE's ACK) and a
  // CANCEL of a pending INVITE still go through while the grace period lasts, so that calls can
  // end properly.
  if (services_.draining.load(std::memory_order_relaxed) && !req.to().tag().has_value() &&
      req.method() != sip::Method::Cancel) {
    sip::Message resp = makeResponse(req, 503, "Shutting Down");
    resp.addHeader("Retry-After", "5");
    respond(id, resp);
    return;
  }
  // §16.4: our own Route entries off (and a strict router's rewrite undone) before anything looks
  // at the Request-URI. REGISTER is the registrar's whatever its Route says.
  proxy::RouteInfo routes;
  if (req.method() != sip::Method::Register) routes = proxy_.preprocessRoutes(req);
  const bool forUs = req.method() == sip::Method::Register ||
                     (requestIsForUs(req) && req.count(sip::HeaderId::Route) == 0 && !routes.flow);
  // RFC 3261 §16.3 step 3: a request that would be forwarded with Max-Forwards 0 is answered 483.
  if (!forUs && req.maxForwards() && *req.maxForwards() == 0) {
    reply(id, req, 483, "Too Many Hops");
    return;
  }
  // Every option tag the request requires must be understood: Require by the element that acts as
  // the UAS (§8.2.2.3: REGISTER, requests to the server itself), Proxy-Require by a proxy (§16.3
  // step 5). RFC 4475 §3.3.5: a proxy lists only the Proxy-Require tags in Unsupported.
  std::string unsupported;
  req.forEachValue(forUs ? sip::HeaderId::Require : sip::HeaderId::ProxyRequire, [&](std::string_view tag) {
    tag = sip::trimLws(tag);
    if (!tag.empty() && !supportedOption(tag)) {
      if (!unsupported.empty()) unsupported += ", ";
      unsupported.append(tag);
    }
    return true;
  });
  if (!unsupported.empty()) {
    sip::Message resp = makeResponse(req, 420, "Bad Extension");
    resp.addHeader("Unsupported", unsupported);
    respond(id, resp);
    return;
  }
  if (forUs) {
    switch (req.method()) {
      case sip::Method::Register: handleRegister(id, req); return;
      case sip::Method::Options: handleOptions(id, req); return;
      default: handleOther(id, req); return;
    }
  }
  routeRequest(id, req, from, routes);
}

void WorkerCore::handleOptions(TransactionId id, sip::Message& req) {
  // RFC 3261 §11.2: what the server can do. Phones send this as a keep-alive.
  sip::Message resp = makeResponse(req, 200);
  resp.addHeader("Allow", kAllow);
  resp.addHeader("Accept", "application/sdp");
  resp.addHeader("Supported", kSupported);
  respond(id, resp);
}

void WorkerCore::handleOther(TransactionId id, sip::Message& req) {
  // §8.2.1: addressed to the server itself (no user part): an unknown method is 501, a known one
  // this server does not serve as a UAS is 405.
  if (req.method() == sip::Method::Extension) {
    reply(id, req, 501, "Not Implemented");
    return;
  }
  reply(id, req, 405, "Method Not Allowed");
}

bool WorkerCore::certificateNames(std::string_view user, std::string_view domain, std::string_view realm) const {
  using Mode = CoreSettings::CertificateIdentity;
  const Mode mode = services_.settings.certificateIdentity;
  if (mode == Mode::None || !security::isSecureTransport(currentSource_.transport)) return false;
  const transport::TlsPeerIdentity* id = transport_.peerIdentity(currentSource_.connectionId);
  if (id == nullptr || !id->verified) return false;
  auto sameAddress = [&](std::string_view u, std::string_view d) {
    return u == user && sip::iequals(d, domain);
  };
  bool named = false;
  if (mode == Mode::San || mode == Mode::SanOrCn) {
    // A SIP URI (sip:alice@example.com) or an email address (alice@example.com) in subjectAltName.
    for (const std::string& uri : id->uris) {
      std::string_view v = uri;
      std::size_t colon = v.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view scheme = v.substr(0, colon);
      if (!sip::iequals(scheme, "sip") && !sip::iequals(scheme, "sips")) continue;
      v.remove_prefix(colon + 1);
      std::size_t at = v.find('@');
      if (at == std::string_view::npos) continue;
      std::string_view host = v.substr(at + 1);
      host = host.substr(0, host.find_first_of(":;?>"));
      if (sameAddress(v.substr(0, at), host)) named = true;
    }
    for (const std::string& mail : id->emails) {
      std::size_t at = mail.find('@');
      if (at != std::string::npos && sameAddress(std::string_view(mail).substr(0, at), std::string_view(mail).substr(at + 1))) {
        named = true;
      }
    }
  }
  if (!named && (mode == Mode::Cn || (mode == Mode::SanOrCn && id->uris.empty() && id->emails.empty()))) {
    // The subject CN: a bare user name (in the request's domain) or user@domain.
    std::string_view cn = id->commonName;
    std::size_t at = cn.find('@');
    named = at == std::string_view::npos ? cn == user : sameAddress(cn.substr(0, at), cn.substr(at + 1));
  }
  return named && services_.users.find(user, domain, realm).has_value();
}

bool WorkerCore::authorizeSender(TransactionId id, sip::Message& req) {
  const sip::Uri& fromUri = req.from().uri;
  const Domain* domain = fromUri.isSip() ? services_.domainFor(fromUri.hostBare()) : nullptr;
  if (domain == nullptr) return true;  // not one of our users: nothing to prove here
  // A spiral: the request comes back from this server (its Via on top, with a branch signed with
  // the server secret, sent from one of our addresses), which checked the credentials and
  // consumed them on the way out. A branch that only looks like ours proves nothing: any
  // process on this host could write one.
  if (req.topVia().branch && proxy::isSignedBranch(*req.topVia().branch, services_.flowTokens.mac()) &&
      services_.domainFor(currentSource_.address.toString()) != nullptr) {
    return true;
  }
  const std::string user = fromUri.userUnescaped();
  const std::string& domainName = domain->name;
  if (user.empty()) {
    // From names our domain but no user of it: no credentials can match it, and the digest check
    // below would take any user's.
    reply(id, req, 403, "From Names No User");
    return false;
  }
  if (certificateNames(user, domainName, domain->realm)) {
    services_.stats.certificateAuthentications++;
    return true;
  }
  auto lookup = [this, &domainName](std::string_view u, std::string_view realm) {
    return services_.users.find(u, domainName, realm);
  };
  // The authenticated user must be the one in From: nobody sends as somebody else.
  auth::AuthResult auth = services_.authenticator.verify(req, sip::HeaderId::ProxyAuthorization, domain->realm, user,
                                                         lookup, std::chrono::system_clock::now());
  auto challenge407 = [&](bool stale) {
    sip::Message resp = makeResponse(req, 407);
    for (const std::string& c : services_.authenticator.challenges(domain->realm, stale, std::chrono::system_clock::now())) {
      resp.addHeader("Proxy-Authenticate", c);
    }
    services_.stats.authChallenges++;
    respond(id, resp);
  };
  switch (auth.outcome) {
    case auth::AuthOutcome::Authenticated:
      credentialsUsed_ = true;
      // §22.3: these credentials were for us; the next hop has no use for them.
      req.removeHeader(sip::HeaderId::ProxyAuthorization);
      return true;
    case auth::AuthOutcome::NoCredentials: challenge407(false); return false;
    case auth::AuthOutcome::Stale: challenge407(true); return false;
    case auth::AuthOutcome::Rejected:
      services_.stats.authFailures++;
      logRateLimited("authentication failed for " + user + "@" + domainName + " (" + std::string(req.methodText()) +
                     ") from " + currentSource_.toString() + ": " + auth.reason);
      challenge407(false);
      return false;
    case auth::AuthOutcome::Forbidden:
      credentialsUsed_ = true;  // the nonce count was recorded before the names were compared
      services_.stats.authFailures++;
      reply(id, req, 403, "Forbidden: the From user is not the authenticated user");
      return false;
    case auth::AuthOutcome::Malformed:
      reply(id, req, 400, auth.reason.empty() ? "Bad Proxy-Authorization" : auth.reason);
      return false;
  }
  return false;
}

security::GatewayAdmission WorkerCore::currentGateway() const {
  if (currentSource_.transport != TransportKind::Tls || services_.security.settings().gatewayNames.empty()) return {};
  const transport::TlsPeerIdentity* id = transport_.peerIdentity(currentSource_.connectionId);
  if (id == nullptr || !id->verified) return {};
  return services_.security.admitGateway(id->dnsNames, id->commonName);
}

security::DomainModes WorkerCore::modesOf(const sip::Message& req) const {
  auto domainOf = [&](const sip::Uri& u) -> std::string {
    if (!u.isSip()) return {};
    const Domain* d = services_.domainFor(u.hostBare());
    return d != nullptr ? d->name : std::string(u.hostBare());
  };
  return services_.security.modesFor(domainOf(req.from().uri), domainOf(req.to().uri));
}

bool WorkerCore::checkSecurity(TransactionId id, sip::Message& req) {
  currentModes_ = {};
  if (!securityActive_) return true;  // every domain unsecured, no gateway: nothing to check
  const security::SecurityPolicy& policy = services_.security;
  const sip::Uri& fromUri = req.from().uri;
  // A request in the name of an allow-listed gateway's domain must come from that gateway: over
  // mutual TLS, with a certificate that chains to our CA and names it.
  if (fromUri.isSip()) {
    for (const std::string& g : policy.settings().gatewayNames) {
      if (!security::gatewayNameMatches(g, fromUri.hostBare())) continue;
      security::GatewayAdmission gw = currentGateway();
      if (!gw.admitted || gw.allowedName != g) {
        logRateLimited("request from " + currentSource_.toString() + " in the name of gateway " +
                       std::string(fromUri.hostBare()) + " refused: not its certificate");
        reply(id, req, 403, "Gateway Not Authenticated");
        return false;
      }
      break;
    }
  }
  currentModes_ = modesOf(req);
  if (currentModes_.effective() == security::SecurityMode::Unsecured) return true;
  security::PolicyDecision arrival = security::checkArrival(currentModes_, currentSource_.transport);
  if (!arrival.allowed()) {
    services_.stats.securityRejections++;
    reply(id, req, arrival.status, arrival.reasonPhrase);
    return false;
  }
  if (!req.body().empty()) {
    std::string_view contentType;
    if (const sip::HeaderField* c = req.find(sip::HeaderId::ContentType)) contentType = c->value;
    security::PolicyDecision media = policy.checkMedia(currentModes_, contentType, req.body());
    if (!media.allowed()) {
      services_.stats.securityRejections++;
      sip::Message resp = makeResponse(req, media.status, media.reasonPhrase);
      if (!media.warning.empty()) resp.addHeader("Warning", media.warning);
      respond(id, resp);
      return false;
    }
  }
  return true;
}

proxy::ResponseCheck WorkerCore::responseCheck() {
  if (currentModes_.effective() != security::SecurityMode::Secured) return {};
  // The SRTP rule holds for the answer too (and for an offer in a 2xx to an INVITE without one):
  // a provisional or 2xx response whose SDP is not SRTP is not passed on, and the caller gets 488.
  return [services = &services_, modes = currentModes_](const sip::Message& resp) -> proxy::Refusal {
    // Offer and answer travel in INVITE, PRACK and UPDATE transactions (RFC 3264, 3262, 3311); an
    // SDP in a 200 to OPTIONS describes capabilities, not a session.
    const sip::Method method = resp.cseq().method;
    if (method != sip::Method::Invite && method != sip::Method::Prack && method != sip::Method::Update) return {};
    std::string_view contentType;
    if (const sip::HeaderField* c = resp.find(sip::HeaderId::ContentType)) contentType = c->value;
    security::PolicyDecision d = services->security.checkMedia(modes, contentType, resp.body());
    if (d.allowed()) return {};
    services->stats.securityRejections++;
    std::string warning = d.warning;
    if (warning.empty()) {
      // A malformed answer: the caller is told in a Warning (399, RFC 3261 §20.43), not a 400 it
      // did not cause.
      warning = "399 " + services->security.settings().warnAgent + " \"Answer refused: " + d.reasonPhrase + "\"";
    }
    return {488, "Not Acceptable Here", std::move(warning)};
  };
}

bool WorkerCore::filterDepartures(TransactionId id, sip::Message& req, std::vector<proxy::Target>& targets) {
  if (currentModes_.effective() == security::SecurityMode::Unsecured) return true;
  security::PolicyDecision refused;
  std::erase_if(targets, [&](const proxy::Target& t) {
    security::PolicyDecision d = security::checkDeparture(currentModes_, t.peer.transport);
    if (d.allowed()) return false;
    refused = std::move(d);
    return true;
  });
  if (!targets.empty()) return true;
  services_.stats.securityRejections++;
  reply(id, req, refused.status != 0 ? refused.status : 403, refused.reasonPhrase);
  return false;
}

transport::SipLookup WorkerCore::lookupFor(const sip::Uri& next) const {
  transport::SipLookup lookup;
  lookup.host = std::string(next.hostBare());
  if (next.hasPort) lookup.port = next.port;
  TransportKind kind;
  if (auto t = next.param("transport"); t && transport::parseTransportName(*t, kind)) lookup.transport = kind;
  lookup.sips = next.scheme == sip::UriScheme::Sips;
  for (TransportKind k : {TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls}) {
    if (transport_.listenerFor(k, false) || transport_.listenerFor(k, true)) lookup.supported.push_back(k);
  }
  return lookup;
}

std::optional<proxy::Target> WorkerCore::targetOf(const transport::DnsTarget& d, const std::string& requestUri,
                                                  const std::string& host) {
  auto listener = transport_.listenerFor(d.transport, d.address.v6);
  if (!listener) return std::nullopt;
  proxy::Target t;
  t.peer.transport = d.transport;
  t.peer.address = d.address;
  t.peer.port = d.port;
  t.peer.listener = *listener;
  t.uri = requestUri;
  if (d.transport == TransportKind::Tls) {
    if (tlsNames_.size() > 4096) tlsNames_.clear();
    tlsNames_[t.peer.hostPort()] = host;  // the name its certificate must carry (RFC 5922)
  }
  return t;
}

void WorkerCore::forwardAfterLookup(TransactionId id, sip::Message& req, const Peer& from, const sip::Uri& next,
                                    std::string requestUri) {
  transport::SipLookup lookup = lookupFor(next);
  // The request outlives this call: keep it as bytes and parse it again when the answer is back.
  resolving_[id] = sip::toWire(req);
  const bool queued = services_.dns.resolve(
      std::move(lookup), io_,
      [this, id, from, host = std::string(next.hostBare()), requestUri = std::move(requestUri), modes = currentModes_,
       used = credentialsUsed_](std::vector<transport::DnsTarget> found) {
        auto pending = resolving_.find(id);
        if (pending == resolving_.end()) return;  // cancelled (and answered 487) meanwhile
        const std::string wire = std::move(pending->second);
        resolving_.erase(pending);
        sip::Message m;
        if (sip::parseMessage(wire, m, sip::Limits{.maxMessageSize = wire.size() + 1})) return;
        currentSource_ = from;
        currentModes_ = modes;
        credentialsUsed_ = used;
        std::vector<proxy::Target> targets;
        int q = 1000;
        for (const transport::DnsTarget& d : found) {
          std::optional<proxy::Target> t = targetOf(d, requestUri, host);
          if (!t) continue;
          t->q = std::max(q--, 1);  // RFC 3263 §4: one after the other, in order
          t->failover = true;
          targets.push_back(std::move(*t));
        }
        if (targets.empty()) {
          reply(id, m, 404, "Cannot Resolve " + host);
          return;
        }
        if (filterDepartures(id, m, targets)) {
          proxy_.forward(id, m, from, std::move(targets), transaction::Clock::now(), responseCheck());
        }
      });
  if (!queued) {
    resolving_.erase(id);
    sip::Message resp = makeResponse(req, 503, "Too Many DNS Lookups In Progress");
    resp.addHeader("Retry-After", "5");
    respond(id, resp);
  }
}

bool WorkerCore::targetForUri(const sip::Uri& uri, proxy::Target& out) {
  out = proxy::Target{};
  return resolve(uri, out.peer);
}

void WorkerCore::routeRequest(TransactionId id, sip::Message& req, const Peer& from, const proxy::RouteInfo& routes) {
  const auto now = transaction::Clock::now();
  if (proxy_.isLoop(req)) {
    reply(id, req, 482, "Loop Detected");
    return;
  }
  if (!checkSecurity(id, req)) return;
  const bool inDialog = req.to().tag().has_value();
  // A Route left after ours: the request goes there (loose routing; a strict next hop gets the
  // Request-URI rewritten, §16.6 step 7 compatibility).
  if (req.count(sip::HeaderId::Route) > 0) {
    // A next hop that is not us, in a dialog or not: without relaying, only where a dialog we
    // record-routed leads, which a verified flow token of ours in the popped Routes proves. A To
    // tag or a Route naming us is no such proof (anyone can write them).
    if (!routes.flow && !services_.settings.relay) {
      reply(id, req, 403, "Relaying Denied");
      return;
    }
    // A local user proves who it is unless a dialog we record-routed carries the request (a To
    // tag alone proves nothing).
    if (!(inDialog && routes.flow) && !authorizeSender(id, req)) return;
    std::vector<sip::NameAddr> set = req.routeSet(sip::HeaderId::Route);
    proxy::Target t;
    const bool resolved = !set.empty() && targetForUri(set.front().uri, t);
    if (!resolved && (set.empty() || !isDnsName(set.front().uri))) {
      reply(id, req, 404, "Cannot Resolve The Next Hop");
      return;
    }
    if (!set.front().uri.param("lr")) {
      // The next hop is a strict router: it wants its URI as the Request-URI, ours goes last.
      std::string next(set.front().uri.raw);
      std::string oldUri(req.requestUriText());
      req.popRoute();
      req.addHeader("Route", "<" + oldUri + ">");
      t.uri = next;
    }
    if (!resolved) {
      forwardAfterLookup(id, req, from, set.front().uri, t.uri);
      return;
    }
    std::vector<proxy::Target> targets{std::move(t)};
    if (filterDepartures(id, req, targets)) proxy_.forward(id, req, from, std::move(targets), now, responseCheck());
    return;
  }
  // The flow token of our Record-Route: back over the connection (or address) it names.
  if (routes.flow) {
    // Out of dialog, a flow token is no credential either (one seen in a Record-Route would let
    // anyone send new requests down that leg): a local user authenticates as for any request.
    if (!inDialog && !authorizeSender(id, req)) return;
    proxy::Target t;
    t.peer = *routes.flow;
    t.flow = transport::isReliable(t.peer.transport);
    std::vector<proxy::Target> targets{std::move(t)};
    if (filterDepartures(id, req, targets)) proxy_.forward(id, req, from, std::move(targets), now, responseCheck());
    return;
  }
  const sip::Uri& ruri = req.requestUri();
  if (!ruri.isSip()) {
    reply(id, req, 416, "Unsupported URI Scheme");
    return;
  }
  if (isLocalUri(ruri)) {
    const Domain* domain = services_.domainFor(ruri.hostBare());
    if (domain == nullptr || ruri.user.empty()) {
      reply(id, req, 404, "Not Found");
      return;
    }
    routeToUser(id, req, from, *domain);
    return;
  }
  // Another domain, or a device's own address (an in-dialog request after our Route).
  if (!(inDialog && routes.flow) && !services_.settings.relay) {
    reply(id, req, 403, "Relaying Denied");
    return;
  }
  if (!authorizeSender(id, req)) return;  // no flow token of ours: a To tag proves no dialog
  proxy::Target t;
  if (!targetForUri(ruri, t)) {
    if (isDnsName(ruri)) {
      forwardAfterLookup(id, req, from, ruri, {});
      return;
    }
    reply(id, req, 404, "Cannot Resolve The Request-URI");
    return;
  }
  std::vector<proxy::Target> targets{std::move(t)};
  if (filterDepartures(id, req, targets)) proxy_.forward(id, req, from, std::move(targets), now, responseCheck());
}

std::vector<proxy::Target> WorkerCore::targetsFor(std::vector<registrar::Binding> bindings) {
  std::vector<proxy::Target> targets;
  targets.reserve(bindings.size());
  for (registrar::Binding& b : bindings) {
    proxy::Target t;
    t.uri = std::move(b.contact);
    t.peer = b.received;
    t.q = b.q;
    t.flow = transport::isReliable(b.received.transport);
    if (!t.flow) {
      // Over UDP the contact is the address (RFC 3261 §16.5), unless it is a private address the
      // REGISTER did not come from: a phone behind NAT, reached where its REGISTER came from.
      sip::Uri contact;
      Peer direct;
      if (!sip::parseUri(t.uri, contact) && resolve(contact, direct) &&
          !(isPrivateAddress(direct.address) && !(direct.address == b.received.address))) {
        direct.listener = direct.transport == b.received.transport ? b.received.listener : direct.listener;
        t.peer = direct;
      } else {
        t.keepUdp = true;  // behind a NAT: no TCP connection gets in there
      }
    }
    if (!b.path.empty()) {
      // RFC 3327 §5.3: the stored Path becomes the Route set towards the contact.
      sip::ListSplitter split(b.path);
      std::string_view v;
      bool unbalanced = false;
      while (split.next(v, unbalanced)) t.routes.emplace_back(sip::trimLws(v));
    }
    targets.push_back(std::move(t));
  }
  return targets;
}

void WorkerCore::routeToUser(TransactionId id, sip::Message& req, const Peer& from, const Domain& domain) {
  const bool inDialog = req.to().tag().has_value();
  // Reached only without a flow token of ours (routeRequest takes those first): a To tag proves
  // no dialog, so a local user authenticates in or out of one.
  if (!authorizeSender(id, req)) return;
  std::string user = req.requestUri().userUnescaped();
  // A GRUU (RFC 5627 §5.1) names one instance of the user: public (the AOR with gr=<instance>)
  // or temporary (tgruu.<sealed AOR and instance>;gr).
  std::optional<std::string> instance;
  if (auto gr = req.requestUri().param("gr")) {
    auto target = services_.gruus.resolve(user, domain.name, *gr);
    if (!target) {
      reply(id, req, 404, "Unknown GRUU");
      return;
    }
    user = target->aor.substr(0, target->aor.rfind('@'));
    instance = std::move(target->instance);
  }
  if (!services_.users.exists(user, domain.name)) {
    reply(id, req, 404, "Not Found");
    return;
  }
  if (req.method() == sip::Method::Message) {
    // RFC 3428 §7: over UDP a MESSAGE stays within 1300 bytes; over TCP the configured limit.
    const std::size_t limit = currentSource_.transport == TransportKind::Udp ? 1300 : services_.settings.maxMessageBody;
    if (req.body().size() > limit) {
      reply(id, req, 413, "Message Body Too Large (limit " + std::to_string(limit) + " bytes over " +
                              std::string(transport::transportName(currentSource_.transport)) + ")");
      return;
    }
  }
  const std::string aor = user + "@" + domain.name;
  std::vector<registrar::Binding> bindings = services_.location.lookup(aor, unixSeconds());
  if (instance) {
    std::erase_if(bindings, [&](const registrar::Binding& b) { return b.instance != *instance; });
    if (bindings.empty()) {
      reply(id, req, 480, "Temporarily Unavailable (the GRUU's instance is not registered)");
      return;
    }
  }
  if (bindings.empty()) {
    if (req.method() == sip::Method::Message && !inDialog) {
      storeOffline(id, req, aor);
      return;
    }
    reply(id, req, 480, "Temporarily Unavailable");
    return;
  }
  std::vector<proxy::Target> targets = targetsFor(std::move(bindings));
  if (filterDepartures(id, req, targets)) proxy_.forward(id, req, from, std::move(targets), transaction::Clock::now(), responseCheck());
}

void WorkerCore::handleRegister(TransactionId id, sip::Message& req) {
  // RFC 3261 §10.3 step 1: the registrar serves the domain of the Request-URI.
  const sip::Uri& ruri = req.requestUri();
  if (!ruri.isSip()) {
    reply(id, req, 416, "Unsupported URI Scheme");
    return;
  }
  if (services_.domainFor(ruri.hostBare()) == nullptr) {
    reply(id, req, 403, "Domain Not Served Here");
    return;
  }
  // §10.3 steps 3-5: authenticate, then the To URI gives the address-of-record, which the
  // authenticated user must own.
  const sip::Uri& toUri = req.to().uri;
  if (!toUri.isSip() || toUri.user.empty()) {
    reply(id, req, 400, "Bad To: the address-of-record needs a sip or sips URI with a user");
    return;
  }
  const Domain* domain = services_.domainFor(toUri.hostBare());
  if (domain == nullptr) {
    reply(id, req, 403, "Domain Not Served Here");
    return;
  }
  // A sip-secured or secured domain registers its users over TLS only (their requests must
  // arrive over TLS, and a binding over UDP or TCP could not be reached under the mode).
  {
    security::DomainModes modes = services_.security.modesFor(domain->name, domain->name);
    security::PolicyDecision arrival = security::checkArrival(modes, currentSource_.transport);
    if (!arrival.allowed()) {
      services_.stats.securityRejections++;
      reply(id, req, arrival.status, arrival.reasonPhrase);
      return;
    }
  }
  const std::string user = toUri.userUnescaped();
  const std::string& domainName = domain->name;
  auto lookup = [this, &domainName](std::string_view u, std::string_view realm) {
    return services_.users.find(u, domainName, realm);
  };
  auth::AuthResult auth;
  if (certificateNames(user, domainName, domain->realm)) {
    // A verified client certificate that names this user stands in for the digest ([tls] identity).
    auth.outcome = auth::AuthOutcome::Authenticated;
    services_.stats.certificateAuthentications++;
  } else {
    auth = services_.authenticator.verify(req, sip::HeaderId::Authorization, domain->realm, user, lookup,
                                          std::chrono::system_clock::now());
  }
  switch (auth.outcome) {
    case auth::AuthOutcome::Authenticated: break;
    case auth::AuthOutcome::NoCredentials: challenge(id, req, domain->realm, false); return;
    case auth::AuthOutcome::Stale: challenge(id, req, domain->realm, true); return;
    case auth::AuthOutcome::Rejected:
      services_.stats.authFailures++;
      logRateLimited("authentication failed for " + user + "@" + domainName + " from " + currentSource_.toString() +
                     ": " + auth.reason);
      challenge(id, req, domain->realm, false);
      return;
    case auth::AuthOutcome::Forbidden:
      services_.stats.authFailures++;
      reply(id, req, 403, auth.reason.empty() ? "Forbidden" : auth.reason);
      return;
    case auth::AuthOutcome::Malformed:
      reply(id, req, 400, auth.reason.empty() ? "Bad Authorization" : auth.reason);
      return;
  }

  const std::string aor = user + "@" + domainName;
  const std::int64_t now = unixSeconds();
  std::uint32_t pendingSlot = kNoPendingRegister;
  registrar::RegisterResult result = services_.registrar.process(
      req, aor, currentSource_, now, [&](const std::string& a, const std::vector<registrar::Binding>& bindings) {
        // §10.3 step 8 / ARCHITECTURE.md: the 200 OK leaves only after the change is durable. It
        // waits in a reused slot; the store's callback names the slot.
        pendingSlot = acquirePendingRegister();
        services_.pendingWrites++;
        services_.store.replaceBindings(a, bindings, *this, pendingSlot);
      });
  if (result.status != 200) {
    sip::Message resp = makeResponse(req, result.status, result.reason);
    if (result.status == 423) resp.addHeader("Min-Expires", std::to_string(result.minExpires));
    respond(id, resp);
    return;
  }
  PendingRegister* pending = pendingSlot != kNoPendingRegister ? pendingRegisters_[pendingSlot].get() : nullptr;
  sip::Message& resp = pending != nullptr ? pending->response : challengeResponse_;
  makeResponseInto(resp, req, 200);
  bool uaSupportsPath = false;
  bool uaSupportsGruu = false;
  req.forEachValue(sip::HeaderId::Supported, [&](std::string_view tag) {
    tag = sip::trimLws(tag);
    uaSupportsPath = uaSupportsPath || sip::iequals(tag, "path");
    uaSupportsGruu = uaSupportsGruu || sip::iequals(tag, "gruu");
    return true;
  });
  // RFC 5627 §5.2: a UA that supports GRUU gets a pub-gruu and a temp-gruu per instance.
  registrar::Registrar::addContacts(resp, result.current, now, uaSupportsGruu ? &services_.gruus : nullptr);
  // RFC 5626 §6: a REGISTER that set up an outbound flow (instance and reg-id) is answered with
  // Require: outbound — unless an edge proxy on the Path lacks outbound (no "ob" on the first Path
  // URI), in which case the reg-id was only stored and no flow is promised.
  bool outboundFlow = false;
  for (const registrar::Binding& b : result.current) {
    if (b.regId != 0 && !b.instance.empty() && b.callId == req.callId()) outboundFlow = true;
  }
  if (outboundFlow && req.count(sip::HeaderId::Path) > 0) {
    std::vector<sip::NameAddr> path = req.routeSet(sip::HeaderId::Path);
    outboundFlow = !path.empty() && path.front().uri.param("ob").has_value();
  }
  if (outboundFlow) resp.addHeader("Require", "outbound");
  resp.addHeader("Supported", kSupported);
  // RFC 3327 §5.3: the registrar returns the Path it stored to a UA that supports Path.
  if (uaSupportsPath) {
    req.forEachValue(sip::HeaderId::Path, [&](std::string_view v) {
      resp.addHeader("Path", sip::trimLws(v));
      return true;
    });
  }
  resp.addHeader("Date", currentSipDate());
  if (pending != nullptr) {
    pending->id = id;
    pending->ready = true;
    pending->hasBindings = !result.current.empty();
    pending->aor = aor;
    pending->written = std::move(result.current);
    return;  // answered when the store commits
  }
  services_.stats.registrations++;
  respond(id, resp);
  if (!result.current.empty()) maybeDeliverOffline(aor);
}

std::uint32_t WorkerCore::acquirePendingRegister() {
  if (freePendingRegisters_.empty()) {
    pendingRegisters_.push_back(std::make_unique<PendingRegister>());
    return static_cast<std::uint32_t>(pendingRegisters_.size() - 1);
  }
  std::uint32_t slot = freePendingRegisters_.back();
  freePendingRegisters_.pop_back();
  return slot;
}

void WorkerCore::finished(std::vector<storage::SqliteStore::FinishedChange> changes) {
  // The changes are destroyed on this worker's thread, which allocated them.
  asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), changes = std::move(changes)] {
    services_.pendingWrites -= static_cast<std::int64_t>(changes.size());
    if (alive.expired()) return;
    for (const storage::SqliteStore::FinishedChange& c : changes) {
      registerCommitted(static_cast<std::uint32_t>(c.token), c.ok);
    }
  });
}

void WorkerCore::registerCommitted(std::uint32_t slot, bool ok) {
  PendingRegister& p = *pendingRegisters_[slot];
  if (!p.ready) {
    // Cannot happen (the registrar persists only changes it answers 200); the slot is freed.
  } else if (!ok) {
    services_.stats.storeFailures++;
    spdlog::error("store write failed; REGISTER answered 500");
    p.response.setStatus(500, "Store Failure");
    p.response.removeHeader(sip::HeaderId::Contact);
    p.response.addHeader("Retry-After", "5");
    respond(p.id, p.response);
    // The 500 says the REGISTER changed nothing, so the memory goes back to what the disk holds
    // (read after every write queued before; unless the AOR changed again meanwhile, in which case
    // that change's write carries it and its outcome decides).
    services_.store.committedBindings(
        p.aor, [&location = services_.location, aor = p.aor,
                written = std::move(p.written)](std::optional<std::vector<registrar::Binding>> committed) {
          if (!committed) {
            spdlog::error(
                "bindings of {} not read back after the failed write: the memory keeps the refused change "
                "until the next REGISTER",
                aor);
            return;
          }
          if (location.restoreIfUnchanged(aor, written, std::move(*committed))) {
            spdlog::info("bindings of {} set back to the stored ones after the failed write", aor);
          }
        });
  } else {
    services_.stats.registrations++;
    respond(p.id, p.response);
    if (p.hasBindings) maybeDeliverOffline(p.aor);
  }
  p.ready = false;
  p.hasBindings = false;
  p.written.clear();
  freePendingRegisters_.push_back(slot);
}

void WorkerCore::onCancel(TransactionId cancelId, TransactionId inviteId, sip::Message& cancel, const Peer&) {
  if (proxy_.onCancel(cancelId, inviteId, cancel, transaction::Clock::now())) return;
  if (auto it = inviteId != 0 ? resolving_.find(inviteId) : resolving_.end(); it != resolving_.end()) {
    // §9.2: the INVITE waits for an RFC 3263 lookup, nothing was forwarded yet: 200 for the
    // CANCEL, 487 for the INVITE, and the lookup's answer is dropped.
    const std::string wire = std::move(it->second);
    resolving_.erase(it);
    reply(cancelId, cancel, 200);
    sip::Message invite;
    if (!sip::parseMessage(wire, invite, sip::Limits{.maxMessageSize = wire.size() + 1})) {
      reply(inviteId, invite, 487, "Request Terminated");
    }
    return;
  }
  // §9.2: no matching INVITE transaction -> 481. One the proxy does not hold was answered by the
  // server itself already: the CANCEL gets 200 and changes nothing.
  if (inviteId == 0) {
    reply(cancelId, cancel, 481, "Call/Transaction Does Not Exist");
  } else {
    reply(cancelId, cancel, 200);
  }
}

void WorkerCore::onAck(sip::Message& ack, const Peer& from) {
  // The ACK for a final we sent statelessly (answersStatelessly): it ends here, Route or not.
  if (const std::optional<std::string_view> tag = ack.to().tag(); tag && services_.statelessTags.matches(ack, *tag)) {
    services_.stats.statelessAcks++;
    return;
  }
  // An ACK for a 2xx (or a stray one): forwarded without a transaction, where the INVITE's
  // Record-Route leads (§16.11; RFC 6026 §7.1). Never answered.
  proxy::RouteInfo routes = proxy_.preprocessRoutes(ack);
  proxy::Target t;
  // Where a dialog we record-routed leads (a verified flow token of ours), or anywhere when
  // relaying: the same rule as for requests (routeRequest).
  if (!routes.flow && !services_.settings.relay) return;
  if (ack.maxForwards() && *ack.maxForwards() == 0) return;
  std::optional<sip::Uri> lookup;  // the next hop is a name: resolved (RFC 3263) once checked
  if (ack.count(sip::HeaderId::Route) > 0) {
    // As routeRequest does: loose or strict next hop.
    std::vector<sip::NameAddr> set = ack.routeSet(sip::HeaderId::Route);
    if (set.empty()) return;
    const sip::Uri next = set.front().uri;
    const bool resolved = targetForUri(next, t);
    if (!resolved && !isDnsName(next)) return;
    if (!next.param("lr")) {
      std::string nextText(next.raw);
      std::string oldUri(ack.requestUriText());
      ack.popRoute();
      ack.addHeader("Route", "<" + oldUri + ">");
      t.uri = nextText;
    }
    if (!resolved) lookup = next;
  } else if (routes.flow) {
    t.peer = *routes.flow;
  } else if (!routes.poppedOwn) {
    return;  // not routed through us: not ours to forward
  } else if (!targetForUri(ack.requestUri(), t)) {
    return;
  }
  if (securityActive_ && !ack.body().empty()) {
    // The answer to an offer made in a 2xx (late offer) travels in the ACK: in a secured domain it
    // must be SRTP like any other. An ACK cannot be refused, so it goes no further, and the proxy
    // ends the callee's dialog with a BYE. (It cannot end the caller's: it knows no Contact of the
    // caller. The caller gets no media and ends the call itself.)
    security::DomainModes modes = modesOf(ack);
    if (modes.effective() == security::SecurityMode::Secured) {
      std::string_view contentType;
      if (const sip::HeaderField* c = ack.find(sip::HeaderId::ContentType)) contentType = c->value;
      security::PolicyDecision d = services_.security.checkMedia(modes, contentType, ack.body());
      if (!d.allowed()) {
        services_.stats.securityRejections++;
        const bool bye = proxy_.endDialogOfRefusedAck(ack, t, transaction::Clock::now());
        logRateLimited("ACK from " + from.toString() + " (Call-ID " + std::string(ack.callId()) +
                       ") not forwarded: its SDP answer is refused (" +
                       (d.warning.empty() ? d.reasonPhrase : d.warning) + "); the callee's dialog is " +
                       (bye ? "ended with BYE" : "already ended"));
        return;
      }
    }
  }
  if (lookup) {
    forwardAckAfterLookup(ack, *lookup, t.uri);
    return;
  }
  proxy_.forwardStateless(ack, t);
}

void WorkerCore::forwardAckAfterLookup(sip::Message& ack, const sip::Uri& next, std::string requestUri) {
  transport::SipLookup lookup = lookupFor(next);
  // An ACK has no transaction to wait in: its bytes wait in the callback (a lost lookup loses
  // the ACK, and the callee's 2xx retransmission brings the caller's ACK again).
  services_.dns.resolve(std::move(lookup), io_,
                        [this, wire = sip::toWire(ack), requestUri = std::move(requestUri),
                         host = std::string(next.hostBare())](std::vector<transport::DnsTarget> found) {
                          sip::Message m;
                          if (sip::parseMessage(wire, m, sip::Limits{.maxMessageSize = wire.size() + 1})) return;
                          for (const transport::DnsTarget& d : found) {
                            if (std::optional<proxy::Target> t = targetOf(d, requestUri, host)) {
                              proxy_.forwardStateless(m, *t);
                              return;
                            }
                          }
                        });
}

void WorkerCore::onResponse(TransactionId id, sip::Message& response) {
  if (proxy_.onResponse(id, response, transaction::Clock::now())) return;
  onDeliveryResponse(id, response.statusCode());
}

void WorkerCore::onStrayResponse(sip::Message& response, const Peer&) { proxy_.onStrayResponse(response); }

void WorkerCore::onClientFailure(TransactionId id, bool timeout) {
  if (proxy_.onClientFailure(id, timeout, transaction::Clock::now())) return;
  if (onDeliveryResponse(id, timeout ? 408 : 503)) return;
  spdlog::debug("client transaction {} failed ({})", id, timeout ? "timeout" : "transport");
}

void WorkerCore::onServerFailure(TransactionId id, bool timeout) {
  if (proxy_.onServerFailure(id)) return;
  spdlog::debug("server transaction {} failed ({})", id, timeout ? "no ACK" : "transport");
}

// ---- offline messages (RFC 3428 store-and-forward) ----------------------------------------------

void WorkerCore::storeOffline(TransactionId id, sip::Message& req, const std::string& aor) {
  if (services_.offline.settings().maxPerUser == 0) {
    reply(id, req, 480, "Temporarily Unavailable");
    return;
  }
  storage::StoredMessage m;
  m.aor = aor;
  if (const sip::HeaderField* f = req.find(sip::HeaderId::From)) m.sender = std::string(f->value);
  m.fromUri = std::string(req.from().uri.raw);
  if (const sip::HeaderField* t = req.find(sip::HeaderId::To)) m.toHeader = std::string(t->value);
  m.callId = std::string(req.callId());
  m.cseq = req.cseq().number;
  if (const sip::HeaderField* c = req.find(sip::HeaderId::ContentType)) m.contentType = std::string(c->value);
  m.body = std::string(req.body());
  // The answer waits for the disk: the 202 promises the message will not be lost.
  auto response = std::make_shared<sip::Message>(makeResponse(req, 202, "Accepted"));
  std::weak_ptr<bool> alive = alive_;
  services_.pendingWrites++;
  services_.offline.store(std::move(m), [this, id, response, alive, aor](im::OfflineMessages::StoreResult r) {
    asio::post(io_, [this, id, response, alive, r, aor] {
      services_.pendingWrites--;
      if (alive.expired()) return;
      switch (r) {
        case im::OfflineMessages::StoreResult::Stored:
          services_.stats.offlineStored++;
          // The recipient may have registered while the message was being written (its REGISTER
          // found nothing waiting yet): deliver now rather than at its next registration.
          respond(id, *response);
          if (!services_.location.lookup(aor, unixSeconds()).empty()) maybeDeliverOffline(aor);
          return;
        case im::OfflineMessages::StoreResult::Full:
          response->setStatus(486, "Busy Here: the offline message store of this user is full");
          break;
        case im::OfflineMessages::StoreResult::Failed:
          response->setStatus(500, "Offline Message Not Stored");
          response->addHeader("Retry-After", "5");
          break;
      }
      respond(id, *response);
    });
  });
}

struct WorkerCore::Delivery {
  std::string aor;
  std::vector<storage::StoredMessage> messages;
  std::size_t next = 0;
  transaction::TransactionId client = 0;
};

void WorkerCore::maybeDeliverOffline(const std::string& aor, std::int64_t afterId) {
  if (!services_.offline.beginDelivery(aor)) return;
  std::weak_ptr<bool> alive = alive_;
  services_.offline.pending(aor, [this, alive, aor, afterId](std::vector<storage::StoredMessage> messages) {
    asio::post(io_, [this, alive, aor, afterId, messages = std::move(messages)]() mutable {
      if (alive.expired()) {
        services_.offline.finishDelivery(aor);
        return;
      }
      auto d = std::make_shared<Delivery>();
      d->aor = aor;
      // A follow-up round takes only what came after the round before: a message that round
      // delivered but could not delete (a failing disk) waits for the next registration, instead
      // of going out again and again.
      std::erase_if(messages, [&](const storage::StoredMessage& m) { return m.id <= afterId; });
      d->messages = std::move(messages);
      deliverNext(std::move(d));
    });
  });
}

void WorkerCore::deliverNext(std::shared_ptr<Delivery> d) {
  if (d->next >= d->messages.size()) {
    deliveryDone(d, true);
    return;
  }
  std::vector<proxy::Target> targets = targetsFor(services_.location.lookup(d->aor, unixSeconds()));
  const storage::StoredMessage& m = d->messages[d->next];
  if (securityActive_ && !targets.empty()) {
    // A sip-secured or secured domain (the sender's or the recipient's): delivered over TLS or
    // WSS only, as a live MESSAGE would be forwarded.
    security::DomainModes modes = offlineModes(m, d->aor);
    std::erase_if(targets,
                  [&](const proxy::Target& t) { return !security::checkDeparture(modes, t.peer.transport).allowed(); });
    if (targets.empty()) {
      // This one waits for a binding over TLS; the messages after it need not.
      logRateLimited("offline message for " + d->aor +
                     " kept: its domain security mode needs TLS and no binding of the user is over TLS or WSS");
      ++d->next;
      deliverNext(d);
      return;
    }
  }
  if (targets.empty()) {
    deliveryDone(d, false);  // gone again: the rest waits for the next registration
    return;
  }
  const proxy::Target& t = targets.front();
  sip::Message req = sip::Message::request("MESSAGE", t.uri);
  req.pushVia("SIP/2.0/" + std::string(transport::transportName(t.peer.transport)) + " " +
              transport_.localHostPort(t.peer) +
              ";branch=" + proxy::newProxyBranch(index_, "0000000000000000", services_.flowTokens.mac()));
  for (const std::string& r : t.routes) req.addHeader("Route", r);
  req.addHeader("Max-Forwards", "70");
  req.addHeader("From", m.sender);
  req.addHeader("To", m.toHeader);
  req.addHeader("Call-ID", m.callId);
  // The sender's CSeq, so that (Call-ID, From tag, CSeq) is its request's; messages stored before
  // the CSeq was kept are numbered in order.
  req.addHeader("CSeq", std::to_string(m.cseq != 0 ? m.cseq : d->next + 1) + " MESSAGE");
  // RFC 3428 §4 / RFC 3261 §20.17: when the message was sent, not when it is delivered.
  req.addHeader("Date", sipDate(static_cast<std::time_t>(m.receivedAt)));
  if (!m.contentType.empty()) req.addHeader("Content-Type", m.contentType);
  req.addHeader("Content-Length", std::to_string(m.body.size()));
  req.setBody(m.body);
  d->client = txn_.sendRequest(req, t.peer, transaction::Clock::now(), !t.keepUdp, t.flow);
  if (d->client == 0) {
    deliveryDone(d, false);
    return;
  }
  deliveries_[d->client] = d;
}

bool WorkerCore::onDeliveryResponse(TransactionId id, int status) {
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return false;
  if (status < 200) return true;
  std::shared_ptr<Delivery> d = it->second;
  deliveries_.erase(it);
  if (status >= 300 && temporaryRefusal(status)) {
    logRateLimited("offline message for " + d->aor + " not delivered (" + std::to_string(status) +
                   "); kept for the next registration");
    deliveryDone(d, false);
    return true;
  }
  if (status >= 300) {
    // The recipient refused this message for good (415, 488, 603...): sending it again at every
    // registration would get the same answer and hold back every message after it. It is dropped
    // and the next one goes.
    logRateLimited("offline message for " + d->aor + " from " + d->messages[d->next].fromUri + " refused with " +
                   std::to_string(status) + " by the recipient; dropped");
    services_.offline.remove(d->messages[d->next].id, d->aor);
    services_.stats.offlineRefused++;
    ++d->next;
    deliverNext(d);
    return true;
  }
  // Delivered: only now is it removed (RFC 3428 store-and-forward; nothing acknowledged is lost).
  services_.offline.remove(d->messages[d->next].id, d->aor);
  services_.stats.offlineDelivered++;
  ++d->next;
  deliverNext(d);
  return true;
}

void WorkerCore::deliveryDone(std::shared_ptr<Delivery> d, bool delivered) {
  services_.offline.finishDelivery(d->aor);
  // Messages stored during this round were not in its read: another round takes them (it ends at
  // once, reading nothing, when none came).
  if (delivered && !d->messages.empty()) maybeDeliverOffline(d->aor, d->messages.back().id);
}

bool WorkerCore::temporaryRefusal(int status) {
  // RFC 3261 §21: the recipient cannot take it now, but may later (a timeout or a transport
  // failure is reported as 408 or 503).
  switch (status) {
    case 408:  // Request Timeout
    case 430:  // Flow Failed (RFC 5626)
    case 480:  // Temporarily Unavailable
    case 482:  // Loop Detected: also what a UA answers a retry while its transaction for the
               // previous attempt (same Call-ID, From tag and CSeq) lives (§8.2.2.2)
    case 486:  // Busy Here
    case 491:  // Request Pending
    case 600:  // Busy Everywhere
      return true;
    case 501:  // Not Implemented: a UA without MESSAGE
    case 505:  // Version Not Supported
    case 513:  // Message Too Large
      return false;
    default: return status >= 500 && status < 600;
  }
}

security::DomainModes WorkerCore::offlineModes(const storage::StoredMessage& m, const std::string& aor) const {
  auto domainOf = [&](std::string_view host) -> std::string {
    const Domain* d = services_.domainFor(host);
    return d != nullptr ? d->name : std::string(host);
  };
  std::string caller;
  sip::Uri from;
  if (sip::parseUri(m.fromUri, from) == nullptr && from.isSip()) caller = domainOf(from.hostBare());
  const std::size_t at = aor.rfind('@');
  return services_.security.modesFor(caller, domainOf(at == std::string::npos ? aor : aor.substr(at + 1)));
}

}  // namespace sipwarden::server
