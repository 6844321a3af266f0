#include "proxy/proxy.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <random>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::proxy {

using transport::Peer;

namespace {

constexpr std::string_view kOurBranchPrefix = "z9hG4bKsw";
constexpr char kHex[] = "0123456789abcdef";

std::uint64_t random64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

void appendHex(std::string& out, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) out += kHex[(v >> (4 * i)) & 15];
}

/// FNV-1a, 64 bits: the loop hash needs to be stable, not secret.
std::uint64_t fnv(std::uint64_t h, std::string_view s) {
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return (h ^ 0xff) * 0x100000001b3ull;  // separator, so that ("ab","c") != ("a","bc")
}

std::string lowerTransport(transport::TransportKind k) {
  std::string s(transport::transportName(k));
  for (char& c : s) c = static_cast<char>(c | 0x20);
  return s;
}

/// Response classes for §16.7 step 6: 6xx first, then the lowest class (3xx, 4xx, 5xx).
int rank(int status) {
  if (status >= 600) return 0;
  return status / 100;
}

/// §16.7 step 6 within a class, lower is better: an answer that came from a branch before one we
/// made up (408 for a timeout, 503 or 430 for a transport failure: a stale contact must not hide
/// the real callee's 486), and in 4xx the challenges and what the caller can fix (401, 407, 415,
/// 420, 484) first.
int score(int status, bool real) {
  int s = rank(status) * 4;
  if (!real) s += 2;
  const bool preferred = status == 401 || status == 407 || status == 415 || status == 420 || status == 484;
  if (status / 100 == 4 && !preferred) s += 1;
  return s;
}

/// Copies `bytes` into `msg` and parses the copy; false when it does not parse (cannot happen for
/// bytes we serialized from a parsed message).
bool parseOwned(std::string_view bytes, sip::Message& msg) {
  msg.clear();
  std::string_view copy = msg.adoptCopy(bytes);
  return !sip::parseMessage(copy, msg, sip::Limits{.maxMessageSize = 1u << 20, .maxHeaders = 512, .maxLineLength = 1u << 16});
}

}  // namespace

namespace {
constexpr std::size_t kBranchMacHex = 16;

/// Appends 16 hex digits of the MAC over "br\n" + `body`; false when OpenSSL failed.
bool appendBranchMac(std::string& out, std::string_view body, const auth::HmacSha256& key) {
  std::string data;
  data.reserve(3 + body.size());
  data.append("br\n").append(body);
  auth::Sha256Mac mac{};
  if (!key.compute(data.data(), data.size(), mac)) return false;
  for (std::size_t i = 0; i < kBranchMacHex / 2; ++i) appendHex(out, mac[i], 2);
  return true;
}
}  // namespace

std::string newProxyBranch(unsigned worker, std::string_view loopHash, const auth::HmacSha256& key) {
  std::string b(kOurBranchPrefix);
  appendHex(b, worker & 0xff, 2);
  b.append(loopHash);
  b += '.';
  appendHex(b, random64(), 16);
  const std::size_t body = b.size();
  if (!appendBranchMac(b, std::string_view(b).substr(0, body), key)) appendHex(b, random64(), 16);  // unsigned
  return b;
}

bool isSignedBranch(std::string_view branch, const auth::HmacSha256& key) {
  if (workerOfBranch(branch) < 0 || branch.size() < kOurBranchPrefix.size() + 2 + 1 + 16 + kBranchMacHex) return false;
  const std::string_view body = branch.substr(0, branch.size() - kBranchMacHex);
  std::string expected;
  if (!appendBranchMac(expected, body, key)) return false;
  return CRYPTO_memcmp(expected.data(), branch.data() + body.size(), kBranchMacHex) == 0;
}

int workerOfBranch(std::string_view branch) {
  if (branch.size() < kOurBranchPrefix.size() + 2 || branch.substr(0, kOurBranchPrefix.size()) != kOurBranchPrefix) {
    return -1;
  }
  int v = 0;
  for (std::size_t i = kOurBranchPrefix.size(); i < kOurBranchPrefix.size() + 2; ++i) {
    char c = branch[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

std::string_view writeTag(std::array<char, 16>& out) {
  std::uint64_t v = random64();
  for (std::size_t i = out.size(); i-- > 0; v >>= 4) out[i] = kHex[v & 15];
  return {out.data(), out.size()};
}

namespace {
constexpr std::string_view kStatelessTagPrefix = "sl.";
}

StatelessTags::StatelessTags(std::span<const std::uint8_t> secret) : mac_(secret) {}

std::string_view StatelessTags::write(const sip::Message& m, std::array<char, 16>& out) const {
  // The fields a retransmission and the ACK for a non-2xx final share, each followed by a
  // separator no token or Call-ID contains. "sl" first keeps these MACs apart from the flow
  // tokens' and the nonces' under the same secret.
  std::string data;
  data.reserve(96 + m.callId().size());
  data.append("sl\n").append(m.callId()).push_back('\n');
  data.append(m.from().tag().value_or(std::string_view())).push_back('\n');
  data.append(std::to_string(m.cseq().number)).push_back('\n');
  if (m.hasVia()) data.append(m.topVia().branch.value_or(std::string_view()));
  auth::Sha256Mac mac{};
  if (!mac_.compute(data.data(), data.size(), mac)) {
    // OpenSSL failed: a random tag still makes a valid answer (only the §8.2.7 repeatability and
    // the recognition of its ACK are lost).
    writeTag(out);
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = kHex[(mac[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 15];
  }
  std::copy(kStatelessTagPrefix.begin(), kStatelessTagPrefix.end(), out.begin());
  return {out.data(), out.size()};
}

bool StatelessTags::matches(const sip::Message& m, std::string_view tag) const {
  if (!tag.starts_with(kStatelessTagPrefix)) return false;
  std::array<char, 16> expected{};
  return write(m, expected) == tag;
}

std::string newTag() {
  std::array<char, 16> buf{};
  return std::string(writeTag(buf));
}

std::size_t Proxy::PeerHash::operator()(const transport::Peer& p) const noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](std::uint64_t v) { h = (h ^ v) * 0x100000001b3ull; };
  mix(static_cast<std::uint64_t>(p.transport));
  for (std::uint8_t b : p.address.bytes) mix(b);
  mix(p.address.v6 ? 1 : 0);
  mix(p.port);
  mix(p.connectionId);
  mix(p.listener);
  return static_cast<std::size_t>(h);
}

const std::string& Proxy::flowToken(const transport::Peer& flow) {
  if (auto it = tokenCache_.find(flow); it != tokenCache_.end()) return it->second;
  if (tokenCache_.size() >= kTokenCacheSize) tokenCache_.clear();
  const std::string& token = tokenCache_.emplace(flow, tokens_.encode(flow)).first->second;
  // The dialog's next requests bring this token back in their Route.
  if (flowCache_.size() >= kTokenCacheSize) flowCache_.clear();
  flowCache_.emplace(token, flow);
  return token;
}

std::optional<transport::Peer> Proxy::flowOf(std::string_view token) {
  if (auto it = flowCache_.find(token); it != flowCache_.end()) return it->second;
  std::optional<transport::Peer> flow = tokens_.decode(token);
  if (flow) {
    if (flowCache_.size() >= kTokenCacheSize) flowCache_.clear();
    flowCache_.emplace(std::string(token), *flow);
  }
  return flow;
}

bool Proxy::anyPending(const Context& ctx) {
  return std::any_of(ctx.branches.begin(), ctx.branches.end(),
                     [](const Branch& b) { return b.status == 0 && !b.abandoned; });
}

Proxy::Proxy(transaction::TransactionLayer& txn, Network& net, const FlowTokens& tokens, ProxySettings settings)
    : txn_(txn), net_(net), tokens_(tokens), settings_(std::move(settings)) {}

// ---- routing ----------------------------------------------------------------------------------

RouteInfo Proxy::preprocessRoutes(sip::Message& req) {
  RouteInfo info;
  // §16.4: a strict router before us put our Record-Route URI in the Request-URI and the real
  // target in the last Route.
  const sip::Uri& ruri = req.requestUri();
  if (req.count(sip::HeaderId::Route) > 0 && ruri.isSip() && ruri.param("lr") && net_.isLocalUri(ruri)) {
    std::vector<sip::NameAddr> routes = req.routeSet(sip::HeaderId::Route);
    if (!routes.empty()) {
      if (auto flow = flowOf(ruri.user)) info.flow = flow;
      std::string last(routes.back().uri.raw);
      std::vector<std::string> keep;
      for (std::size_t i = 0; i + 1 < routes.size(); ++i) keep.emplace_back(routes[i].raw);
      req.removeHeader(sip::HeaderId::Route);
      for (const std::string& r : keep) req.addHeader("Route", r);
      req.setRequestUri(last);
      info.strictRouted = true;
      info.poppedOwn = true;
    }
  }
  // Then every Route on top that names us (two of them after our double Record-Route). The
  // values stay readable after a pop: they point into the message's bytes.
  if (req.count(sip::HeaderId::Route) == 0) return info;
  for (const sip::NameAddr& route : req.routeSet(sip::HeaderId::Route)) {
    if (!route.uri.isSip() || !net_.isLocalUri(route.uri)) break;
    info.flow = flowOf(route.uri.user);
    info.poppedOwn = true;
    req.popRoute();
  }
  return info;
}

std::string Proxy::loopHash(const sip::Message& req) const {
  std::uint64_t h = 0xcbf29ce484222325ull;
  h = fnv(h, req.requestUriText());
  h = fnv(h, req.from().tag().value_or(""));
  h = fnv(h, req.to().tag().value_or(""));
  h = fnv(h, req.callId());
  h = fnv(h, std::to_string(req.cseq().number));
  req.forEachValue(sip::HeaderId::ProxyRequire, [&](std::string_view v) {
    h = fnv(h, v);
    return true;
  });
  // §16.6 step 8: and the Route values (those left after ours were taken off): a request that
  // comes back on a preloaded route through an application server is a spiral, not a loop.
  req.forEachValue(sip::HeaderId::Route, [&](std::string_view v) {
    h = fnv(h, v);
    return true;
  });
  std::string s;
  appendHex(s, h, 16);
  return s;
}

bool Proxy::isLoop(const sip::Message& req) {
  if (req.viaCount() < 2) return false;
  const std::string hash = loopHash(req);
  for (const sip::Via& v : req.vias()) {
    if (!v.branch || workerOfBranch(*v.branch) < 0) continue;
    std::string_view rest = v.branch->substr(kOurBranchPrefix.size() + 2);
    if (rest.size() > hash.size() && rest.substr(0, hash.size()) == hash && rest[hash.size()] == '.') {
      ++stats_.loops;
      return true;
    }
  }
  return false;
}

// ---- stateful forwarding ------------------------------------------------------------------------

void Proxy::forward(TransactionId id, sip::Message& req, const Peer& from, std::vector<Target> targets, TimePoint now,
                    ResponseCheck check) {
  const Busy busy(busy_);
  ++stats_.forwarded;
  auto [it, inserted] = contexts_.try_emplace(id);
  if (!inserted) return;  // cannot happen: one forward per server transaction
  Context& ctx = it->second;
  ctx.server = id;
  ctx.check = std::move(check);
  ctx.from = from;
  ctx.invite = req.method() == sip::Method::Invite;
  ctx.loopHash = loopHash(req);  // of the request as received: Max-Forwards is not part of it
  // §16.6 step 3 on the common part; the Via, Record-Route and Request-URI are per branch.
  req.decrementMaxForwards();
  std::string& common = scratch_;
  common.clear();
  sip::serialize(req, common);
  if (!parseOwned(common, ctx.request)) {
    contexts_.erase(it);
    sip::Message resp = sip::Message::responseTo(req, 500, "Cannot Forward", newTag());
    txn_.respond(id, resp, now);
    return;
  }
  if (ctx.invite) {
    // §16.2: a stateful proxy sends 100 Trying for INVITE at once, rather than after 200 ms.
    sip::Message trying = sip::Message::responseTo(ctx.request, 100, "Trying");
    if (!txn_.respond(id, trying, now) && !txn_.state(id)) {
      contexts_.erase(it);  // the caller is already unreachable: ring nobody
      return;
    }
    schedule(ringDue_, now + settings_.ringTimeout, id);
  }
  // §16.6: the sequential groups, highest q first (a contact without q counts as 1.0).
  std::stable_sort(targets.begin(), targets.end(), [](const Target& a, const Target& b) {
    return (a.q < 0 ? 1000 : a.q) > (b.q < 0 ? 1000 : b.q);
  });
  for (Target& t : targets) {
    ctx.failover = ctx.failover || t.failover;
    int q = t.q < 0 ? 1000 : t.q;
    if (ctx.groups.empty() || (ctx.groups.back().front().q < 0 ? 1000 : ctx.groups.back().front().q) != q) {
      ctx.groups.emplace_back();
    }
    ctx.groups.back().push_back(std::move(t));
  }
  if (ctx.groups.empty()) {
    respondLocal(ctx, 480, "Temporarily Unavailable", now);
    destroyIfDone(id);
    return;
  }
  startGroup(ctx, now);
  maybeFinish(ctx, now);  // every branch may have failed at once
  destroyIfDone(id);
}

void Proxy::startGroup(Context& ctx, TimePoint now) {
  while (ctx.nextGroup < ctx.groups.size()) {
    std::vector<Target> group = std::move(ctx.groups[ctx.nextGroup++]);
    for (const Target& t : group) startBranch(ctx, t, now);
    // A group whose branches all failed at once: go on with the next one.
    bool pending = anyPending(ctx);
    if (pending) return;
    bool stop = ctx.bestStatus >= 200 && ctx.bestStatus < 300;
    if (stop || ctx.bestStatus >= 600) return;
  }
}

void Proxy::startBranch(Context& ctx, const Target& target, TimePoint now) {
  ctx.branches.emplace_back();
  const std::size_t index = ctx.branches.size() - 1;
  Branch& br = ctx.branches.back();
  br.peer = target.peer;
  sip::Message& m = br.request;
  m.viewOf(ctx.request);  // no parse: the edits below go to the branch's own arena
  if (!target.uri.empty()) m.setRequestUri(target.uri);
  for (const std::string& r : target.routes) m.addHeader("Route", r);
  if (settings_.recordRoute && ctx.request.method() != sip::Method::Register) {
    // RFC 5658 double record-routing: the URI facing the caller carries the caller's flow, the one
    // facing the callee (on top) the callee's; an in-dialog request that pops both goes to the
    // flow named by the second.
    auto rr = [&](const Peer& leg) {
      std::string v = "<sip:" + flowToken(leg) + "@" + net_.localHostPort(leg);
      if (leg.transport != transport::TransportKind::Udp) v += ";transport=" + lowerTransport(leg.transport);
      v += ";lr>";
      return v;
    };
    m.addRecordRoute(rr(ctx.from));
    m.addRecordRoute(rr(target.peer));
  }
  std::string via = "SIP/2.0/" + std::string(transport::transportName(target.peer.transport)) + " " +
                    net_.localHostPort(target.peer) +
                    ";branch=" + newProxyBranch(net_.workerIndex(), ctx.loopHash, tokens_.mac());
  m.pushVia(via);
  br.flow = target.flow;
  TransactionId client = txn_.sendRequest(m, target.peer, now, !target.keepUdp, target.flow);
  if (client == 0) {
    // The connection of a registered flow is gone (RFC 5626 §5.3: 430), or the send failed.
    if (target.flow) ++stats_.flowFailures;
    br.status = target.flow ? 430 : 503;
    if (br.status > 0 && (ctx.bestStatus == 0 || rank(br.status) < rank(ctx.bestStatus))) {
      ctx.bestStatus = br.status;
      ctx.bestResponse.clear();  // made up when sent
    }
    return;
  }
  ++stats_.branches;
  br.client = client;
  branches_[client] = BranchRef{ctx.server, static_cast<std::uint32_t>(index)};
}

bool Proxy::forwardStateless(sip::Message& req, const Target& target) {
  if (!target.uri.empty()) req.setRequestUri(target.uri);
  req.decrementMaxForwards();
  std::string via = "SIP/2.0/" + std::string(transport::transportName(target.peer.transport)) + " " +
                    net_.localHostPort(target.peer) +
                    ";branch=" + newProxyBranch(net_.workerIndex(), loopHash(req), tokens_.mac());
  req.pushVia(via);
  if (!txn_.sendStateless(req, target.peer)) return false;
  ++stats_.statelessForwarded;
  return true;
}

bool Proxy::endDialogOfRefusedAck(const sip::Message& ack, const Target& target, TimePoint now) {
  std::string dialog(ack.callId());
  dialog.append("\n").append(ack.from().tag().value_or("")).append("\n").append(ack.to().tag().value_or(""));
  if (!endedDialogs_.insert(dialog).second) return false;
  endedOrder_.push_back(std::move(dialog));
  if (endedOrder_.size() > kEndedDialogs) {
    endedDialogs_.erase(endedOrder_.front());
    endedOrder_.pop_front();
  }
  std::vector<std::string> routes;
  ack.forEachValue(sip::HeaderId::Route, [&](std::string_view v) {
    routes.emplace_back(v);
    return true;
  });
  sip::Message bye = ownInDialogRequest("BYE", target.uri.empty() ? ack.requestUriText() : target.uri, routes, ack,
                                        ack.cseq().number + 1,
                                        "SIP;cause=488;text=\"Answer refused by the security policy\"", target.peer);
  ++stats_.refusedDialogs;
  if (TransactionId id = txn_.sendRequest(bye, target.peer, now); id != 0) ownRequests_[id] = 0;
  return true;
}

// ---- responses ------------------------------------------------------------------------------------

bool Proxy::onResponse(TransactionId client, sip::Message& response, TimePoint now) {
  const Busy busy(busy_);
  if (auto c = ownRequests_.find(client); c != ownRequests_.end()) {
    if (response.statusCode() >= 200) ownRequests_.erase(c);
    return true;  // the answer to our CANCEL or BYE: nothing to pass on
  }
  auto ref = branches_.find(client);
  if (ref == branches_.end()) {
    auto l = lingering_.find(client);
    if (l == lingering_.end()) return false;
    // RFC 6026: another 2xx (a retransmission or another fork's) after the INVITE finished.
    const int status = response.statusCode();
    if (status < 200 || status >= 300 || !response.popVia() || !response.hasVia()) return true;
    Linger& linger = l->second;
    // A 2xx we refused, again: our ACK was lost. It goes again, and the 2xx no further. (Another
    // fork's 2xx has another To tag: it is checked like the first, and remembered if refused.)
    for (const std::shared_ptr<sip::Message>& ack : linger.acks) {
      if (response.to().tag() == ack->to().tag()) {
        txn_.sendStateless(*ack, linger.peer);
        return true;
      }
    }
    if (linger.check && !response.body().empty() && linger.check(response).status != 0) {
      ++stats_.refusedResponses;
      ++stats_.refusedDialogs;
      std::shared_ptr<sip::Message> ack = hangUpRefused(response, linger.peer, now);
      // Bounded: a callee sending 2xx after 2xx with new tags gets ACK and BYE for each; only
      // the first few are remembered for their retransmissions.
      if (ack && linger.acks.size() < kMaxRefusedForks) linger.acks.push_back(std::move(ack));
      return true;
    }
    passOn2xx(linger.server, linger.caller, response, now);
    return true;
  }
  auto cit = contexts_.find(ref->second.server);
  if (cit == contexts_.end()) {
    branches_.erase(ref);
    return true;
  }
  Context& ctx = cit->second;
  const std::size_t b = ref->second.index;
  Branch& br = ctx.branches[b];
  const int status = response.statusCode();
  // §16.7 step 3: our Via off; a response with no Via left was for us and goes nowhere. A final
  // still ends the branch (its client transaction is over and will not report again): as a 502,
  // so that the caller gets an answer and the context does not stay.
  if (!response.popVia() || !response.hasVia()) {
    if (status >= 200) {
      branches_.erase(ref);
      branchFinal(ctx, b, 502, nullptr, now);
      destroyIfDone(ctx.server);
    }
    return true;
  }
  if (status < 200 && !br.provisional) {
    br.provisional = true;
    if (br.cancelWanted) cancelBranch(ctx, br, now);
  }
  if (br.refusal.status == 0 && ctx.check && status < 300 && !response.body().empty()) {
    br.refusal = ctx.check(response);
    if (br.refusal.status != 0) ++stats_.refusedResponses;
  }
  if (br.refusal.status != 0) {
    onRefusedResponse(ctx, b, client, response, now);
    return true;
  }
  if (status < 200) {
    // §16.7 step 5: provisional responses other than 100 go on at once.
    if (status > 100 && !ctx.finalSent && !txn_.respond(ctx.server, response, now)) destroyIfDone(ctx.server);
    return true;
  }
  if (status < 300) {
    // §16.7 step 5: every 2xx goes on at once, even after another 2xx (forked INVITE), and even
    // after a final of our own (step 10).
    br.status = status;
    const bool first = !ctx.finalSent;
    ctx.finalSent = true;
    branches_.erase(ref);
    if (ctx.invite) {
      lingering_[client] = Linger{ctx.server, br.peer, ctx.check, {}, ctx.from};
      schedule(lingerDue_, now + settings_.lingerAfterInvite, client);
      passOn2xx(ctx.server, ctx.from, response, now);
      if (first) cancelPending(ctx, now);  // §16.7 step 10
    } else {
      txn_.respond(ctx.server, response, now);
    }
    maybeFinish(ctx, now);
    destroyIfDone(ctx.server);
    return true;
  }
  branches_.erase(ref);
  branchFinal(ctx, b, status, &response, now);
  destroyIfDone(ctx.server);
  return true;
}

void Proxy::onRefusedResponse(Context& ctx, std::size_t b, TransactionId client, sip::Message& response,
                              TimePoint now) {
  const int status = response.statusCode();
  if (status < 200) {
    // Not passed on. An INVITE branch is cancelled (now, or at its first provisional); it ends
    // with the refusal whatever final the callee sends.
    if (ctx.invite) cancelBranch(ctx, ctx.branches[b], now);
    return;
  }
  branches_.erase(client);
  // Copies: branchFinal may start the next group, which grows ctx.branches.
  const Refusal refusal = ctx.branches[b].refusal;
  const Peer peer = ctx.branches[b].peer;
  if (status < 300 && ctx.invite) {
    // The callee answered with media the policy refuses (or answered after its provisional was
    // refused, before our CANCEL reached it): its dialog exists, so end it there.
    ++stats_.refusedDialogs;
    std::shared_ptr<sip::Message> ack = hangUpRefused(response, peer, now);
    Linger linger{ctx.server, peer, ctx.check, {}, ctx.from};
    if (ack) linger.acks.push_back(std::move(ack));
    lingering_[client] = std::move(linger);
    schedule(lingerDue_, now + settings_.lingerAfterInvite, client);
  }
  sip::Message made = sip::Message::responseTo(ctx.request, refusal.status, refusal.reasonPhrase, newTag());
  made.addHeader("Server", settings_.serverHeader);
  if (!refusal.warning.empty()) made.addHeader("Warning", refusal.warning);
  branchFinal(ctx, b, refusal.status, &made, now);
  destroyIfDone(ctx.server);
}

std::shared_ptr<sip::Message> Proxy::hangUpRefused(const sip::Message& ok, const Peer& peer, TimePoint now) {
  // The callee's side of the dialog (RFC 3261 §12.1.2 seen from the caller, which we stand in
  // for here): the remote target is the 2xx's Contact, the route set the Record-Route entries
  // between us and the callee (those above our own, nearest to us first), and the CSeq the
  // INVITE's for the ACK (§13.2.2.4) and the next one for the BYE.
  std::string target;
  ok.forEachValue(sip::HeaderId::Contact, [&](std::string_view v) {
    sip::NameAddr na;
    if (!sip::parseNameAddr(v, na)) target = std::string(na.uri.raw);
    return false;  // the first one only
  });
  if (target.empty()) target = std::string(ok.to().uri.raw);
  std::vector<std::string> routes;
  ok.forEachValue(sip::HeaderId::RecordRoute, [&](std::string_view v) {
    sip::NameAddr na;
    if (!sip::parseNameAddr(v, na, true) && net_.isLocalUri(na.uri)) return false;  // ours: the callee side ends
    routes.emplace_back(v);
    return true;
  });
  std::reverse(routes.begin(), routes.end());
  const std::uint32_t n = ok.cseq().number;
  auto ack = std::make_shared<sip::Message>(ownInDialogRequest("ACK", target, routes, ok, n, {}, peer));
  txn_.sendStateless(*ack, peer);
  sip::Message bye = ownInDialogRequest("BYE", target, routes, ok, n + 1,
                                        "SIP;cause=488;text=\"Refused by the security policy\"", peer);
  if (TransactionId id = txn_.sendRequest(bye, peer, now); id != 0) ownRequests_[id] = 0;
  return ack;
}

sip::Message Proxy::ownInDialogRequest(std::string_view method, std::string_view target,
                                       const std::vector<std::string>& routes, const sip::Message& dialog,
                                       std::uint32_t cseq, std::string_view reason, const Peer& peer) {
  sip::Message m = sip::Message::request(method, target);
  for (const std::string& r : routes) m.addHeader("Route", r);
  for (const sip::HeaderField& h : dialog.headers()) {
    switch (h.id) {
      case sip::HeaderId::From:
      case sip::HeaderId::To:
      case sip::HeaderId::CallId: m.addHeader(h.name, h.value); break;
      default: break;
    }
  }
  m.addHeader("CSeq", std::to_string(cseq) + " " + std::string(method));
  m.addHeader("Max-Forwards", "70");
  if (!reason.empty()) m.addHeader("Reason", reason);
  m.addHeader("Content-Length", "0");
  m.pushVia("SIP/2.0/" + std::string(transport::transportName(peer.transport)) + " " + net_.localHostPort(peer) +
            ";branch=" + newProxyBranch(net_.workerIndex(), "", tokens_.mac()));
  return m;
}

void Proxy::branchFinal(Context& ctx, std::size_t b, int status, const sip::Message* response, TimePoint now) {
  ctx.branches[b].status = status;
  if (status != 408 && status != 430 && status != 503) ctx.answered = true;
  if (response != nullptr && (status == 401 || status == 407)) {
    // §16.7 step 7: the challenges of every branch go back together.
    response->forEachValue(sip::HeaderId::WwwAuthenticate, [&](std::string_view v) {
      ctx.authHeaders.push_back("WWW-Authenticate\n" + std::string(v));
      return true;
    });
    response->forEachValue(sip::HeaderId::ProxyAuthenticate, [&](std::string_view v) {
      ctx.authHeaders.push_back("Proxy-Authenticate\n" + std::string(v));
      return true;
    });
  }
  if (!ctx.finalSent &&
      (ctx.bestStatus == 0 || score(status, response != nullptr) < score(ctx.bestStatus, !ctx.bestResponse.empty()))) {
    ctx.bestStatus = status;
    ctx.bestResponse.clear();
    if (response != nullptr) sip::serialize(*response, ctx.bestResponse);
  }
  if (status >= 600 && !ctx.finalSent) {
    // §16.7 step 6 / 10: a 6xx ends the search: the other branches are cancelled and no group
    // starts.
    ctx.nextGroup = ctx.groups.size();
    cancelPending(ctx, now);
  }
  maybeFinish(ctx, now);
}

void Proxy::maybeFinish(Context& ctx, TimePoint now) {
  bool pending = anyPending(ctx);
  if (pending) return;
  // RFC 3263 §4.3: the next server only when none answered (a timeout, a transport failure, 503);
  // a 486 or 404 from one is the answer.
  const bool tryNext = !ctx.failover || !ctx.answered;
  if (!ctx.finalSent && !ctx.cancelled && ctx.bestStatus < 600 && tryNext && ctx.nextGroup < ctx.groups.size()) {
    startGroup(ctx, now);
    pending = anyPending(ctx);
    if (pending) return;
  }
  if (!ctx.finalSent) sendBest(ctx, now);
}

void Proxy::sendBest(Context& ctx, TimePoint now) {
  ctx.finalSent = true;
  if (ctx.cancelled && (ctx.bestStatus == 0 || ctx.bestStatus == 408 || ctx.bestStatus == 430 || ctx.bestStatus == 503)) {
    respondLocal(ctx, 487, "Request Terminated", now);
    return;
  }
  if (ctx.bestResponse.empty()) {
    switch (ctx.bestStatus) {
      case 0:
      case 408: respondLocal(ctx, 408, "Request Timeout", now); return;
      case 430: respondLocal(ctx, 430, "Flow Failed", now); return;
      default: respondLocal(ctx, 500, "Cannot Reach The User", now); return;  // §16.7 step 6: never 503
    }
  }
  sip::Message best;
  if (!parseOwned(ctx.bestResponse, best)) {
    respondLocal(ctx, 500, "Server Internal Error", now);
    return;
  }
  if (ctx.bestStatus == 503) best.setStatus(500, "Service Unavailable Downstream");
  if ((ctx.bestStatus == 401 || ctx.bestStatus == 407) && !ctx.authHeaders.empty()) {
    best.removeHeader(sip::HeaderId::WwwAuthenticate);
    best.removeHeader(sip::HeaderId::ProxyAuthenticate);
    for (const std::string& h : ctx.authHeaders) {
      auto nl = h.find('\n');
      best.addHeader(std::string_view(h).substr(0, nl), std::string_view(h).substr(nl + 1));
    }
  }
  txn_.respond(ctx.server, best, now);
}

void Proxy::respondLocal(Context& ctx, int status, std::string_view reason, TimePoint now) {
  ctx.finalSent = true;
  sip::Message resp = sip::Message::responseTo(ctx.request, status, reason, newTag());
  resp.addHeader("Server", settings_.serverHeader);
  txn_.respond(ctx.server, resp, now);
}

// ---- CANCEL, failures, timers -------------------------------------------------------------------

void Proxy::cancelBranch(Context& ctx, Branch& br, TimePoint now) {
  if (br.cancelSent || br.status != 0 || br.client == 0) return;
  if (!br.provisional) {
    br.cancelWanted = true;  // §9.1: not before a provisional response
    br.abandoned = true;
    return;
  }
  // §9.1: Request-URI, Call-ID, To, From, CSeq number and the single Via of the request; Route too.
  const sip::Message& inv = br.request;
  sip::Message cancel = sip::Message::request("CANCEL", inv.requestUriText());
  for (const sip::HeaderField& h : inv.headers()) {
    switch (h.id) {
      case sip::HeaderId::From:
      case sip::HeaderId::To:
      case sip::HeaderId::CallId:
      case sip::HeaderId::Route: cancel.addHeader(h.name, h.value); break;
      default: break;
    }
  }
  cancel.pushVia(inv.topVia().raw);
  cancel.addHeader("CSeq", std::to_string(inv.cseq().number) + " CANCEL");
  cancel.addHeader("Max-Forwards", "70");
  cancel.addHeader("Content-Length", "0");
  br.cancelSent = true;
  ++stats_.cancelled;
  TransactionId id = txn_.sendRequest(cancel, br.peer, now);
  if (id != 0) ownRequests_[id] = ctx.server;
  schedule(cancelDue_, now + settings_.cancelWait, br.client);
}

void Proxy::cancelPending(Context& ctx, TimePoint now) {
  if (!ctx.invite) return;
  for (Branch& br : ctx.branches) cancelBranch(ctx, br, now);
}

bool Proxy::onCancel(TransactionId cancelId, TransactionId inviteId, sip::Message& cancel, TimePoint now) {
  const Busy busy(busy_);
  auto it = contexts_.find(inviteId);
  if (inviteId == 0 || it == contexts_.end()) return false;
  // §16.10: a CANCEL that matches a transaction is answered 200 at once, then forwarded to every
  // pending branch; the callees' 487 becomes the INVITE's answer.
  sip::Message ok = sip::Message::responseTo(cancel, 200, "OK", newTag());
  txn_.respond(cancelId, ok, now);
  Context& ctx = it->second;
  if (ctx.finalSent) return true;
  ctx.cancelled = true;
  ctx.nextGroup = ctx.groups.size();
  cancelPending(ctx, now);
  maybeFinish(ctx, now);
  destroyIfDone(inviteId);
  return true;
}

bool Proxy::onClientFailure(TransactionId client, bool timeout, TimePoint now) {
  const Busy busy(busy_);
  if (ownRequests_.erase(client) > 0) return true;
  if (lingering_.erase(client) > 0) return true;
  auto ref = branches_.find(client);
  if (ref == branches_.end()) return false;
  BranchRef r = ref->second;
  branches_.erase(ref);
  auto cit = contexts_.find(r.server);
  if (cit == contexts_.end()) return true;
  // §16.7 step 2 / §8.1.3.1: a timeout counts as 408; a transport error (§17.1.4) as 503, or 430
  // when the branch went over a connection that then failed (a registered flow, RFC 5626 §5.3).
  int status = 408;
  if (!timeout) {
    const bool flow = r.index < cit->second.branches.size() && cit->second.branches[r.index].flow;
    if (flow) ++stats_.flowFailures;
    status = flow ? 430 : 503;
  }
  branchFinal(cit->second, r.index, status, nullptr, now);
  destroyIfDone(r.server);
  return true;
}

bool Proxy::onServerFailure(TransactionId server) {
  auto it = contexts_.find(server);
  if (it == contexts_.end()) return false;
  // The caller cannot be reached: stop ringing the callees.
  Context& ctx = it->second;
  ctx.finalSent = true;
  auto now = transaction::Clock::now();
  cancelPending(ctx, now);
  // From a respond() of ours that failed, the context is in use further up the stack, and that
  // call ends with destroyIfDone. From a timer of the transaction layer, nothing holds it.
  if (busy_ == 0) destroyIfDone(server);
  return true;
}

void Proxy::passOn2xx(TransactionId server, const Peer& caller, sip::Message& response, TimePoint now) {
  const std::optional<transaction::State> state = txn_.state(server);
  if (state == transaction::State::Proceeding || state == transaction::State::Accepted) {
    txn_.respond(server, response, now);
    return;
  }
  // §16.7 step 10: the server transaction does not take a 2xx after our own non-2xx final (ring
  // timeout, a 6xx, the 487 of a CANCEL that crossed the callee's answer), nor once it is gone:
  // the 2xx goes statelessly to where the request came from. The caller's core ACKs it and, not
  // wanting the call any more, ends it with a BYE (§13.2.2.4).
  if (txn_.sendStateless(response, caller)) {
    ++stats_.statelessForwarded;
    ++stats_.late2xx;
  }
}

void Proxy::destroyIfDone(TransactionId server) {
  auto it = contexts_.find(server);
  if (it == contexts_.end()) return;
  Context& ctx = it->second;
  if (!ctx.finalSent) return;
  for (const Branch& b : ctx.branches) {
    if (b.status == 0 && b.client != 0 && branches_.count(b.client) > 0) {
      // Still waiting for this branch's final (e.g. 487 after CANCEL, or more 2xx from a fork).
      // Non-INVITE branches are not worth keeping once our answer has gone.
      if (ctx.invite) return;
    }
  }
  for (const Branch& b : ctx.branches) {
    if (b.client != 0) branches_.erase(b.client);
  }
  contexts_.erase(it);
}

void Proxy::schedule(std::deque<Due>& due, TimePoint when, TransactionId id) {
  due.push_back({when, id});
  if (timerArmed_) timerArmed_(when);
}

std::optional<TimePoint> Proxy::nextTimer() const {
  std::optional<TimePoint> next;
  for (const std::deque<Due>* due : {&ringDue_, &cancelDue_, &lingerDue_}) {
    if (!due->empty() && (!next || due->front().when < *next)) next = due->front().when;
  }
  return next;
}

void Proxy::advance(TimePoint now) {
  const Busy busy(busy_);
  while (!ringDue_.empty() && ringDue_.front().when <= now) {
    TransactionId server = ringDue_.front().id;
    ringDue_.pop_front();
    auto it = contexts_.find(server);
    if (it == contexts_.end() || it->second.finalSent) continue;
    // Timer C (§16.8): nobody answered. CANCEL the ringing branches and tell the caller.
    ++stats_.ringTimeouts;
    Context& ctx = it->second;
    ctx.nextGroup = ctx.groups.size();
    cancelPending(ctx, now);
    // The caller cancelled already (its CANCEL waits for the branches' 487s): its INVITE ends
    // as cancelled, not as unanswered.
    if (ctx.cancelled) {
      respondLocal(ctx, 487, "Request Terminated", now);
    } else {
      respondLocal(ctx, 480, "No Answer", now);
    }
    destroyIfDone(server);
  }
  while (!cancelDue_.empty() && cancelDue_.front().when <= now) {
    TransactionId client = cancelDue_.front().id;
    cancelDue_.pop_front();
    auto ref = branches_.find(client);
    if (ref == branches_.end()) continue;
    // §9.1: no final response 64*T1 after the CANCEL: give the branch up.
    txn_.terminate(client);
    BranchRef r = ref->second;
    branches_.erase(ref);
    if (auto cit = contexts_.find(r.server); cit != contexts_.end()) {
      branchFinal(cit->second, r.index, 408, nullptr, now);
      destroyIfDone(r.server);
    }
  }
  while (!lingerDue_.empty() && lingerDue_.front().when <= now) {
    lingering_.erase(lingerDue_.front().id);
    lingerDue_.pop_front();
  }
}

// ---- stray responses ----------------------------------------------------------------------------

void Proxy::onStrayResponse(sip::Message& response) {
  const int status = response.statusCode();
  if (status < 200 || status >= 300 || response.cseq().method != sip::Method::Invite) return;
  if (!response.hasVia() || workerOfBranch(response.topVia().branch.value_or("")) < 0) return;
  if (!response.popVia() || !response.hasVia()) return;
  if (sendResponseStateless(response)) ++stats_.statelessForwarded;
}

bool Proxy::sendResponseStateless(sip::Message& response) {
  // §18.2.2 for the next Via: received (else sent-by) and rport (else the sent-by port). Only over
  // UDP: a connection is known only to the transaction that is gone.
  const sip::Via& via = response.topVia();
  transport::TransportKind kind;
  if (!transport::parseTransportName(via.transport, kind) || kind != transport::TransportKind::Udp) return false;
  sip::Uri uri;
  std::string_view host = via.received ? *via.received : via.host;
  std::string text = "sip:";
  if (host.find(':') != std::string_view::npos && host.front() != '[') {
    text.append("[").append(host).append("]");
  } else {
    text.append(host);
  }
  std::uint16_t port = via.hasPort ? via.port : 5060;
  if (via.rport && !via.rport->empty()) {
    unsigned p = 0;
    for (char c : *via.rport) p = p * 10 + static_cast<unsigned>(c - '0');
    if (p > 0 && p < 65536) port = static_cast<std::uint16_t>(p);
  }
  text += ":" + std::to_string(port);
  if (sip::parseUri(text, uri)) return false;
  Peer to;
  if (!net_.resolve(uri, to)) return false;
  return txn_.sendStateless(response, to);
}

}  // namespace sipwarden::proxy
