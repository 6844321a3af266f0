#include "server/worker_core.hpp"

#include <spdlog/spdlog.h>

#include <ctime>
#include <random>

#include "registrar/registrar.hpp"
#include "server/wall_clock.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::server {

namespace asio = boost::asio;
using transaction::TransactionId;
using transport::Peer;
using transport::TransportKind;

namespace {

constexpr std::string_view kAllow = "REGISTER, OPTIONS";
constexpr std::string_view kSupported = "path";
constexpr std::chrono::milliseconds kTick{10};

/// A To tag (RFC 3261 §19.3: at least 32 bits of randomness).
std::string newTag() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t v = rng();
  std::string t(16, '0');
  for (int i = 15; i >= 0; --i) {
    t[static_cast<std::size_t>(i)] = kHex[v & 15];
    v >>= 4;
  }
  return t;
}

/// SIP-date (RFC 3261 §20.17), e.g. "Sun, 22 Nov 2026 10:00:00 GMT".
std::string sipDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

bool supportedOption(std::string_view tag) { return sip::iequals(tag, "path"); }

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
      ticker_(io) {}

WorkerCore::~WorkerCore() { *alive_ = false; }

void WorkerCore::start() {
  transport_.start();
  tick();
}

void WorkerCore::tick() {
  txn_.advance(transaction::Clock::now());
  ticker_.expires_after(kTick);
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
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
  // Rebuild the top Via with received (and a filled rport, RFC 3581 §4).
  std::string text;
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
    txn_.receive(msg, from, now);
  }
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

bool WorkerCore::send(const Peer& to, std::string_view bytes) { return transport_.send(to, bytes); }

// ---- responses ---------------------------------------------------------------------------------

sip::Message WorkerCore::makeResponse(const sip::Message& req, int status, std::string_view reason) {
  sip::Message resp = sip::Message::responseTo(req, status, reason, status > 100 ? std::string_view(newTag()) : "");
  resp.addHeader("Server", services_.settings.serverHeader);
  return resp;
}

void WorkerCore::respond(TransactionId id, const sip::Message& response) {
  if (txn_.respond(id, response, transaction::Clock::now())) {
    int s = response.statusCode();
    if (s >= 100 && s < 700) services_.stats.responsesSent[static_cast<std::size_t>(s)]++;
  }
}

void WorkerCore::reply(TransactionId id, const sip::Message& req, int status, std::string_view reason) {
  sip::Message resp = makeResponse(req, status, reason);
  if (status == 405 || status == 501) resp.addHeader("Allow", kAllow);
  respond(id, resp);
}

void WorkerCore::challenge(TransactionId id, const sip::Message& req, std::string_view realm, bool stale) {
  sip::Message resp = makeResponse(req, 401);
  for (const std::string& c : services_.authenticator.challenges(realm, stale, std::chrono::system_clock::now())) {
    resp.addHeader("WWW-Authenticate", c);
  }
  services_.stats.authChallenges++;
  respond(id, resp);
}

// ---- requests ----------------------------------------------------------------------------------

bool WorkerCore::requestIsForUs(const sip::Message& req) const {
  const sip::Uri& u = req.requestUri();
  return u.isSip() && u.user.empty() && services_.domainFor(u.hostBare()) != nullptr;
}

void WorkerCore::onRequest(TransactionId id, sip::Message& req, const Peer& from) {
  (void)from;
  if (services_.draining.load(std::memory_order_relaxed)) {
    sip::Message resp = makeResponse(req, 503, "Shutting Down");
    resp.addHeader("Retry-After", "5");
    respond(id, resp);
    return;
  }
  const bool forUs = req.method() == sip::Method::Register || requestIsForUs(req);
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
  switch (req.method()) {
    case sip::Method::Register: handleRegister(id, req); return;
    case sip::Method::Options: handleOptions(id, req); return;
    default: handleOther(id, req); return;
  }
}

void WorkerCore::handleOptions(TransactionId id, sip::Message& req) {
  if (!requestIsForUs(req)) {
    handleOther(id, req);
    return;
  }
  // RFC 3261 §11.2: what the server can do. Phones send this as a keep-alive.
  sip::Message resp = makeResponse(req, 200);
  resp.addHeader("Allow", kAllow);
  resp.addHeader("Accept", "application/sdp");
  resp.addHeader("Supported", kSupported);
  respond(id, resp);
}

void WorkerCore::handleOther(TransactionId id, sip::Message& req) {
  // §8.2.1: an unknown method addressed to the server itself. Addressed to a user, the server
  // acts as a proxy, which forwards methods it does not know (§16.1; RFC 4475 §3.1.1.2).
  if (req.method() == sip::Method::Extension && requestIsForUs(req)) {
    reply(id, req, 501, "Not Implemented");
    return;
  }
  const sip::Uri& ruri = req.requestUri();
  if (!ruri.isSip()) {
    sip::Message resp = makeResponse(req, 416, "Unsupported URI Scheme");
    respond(id, resp);
    return;
  }
  const Domain* domain = services_.domainFor(ruri.hostBare());
  if (domain == nullptr) {
    reply(id, req, 403, "Relaying Denied");
    return;
  }
  std::string user = ruri.userUnescaped();
  if (user.empty()) {
    reply(id, req, 405, "Method Not Allowed");  // addressed to the server itself
    return;
  }
  if (!services_.users.exists(user, domain->name)) {
    reply(id, req, 404, "Not Found");
    return;
  }
  if (services_.location.lookup(user + "@" + domain->name, unixSeconds()).empty()) {
    reply(id, req, 480, "Temporarily Unavailable");
    return;
  }
  // The user is registered: forwarding belongs to the proxy, which is not built yet.
  reply(id, req, 501, "Proxying Not Implemented Yet");
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
  const std::string user = toUri.userUnescaped();
  const std::string& domainName = domain->name;
  auto lookup = [this, &domainName](std::string_view u, std::string_view realm) {
    return services_.users.find(u, domainName, realm);
  };
  auth::AuthResult auth = services_.authenticator.verify(req, sip::HeaderId::Authorization, domain->realm, user, lookup,
                                                         std::chrono::system_clock::now());
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
  struct Pending {
    TransactionId id = 0;
    sip::Message response;
    bool ready = false;
  };
  auto pending = std::make_shared<Pending>();
  pending->id = id;
  std::weak_ptr<bool> alive = alive_;
  registrar::RegisterResult result = services_.registrar.process(
      req, aor, currentSource_, now, [&](const std::string& a, const std::vector<registrar::Binding>& bindings) {
        // §10.3 step 8 / ARCHITECTURE.md: the 200 OK leaves only after the change is durable.
        services_.pendingWrites++;
        services_.store.replaceBindings(a, bindings, [this, pending, alive](bool ok) {
          asio::post(io_, [this, pending, alive, ok] {
            services_.pendingWrites--;
            if (alive.expired()) return;
            if (!ok) {
              services_.stats.storeFailures++;
              spdlog::error("store write failed; REGISTER answered 500");
              sip::Message resp = std::move(pending->response);
              resp.setStatus(500, "Store Failure");
              resp.removeHeader(sip::HeaderId::Contact);
              resp.addHeader("Retry-After", "5");
              respond(pending->id, resp);
              return;
            }
            services_.stats.registrations++;
            respond(pending->id, pending->response);
          });
        });
      });
  if (result.status != 200) {
    sip::Message resp = makeResponse(req, result.status, result.reason);
    if (result.status == 423) resp.addHeader("Min-Expires", std::to_string(result.minExpires));
    respond(id, resp);
    return;
  }
  sip::Message resp = makeResponse(req, 200);
  registrar::Registrar::addContacts(resp, result.current, now);
  // RFC 3327 §5.3: the registrar returns the Path it stored to a UA that supports Path.
  bool uaSupportsPath = false;
  req.forEachValue(sip::HeaderId::Supported, [&](std::string_view tag) {
    uaSupportsPath = sip::iequals(sip::trimLws(tag), "path");
    return !uaSupportsPath;
  });
  if (uaSupportsPath) {
    req.forEachValue(sip::HeaderId::Path, [&](std::string_view v) {
      resp.addHeader("Path", sip::trimLws(v));
      return true;
    });
  }
  resp.addHeader("Date", sipDate());
  if (result.changed) {
    pending->response = std::move(resp);
    pending->ready = true;
    return;  // answered when the store commits
  }
  services_.stats.registrations++;
  respond(id, resp);
}

void WorkerCore::onCancel(TransactionId cancelId, TransactionId inviteId, sip::Message& cancel, const Peer&) {
  // §9.2: no matching INVITE transaction -> 481. Every INVITE is answered at once today, so a
  // matching one has its final response already: the CANCEL gets 200 and changes nothing.
  if (inviteId == 0) {
    reply(cancelId, cancel, 481, "Call/Transaction Does Not Exist");
  } else {
    reply(cancelId, cancel, 200);
  }
}

void WorkerCore::onAck(sip::Message&, const Peer&) {}

void WorkerCore::onResponse(TransactionId, sip::Message&) {}

void WorkerCore::onStrayResponse(sip::Message&, const Peer&) {}

void WorkerCore::onClientFailure(TransactionId id, bool timeout) {
  spdlog::debug("client transaction {} failed ({})", id, timeout ? "timeout" : "transport");
}

void WorkerCore::onServerFailure(TransactionId id, bool timeout) {
  spdlog::debug("server transaction {} failed ({})", id, timeout ? "no ACK" : "transport");
}

}  // namespace sipwarden::server
