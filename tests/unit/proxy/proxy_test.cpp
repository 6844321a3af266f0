// The proxy core on a real TransactionLayer: requests are parsed from text, the layer's sends are
// recorded, and time is simulated. The Network is this file's: fixed addresses, numeric resolution.
#include "proxy/proxy.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::proxy {
namespace {

using transaction::TimePoint;
using transport::Peer;

Peer udp(const char* address, std::uint16_t port) {
  Peer p;
  transport::IpAddress::parse(address, p.address);
  p.port = port;
  return p;
}

struct Sent {
  Peer to;
  std::string bytes;
};

class Recorder : public transaction::Sender {
 public:
  bool send(const Peer& to, std::string_view bytes) override {
    if (unreachable && to.address == unreachable->address && to.port == unreachable->port) return false;
    sent.push_back({to, std::string(bytes)});
    return true;
  }
  std::vector<Sent> sent;
  std::optional<Peer> unreachable;  ///< sends there fail (a caller whose connection is gone)
};

class FixedNetwork : public Network {
 public:
  std::string localHostPort(const Peer&) override { return "192.0.2.1:5060"; }
  bool resolve(const sip::Uri& uri, Peer& out) override {
    out = Peer{};
    out.port = uri.hasPort ? uri.port : 5060;
    return transport::IpAddress::parse(uri.hostBare(), out.address);
  }
  bool isLocalUri(const sip::Uri& uri) override { return uri.hostBare() == "192.0.2.1"; }
  unsigned workerIndex() const override { return 0; }
};

/// The transaction user: every new request is forwarded to `targets`.
class Harness : public transaction::TransactionUser {
 public:
  Harness() : tokens_(std::vector<std::uint8_t>(32, 9)), txn_(rec, *this), proxy_(txn_, net_, tokens_, settings()) {}

  static ProxySettings settings() {
    ProxySettings s;
    s.ringTimeout = std::chrono::seconds(30);
    return s;
  }

  void onRequest(TransactionId id, sip::Message& req, const Peer& from) override {
    proxy_.forward(id, req, from, targets, now, check);
  }
  void onCancel(TransactionId c, TransactionId i, sip::Message& m, const Peer&) override {
    EXPECT_TRUE(proxy_.onCancel(c, i, m, now));
  }
  void onAck(sip::Message&, const Peer&) override {}
  void onResponse(TransactionId id, sip::Message& r) override { EXPECT_TRUE(proxy_.onResponse(id, r, now)); }
  void onStrayResponse(sip::Message& r, const Peer&) override { proxy_.onStrayResponse(r); }
  void onClientFailure(TransactionId id, bool timeout) override { proxy_.onClientFailure(id, timeout, now); }
  void onServerFailure(TransactionId id, bool) override { proxy_.onServerFailure(id); }

  void feed(const std::string& text, const Peer& from) {
    sip::Message m;
    ASSERT_FALSE(sip::parseMessage(text, m)) << text;
    txn_.receive(m, from, now);
  }
  /// The messages sent to `to` since the last call, parsed.
  std::vector<std::string> takeTo(const Peer& to) {
    std::vector<std::string> out;
    std::vector<Sent> rest;
    for (Sent& s : rec.sent) {
      if (s.to.address == to.address && s.to.port == to.port) {
        out.push_back(std::move(s.bytes));
      } else {
        rest.push_back(std::move(s));
      }
    }
    rec.sent = std::move(rest);
    return out;
  }
  void advance(std::chrono::milliseconds d) {
    now += d;
    txn_.advance(now);
    proxy_.advance(now);
  }

  Recorder rec;
  std::vector<Target> targets;
  ResponseCheck check;
  TimePoint now{};

 private:
  FixedNetwork net_;
  FlowTokens tokens_;
  transaction::TransactionLayer txn_;

 public:
  Proxy proxy_;
};

const Peer kCaller = udp("198.51.100.7", 5060);
const Peer kBob1 = udp("203.0.113.1", 5060);
const Peer kBob2 = udp("203.0.113.2", 5060);

std::string request(const std::string& method, int cseq = 1) {
  return method + " sip:bob@example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKcaller" + std::to_string(cseq) + "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=a1\r\n"
         "To: <sip:bob@example.com>\r\n"
         "Call-ID: call-1@198.51.100.7\r\n"
         "CSeq: " + std::to_string(cseq) + " " + method + "\r\n"
         "Content-Length: 0\r\n\r\n";
}

/// A response to a request the proxy sent (all its Vias, the given To tag).
std::string answer(const std::string& forwarded, int status, const std::string& toTag) {
  sip::Message req;
  EXPECT_FALSE(sip::parseMessage(forwarded, req));
  sip::Message resp = sip::Message::responseTo(req, status, {}, toTag);
  std::string out;
  sip::serialize(resp, out);
  return out;
}

Target target(const char* uri, const Peer& p, int q = -1) {
  Target t;
  t.uri = uri;
  t.peer = p;
  t.q = q;
  return t;
}

int statusOf(const std::string& bytes) { return std::stoi(bytes.substr(8, 3)); }

TEST(Proxy, ForksAMessageAndPassesOnTheOne200) {
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1), target("sip:bob@203.0.113.2", kBob2)};
  h.feed(request("MESSAGE"), kCaller);
  auto to1 = h.takeTo(kBob1);
  auto to2 = h.takeTo(kBob2);
  ASSERT_EQ(to1.size(), 1u);
  ASSERT_EQ(to2.size(), 1u);
  sip::Message m;
  ASSERT_FALSE(sip::parseMessage(to1[0], m));
  EXPECT_EQ(m.requestUriText(), "sip:bob@203.0.113.1");
  EXPECT_EQ(*m.maxForwards(), 69u);
  EXPECT_EQ(m.viaCount(), 2u);
  EXPECT_EQ(m.topVia().host, "192.0.2.1");
  EXPECT_EQ(workerOfBranch(*m.topVia().branch), 0);
  EXPECT_EQ(m.count(sip::HeaderId::RecordRoute), 2u);
  h.feed(answer(to1[0], 404, "b1"), kBob1);
  EXPECT_TRUE(h.takeTo(kCaller).empty()) << "a 4xx waits for the other branch";
  h.feed(answer(to2[0], 200, "b2"), kBob2);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200);
  sip::Message ok;
  ASSERT_FALSE(sip::parseMessage(up[0], ok));
  EXPECT_EQ(ok.viaCount(), 1u) << "our Via is removed";
  EXPECT_EQ(h.proxy_.contextCount(), 0u);
}

TEST(Proxy, RecordRouteTokensNameEachBranchsFlowAcrossManyRequests) {
  // The tokens are remembered per flow: whatever the order of requests and targets, each
  // Record-Route names the caller's flow and its own branch's callee.
  Harness h;
  const FlowTokens tokens(std::vector<std::uint8_t>(32, 9));  // the Harness's secret
  const Peer callers[] = {kCaller, udp("198.51.100.8", 5062)};
  for (int i = 0; i < 6; ++i) {
    const Peer& caller = callers[i % 2];
    const Peer& callee = i % 3 == 0 ? kBob1 : kBob2;
    h.targets = {target(i % 3 == 0 ? "sip:bob@203.0.113.1" : "sip:bob@203.0.113.2", callee)};
    h.feed(request("MESSAGE", 10 + i), caller);
    auto down = h.takeTo(callee);
    ASSERT_EQ(down.size(), 1u) << i;
    sip::Message m;
    ASSERT_FALSE(sip::parseMessage(down[0], m));
    std::vector<sip::NameAddr> rr = m.routeSet(sip::HeaderId::RecordRoute);
    ASSERT_EQ(rr.size(), 2u);
    auto top = tokens.decode(rr[0].uri.user);
    auto second = tokens.decode(rr[1].uri.user);
    ASSERT_TRUE(top && second) << down[0];
    EXPECT_EQ(top->address, callee.address) << i;
    EXPECT_EQ(top->port, callee.port) << i;
    EXPECT_EQ(second->address, caller.address) << i;
    EXPECT_EQ(second->port, caller.port) << i;
    h.feed(answer(down[0], 200, "t" + std::to_string(i)), callee);
    const std::size_t up = h.takeTo(callers[0]).size() + h.takeTo(callers[1]).size();
    EXPECT_EQ(up, 1u) << i;  // the 200 goes back (to the Via's address)
  }
}

/// An in-dialog BYE with the Route headers `routes` (top first).
std::string byeThrough(const std::vector<std::string>& routes) {
  std::string out =
      "BYE sip:bob@203.0.113.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKbye\r\n";
  for (const std::string& r : routes) out += "Route: " + r + "\r\n";
  return out +
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=a1\r\n"
         "To: <sip:bob@example.com>;tag=b1\r\n"
         "Call-ID: call-1@198.51.100.7\r\n"
         "CSeq: 2 BYE\r\n"
         "Content-Length: 0\r\n\r\n";
}

TEST(Proxy, RouteTokensGiveTheirFlowWhetherMadeHereElsewhereOrForged) {
  // The proxy remembers the flows of tokens it made and of tokens whose MAC checked; a token
  // with a bad MAC gives no flow, also once a good one with the same flow is remembered.
  Harness h;
  const FlowTokens tokens(std::vector<std::uint8_t>(32, 9));  // the Harness's secret
  h.targets = {target("sip:bob@203.0.113.1", kBob1)};
  h.feed(request("INVITE"), kCaller);
  auto down = h.takeTo(kBob1);
  ASSERT_EQ(down.size(), 1u);
  sip::Message inv;
  ASSERT_FALSE(sip::parseMessage(down[0], inv));
  std::vector<sip::NameAddr> rr = inv.routeSet(sip::HeaderId::RecordRoute);
  ASSERT_EQ(rr.size(), 2u);

  auto routeOf = [&](const std::vector<std::string>& routes) {
    const std::string text = byeThrough(routes);  // the parsed message points into it
    sip::Message bye;
    EXPECT_FALSE(sip::parseMessage(text, bye));
    RouteInfo info = h.proxy_.preprocessRoutes(bye);
    EXPECT_TRUE(info.poppedOwn);
    EXPECT_EQ(bye.count(sip::HeaderId::Route), 0u);
    return info.flow;
  };
  // From the caller's side the BYE's Route set is the Record-Route in reverse: the last one
  // popped names the callee's flow.
  const std::vector<std::string> route = {std::string(rr[1].raw), std::string(rr[0].raw)};
  for (int i = 0; i < 2; ++i) {  // the second time from what the proxy remembers
    auto flow = routeOf(route);
    ASSERT_TRUE(flow.has_value()) << i;
    EXPECT_EQ(flow->address, kBob1.address) << i;
    EXPECT_EQ(flow->port, kBob1.port) << i;
  }

  // A token made by another worker (the same secret): decoded, then remembered.
  Peer other = udp("203.0.113.9", 5070);
  const std::string otherRoute = "<sip:" + tokens.encode(other) + "@192.0.2.1:5060;lr>";
  for (int i = 0; i < 2; ++i) {
    auto flow = routeOf({otherRoute});
    ASSERT_TRUE(flow.has_value()) << i;
    EXPECT_EQ(flow->address, other.address) << i;
    EXPECT_EQ(flow->port, 5070) << i;
  }

  // The callee's token with one MAC digit changed names nothing, however often it comes.
  std::string forged(rr[0].uri.user);
  forged.back() = forged.back() == '0' ? '1' : '0';
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(routeOf({"<sip:" + forged + "@192.0.2.1:5060;lr>"}).has_value()) << i;
  }
  // And the same token made with another secret.
  const FlowTokens stranger(std::vector<std::uint8_t>(32, 7));
  EXPECT_FALSE(routeOf({"<sip:" + stranger.encode(kBob1) + "@192.0.2.1:5060;lr>"}).has_value());
}

TEST(Proxy, BestResponseIsTheLowestClassWhenAllFail) {
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1), target("sip:bob@203.0.113.2", kBob2)};
  h.feed(request("MESSAGE"), kCaller);
  auto to1 = h.takeTo(kBob1);
  auto to2 = h.takeTo(kBob2);
  h.feed(answer(to1[0], 503, "b1"), kBob1);
  h.feed(answer(to2[0], 486, "b2"), kBob2);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 486);
}

TEST(Proxy, ARealAnswerBeatsOneWeMadeUpInItsClass) {
  // §16.7 step 6: a stale first contact times out (our 408), then the second group's callee
  // answers 486: the caller hears busy, not a timeout.
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1, 1000), target("sip:bob@203.0.113.2", kBob2, 500)};
  h.feed(request("MESSAGE"), kCaller);
  EXPECT_FALSE(h.takeTo(kBob1).empty());
  EXPECT_TRUE(h.takeTo(kBob2).empty()) << "q=0.5 waits for q=1.0";
  h.advance(std::chrono::milliseconds(32000));  // Timer F of the first branch
  auto to2 = h.takeTo(kBob2);
  ASSERT_EQ(to2.size(), 1u);
  EXPECT_TRUE(h.takeTo(kCaller).empty());
  h.feed(answer(to2[0], 486, "b2"), kBob2);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 486);
}

TEST(Proxy, TheNextServerOfADnsLookupIsTriedAfterA503NotAfterA486) {
  // RFC 3263 §4.3: the servers of a lookup are tried in order when one does not answer or
  // answers 503; any other final is the answer.
  auto servers = [] {
    Target first = target("sip:bob@example.net", kBob1, 1000);
    Target second = target("sip:bob@example.net", kBob2, 999);
    first.failover = second.failover = true;
    return std::vector<Target>{first, second};
  };
  Harness busy;
  busy.targets = servers();
  busy.feed(request("MESSAGE"), kCaller);
  auto to1 = busy.takeTo(kBob1);
  ASSERT_EQ(to1.size(), 1u);
  busy.feed(answer(to1[0], 486, "b1"), kBob1);
  EXPECT_TRUE(busy.takeTo(kBob2).empty()) << "a 486 is the answer";
  auto up = busy.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 486);

  Harness down;
  down.targets = servers();
  down.feed(request("MESSAGE"), kCaller);
  to1 = down.takeTo(kBob1);
  ASSERT_EQ(to1.size(), 1u);
  down.feed(answer(to1[0], 503, "b1"), kBob1);
  auto to2 = down.takeTo(kBob2);
  ASSERT_EQ(to2.size(), 1u) << "after a 503 the next server";
  down.feed(answer(to2[0], 200, "b2"), kBob2);
  up = down.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200);
}

TEST(Proxy, AChallengeIsPreferredAmong4xx) {
  // §16.7 step 6: 401, 407, 415, 420 and 484 before the other 4xx, whichever came first.
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1), target("sip:bob@203.0.113.2", kBob2)};
  h.feed(request("MESSAGE"), kCaller);
  auto to1 = h.takeTo(kBob1);
  auto to2 = h.takeTo(kBob2);
  h.feed(answer(to1[0], 404, "b1"), kBob1);
  h.feed(answer(to2[0], 407, "b2"), kBob2);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 407);
}

TEST(Proxy, A6xxCancelsTheOtherRingingBranch) {
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1), target("sip:bob@203.0.113.2", kBob2)};
  h.feed(request("INVITE"), kCaller);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 100) << "100 Trying at once";
  auto to1 = h.takeTo(kBob1);
  auto to2 = h.takeTo(kBob2);
  h.feed(answer(to1[0], 180, "b1"), kBob1);
  h.feed(answer(to2[0], 180, "b2"), kBob2);
  EXPECT_EQ(h.takeTo(kCaller).size(), 2u);  // both 180s go on
  h.feed(answer(to1[0], 603, "b1"), kBob1);
  auto cancel = h.takeTo(kBob2);
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].rfind("CANCEL sip:bob@203.0.113.2 SIP/2.0", 0), 0u) << cancel[0];
  sip::Message c, inv;
  ASSERT_FALSE(sip::parseMessage(cancel[0], c));
  ASSERT_FALSE(sip::parseMessage(to2[0], inv));
  EXPECT_EQ(*c.topVia().branch, *inv.topVia().branch) << "§9.1: the INVITE's branch";
  EXPECT_EQ(c.cseq().number, inv.cseq().number);
  h.feed(answer(to2[0], 487, "b2"), kBob2);
  up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 603);
}

/// A response to a forwarded request with a Contact and an SDP-like body.
std::string answerWithBody(const std::string& forwarded, int status, const std::string& toTag, const std::string& body,
                           const std::string& contact) {
  sip::Message req;
  EXPECT_FALSE(sip::parseMessage(forwarded, req));
  sip::Message resp = sip::Message::responseTo(req, status, {}, toTag);
  req.forEachValue(sip::HeaderId::RecordRoute, [&](std::string_view v) {
    resp.addHeader("Record-Route", v);
    return true;
  });
  resp.addHeader("Contact", "<" + contact + ">");
  resp.setBody(body, "application/sdp");
  std::string out;
  sip::serialize(resp, out);
  return out;
}

/// Refuses any body that offers plain RTP, like the secured mode does.
Refusal refusePlainRtp(const sip::Message& r) {
  if (r.body().find("RTP/AVP") == std::string_view::npos) return {};
  return {488, "Not Acceptable Here", "302 test \"plain RTP\""};
}

TEST(Proxy, ARefused2xxIsEndedAtTheCalleeAndAnotherForkStillAnswers) {
  Harness h;
  h.check = refusePlainRtp;
  h.targets = {target("sip:bob@203.0.113.1", kBob1), target("sip:bob@203.0.113.2", kBob2)};
  h.feed(request("INVITE"), kCaller);
  h.takeTo(kCaller);  // 100
  auto to1 = h.takeTo(kBob1);
  auto to2 = h.takeTo(kBob2);
  ASSERT_EQ(to1.size(), 1u);
  ASSERT_EQ(to2.size(), 1u);
  const std::string refused = answerWithBody(to1[0], 200, "b1", "m=audio 4000 RTP/AVP 0\r\n", "sip:bob@203.0.113.1:5070");
  h.feed(refused, kBob1);
  EXPECT_TRUE(h.takeTo(kCaller).empty()) << "the refused 2xx does not reach the caller";
  auto down = h.takeTo(kBob1);
  ASSERT_EQ(down.size(), 2u);
  sip::Message ack, bye;
  ASSERT_FALSE(sip::parseMessage(down[0], ack)) << down[0];
  ASSERT_FALSE(sip::parseMessage(down[1], bye)) << down[1];
  EXPECT_EQ(ack.method(), sip::Method::Ack);
  EXPECT_EQ(ack.requestUriText(), "sip:bob@203.0.113.1:5070") << "the 2xx's Contact";
  EXPECT_EQ(ack.cseq().number, 1u);
  EXPECT_EQ(*ack.to().tag(), "b1");
  EXPECT_EQ(*ack.from().tag(), "a1");
  EXPECT_EQ(ack.count(sip::HeaderId::Route), 0u) << "only our own Record-Routes: no route set";
  EXPECT_EQ(bye.method(), sip::Method::Bye);
  EXPECT_EQ(bye.cseq().number, 2u);
  EXPECT_EQ(bye.callId(), ack.callId());
  // The other fork answers with SRTP: that 2xx goes on, and the caller never sees a 488.
  h.feed(answerWithBody(to2[0], 200, "b2", "m=audio 4000 RTP/SAVP 0\r\n", "sip:bob@203.0.113.2"), kBob2);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200);
  EXPECT_NE(up[0].find("RTP/SAVP"), std::string::npos);
  // The refused 2xx again (our ACK was lost): ACKed again, still not passed on.
  h.feed(refused, kBob1);
  down = h.takeTo(kBob1);
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].rfind("ACK ", 0), 0u);
  EXPECT_TRUE(h.takeTo(kCaller).empty());
  EXPECT_EQ(h.proxy_.stats().refusedDialogs, 1u);
}

TEST(Proxy, ARefusedAckEndsItsDialogWithOneByeHoweverOftenItComes) {
  // The caller's ACK (with a refused answer) comes again with each retransmission of the 2xx:
  // the callee's dialog gets one BYE; another dialog gets its own.
  Harness h;
  auto ackOf = [](const std::string& toTag) {
    return "ACK sip:bob@203.0.113.1:5071 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKack" +
           toTag +
           "\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>;tag=" +
           toTag +
           "\r\n"
           "Call-ID: call-1@198.51.100.7\r\n"
           "CSeq: 1 ACK\r\n"
           "Content-Length: 0\r\n\r\n";
  };
  const Target callee = target("sip:bob@203.0.113.1:5071", kBob1);
  for (const char* toTag : {"b1", "b2"}) {
    const std::string text = ackOf(toTag);
    sip::Message ack;
    ASSERT_FALSE(sip::parseMessage(text, ack));
    EXPECT_TRUE(h.proxy_.endDialogOfRefusedAck(ack, callee, h.now)) << toTag;
    for (int again = 0; again < 3; ++again) EXPECT_FALSE(h.proxy_.endDialogOfRefusedAck(ack, callee, h.now));
    auto sent = h.takeTo(kBob1);
    ASSERT_EQ(sent.size(), 1u) << toTag;
    sip::Message bye;
    ASSERT_FALSE(sip::parseMessage(sent[0], bye));
    EXPECT_EQ(bye.methodText(), "BYE");
    EXPECT_EQ(bye.to().tag(), toTag);
    EXPECT_EQ(bye.cseq().number, 2u);
  }
  EXPECT_EQ(h.proxy_.stats().refusedDialogs, 2u);
}

TEST(Proxy, EachRefused2xxOfAForkingCalleeIsAckedAgainOnItsRetransmissions) {
  // One branch, and a forking proxy behind it: two 2xx with different To tags come back on the
  // same client transaction, both with plain RTP. Each dialog is ended once (ACK and BYE); a
  // retransmission of either gets its ACK again and nothing else.
  Harness h;
  h.check = refusePlainRtp;
  h.targets = {target("sip:bob@203.0.113.1", kBob1)};
  h.feed(request("INVITE"), kCaller);
  h.takeTo(kCaller);  // 100
  auto to1 = h.takeTo(kBob1);
  ASSERT_EQ(to1.size(), 1u);
  const std::string first = answerWithBody(to1[0], 200, "f1", "m=audio 4000 RTP/AVP 0\r\n", "sip:bob@203.0.113.1:5071");
  const std::string second =
      answerWithBody(to1[0], 200, "f2", "m=audio 4002 RTP/AVP 0\r\n", "sip:bob@203.0.113.1:5072");
  h.feed(first, kBob1);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 488);
  EXPECT_EQ(h.takeTo(kBob1).size(), 2u) << "ACK and BYE for f1";

  h.feed(second, kBob1);
  auto down = h.takeTo(kBob1);
  ASSERT_EQ(down.size(), 2u) << "ACK and BYE for f2";
  sip::Message ack;
  ASSERT_FALSE(sip::parseMessage(down[0], ack)) << down[0];
  EXPECT_EQ(ack.method(), sip::Method::Ack);
  EXPECT_EQ(*ack.to().tag(), "f2");
  EXPECT_EQ(ack.requestUriText(), "sip:bob@203.0.113.1:5072");
  EXPECT_EQ(down[1].rfind("BYE ", 0), 0u);

  for (int i = 0; i < 3; ++i) {
    h.feed(second, kBob1);
    down = h.takeTo(kBob1);
    ASSERT_EQ(down.size(), 1u) << "only the ACK again, no second BYE (retransmission " << i << ")";
    EXPECT_EQ(down[0].rfind("ACK ", 0), 0u);
    ASSERT_FALSE(sip::parseMessage(down[0], ack));
    EXPECT_EQ(*ack.to().tag(), "f2");
    h.feed(first, kBob1);
    down = h.takeTo(kBob1);
    ASSERT_EQ(down.size(), 1u);
    ASSERT_FALSE(sip::parseMessage(down[0], ack));
    EXPECT_EQ(*ack.to().tag(), "f1");
  }
  EXPECT_TRUE(h.takeTo(kCaller).empty()) << "no refused 2xx reaches the caller";
  EXPECT_EQ(h.proxy_.stats().refusedDialogs, 2u);
}

TEST(Proxy, ARefusedProvisionalCancelsItsBranchWhichEndsWithTheRefusal) {
  Harness h;
  h.check = refusePlainRtp;
  h.targets = {target("sip:bob@203.0.113.1", kBob1)};
  h.feed(request("INVITE"), kCaller);
  h.takeTo(kCaller);
  auto to1 = h.takeTo(kBob1);
  h.feed(answerWithBody(to1[0], 183, "b1", "m=audio 4000 RTP/AVP 0\r\n", "sip:bob@203.0.113.1"), kBob1);
  EXPECT_TRUE(h.takeTo(kCaller).empty()) << "the 183 is not passed on";
  auto cancel = h.takeTo(kBob1);
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].rfind("CANCEL ", 0), 0u);
  h.feed(answer(to1[0], 487, "b1"), kBob1);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 488);
  EXPECT_NE(up[0].find("Warning: 302 test \"plain RTP\""), std::string::npos) << up[0];
  EXPECT_EQ(h.proxy_.contextCount(), 0u);
}

TEST(Proxy, SequentialGroupsByQ) {
  Harness h;
  h.targets = {target("sip:bob@203.0.113.2", kBob2, 500), target("sip:bob@203.0.113.1", kBob1, 1000)};
  h.feed(request("MESSAGE"), kCaller);
  auto to1 = h.takeTo(kBob1);
  ASSERT_EQ(to1.size(), 1u);
  EXPECT_TRUE(h.takeTo(kBob2).empty()) << "the lower q waits";
  h.feed(answer(to1[0], 480, "b1"), kBob1);
  auto to2 = h.takeTo(kBob2);
  ASSERT_EQ(to2.size(), 1u);
  h.feed(answer(to2[0], 200, "b2"), kBob2);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200);
}

/// An INVITE to Bob that rings (180) until the ring timeout (30 s): returns the INVITE as Bob got
/// it; what went to Bob and to the caller since is left in `h` to take.
std::string ringUntilTheTimeout(Harness& h) {
  h.targets = {target("sip:bob@203.0.113.1", kBob1)};
  h.feed(request("INVITE"), kCaller);
  h.takeTo(kCaller);
  auto to1 = h.takeTo(kBob1);
  EXPECT_EQ(to1.size(), 1u);
  h.feed(answer(to1[0], 180, "b1"), kBob1);
  h.takeTo(kCaller);
  h.advance(std::chrono::seconds(31));
  return to1[0];
}

TEST(Proxy, RingTimeoutCancelsAndAnswers480) {
  Harness h;
  ringUntilTheTimeout(h);
  auto cancel = h.takeTo(kBob1);
  ASSERT_FALSE(cancel.empty());
  EXPECT_EQ(cancel.back().rfind("CANCEL ", 0), 0u);
  auto up = h.takeTo(kCaller);
  ASSERT_FALSE(up.empty());
  EXPECT_EQ(statusOf(up.back()), 480);
}

TEST(Proxy, RingTimeoutAfterTheCallersCancelAnswers487) {
  // The caller cancels a ringing call; the callee never answers the CANCEL's 487. When the ring
  // timeout ends the wait, the INVITE ends as what it is: cancelled (487), not unanswered (480).
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1)};
  h.feed(request("INVITE"), kCaller);
  h.takeTo(kCaller);
  auto to1 = h.takeTo(kBob1);
  h.feed(answer(to1[0], 180, "b1"), kBob1);
  h.takeTo(kCaller);
  h.feed(request("CANCEL"), kCaller);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200) << "the CANCEL's answer";
  h.advance(std::chrono::seconds(31));
  up = h.takeTo(kCaller);
  ASSERT_FALSE(up.empty());
  EXPECT_EQ(statusOf(up.back()), 487);
}

/// The ACK a caller's INVITE client transaction sends for a non-2xx final (§17.1.1.3).
std::string ackFor(const std::string& finalResponse) {
  sip::Message r;
  EXPECT_FALSE(sip::parseMessage(finalResponse, r));
  std::string ack = request("ACK");
  const std::string to = "To: <sip:bob@example.com>\r\n";
  ack.replace(ack.find(to), to.size(),
              "To: <sip:bob@example.com>;tag=" + std::string(r.to().tag().value_or("")) + "\r\n");
  return ack;
}

TEST(Proxy, A2xxThatCrossesTheRingTimeoutCancelStillReachesTheCaller) {
  // §16.7 step 5 / step 10: a 2xx to INVITE is always passed on, even after the proxy's own final.
  Harness h;
  const std::string invite = ringUntilTheTimeout(h);
  auto up = h.takeTo(kCaller);
  ASSERT_FALSE(up.empty());
  ASSERT_EQ(statusOf(up.back()), 480);
  h.feed(ackFor(up.back()), kCaller);  // the server transaction is Confirmed now
  const std::string ok = answer(invite, 200, "b1");
  h.feed(ok, kBob1);
  up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200);
  sip::Message m;
  ASSERT_FALSE(sip::parseMessage(up[0], m));
  EXPECT_EQ(*m.to().tag(), "b1");
  EXPECT_EQ(m.count(sip::HeaderId::Via), 1u) << "our Via is off";
  EXPECT_EQ(*m.topVia().branch, "z9hG4bKcaller1");
  // Its retransmission goes on too, also once the server transaction is gone (Timer I).
  h.advance(std::chrono::seconds(6));
  h.feed(ok, kBob1);
  up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200);
  EXPECT_EQ(h.proxy_.stats().late2xx, 2u);
}

TEST(Proxy, A2xxAfterTheCallersCancelWasAnswered487StillReachesTheCaller) {
  // The caller cancels before the callee sent anything: the branch is not waited for (the CANCEL
  // may only go after a provisional, §9.1), so the caller has its 487 at once. The callee then
  // answers 200: it goes on, and the caller ends the call it no longer wants.
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1)};
  h.feed(request("INVITE"), kCaller);
  h.takeTo(kCaller);
  auto to1 = h.takeTo(kBob1);
  h.feed(request("CANCEL"), kCaller);
  auto up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(statusOf(up[0]), 200) << "the CANCEL's answer";
  EXPECT_EQ(statusOf(up[1]), 487);
  h.feed(answer(to1[0], 200, "b1"), kBob1);
  up = h.takeTo(kCaller);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(statusOf(up[0]), 200);
  EXPECT_NE(up[0].find("CSeq: 1 INVITE"), std::string::npos) << up[0];
  EXPECT_EQ(h.proxy_.stats().late2xx, 1u);
}

TEST(Proxy, A2xxThatCannotReachTheCallerEndsTheCallCleanly) {
  // The caller's transport is gone: the send fails, the server transaction ends and the proxy is
  // told (onServerFailure) in the middle of passing the 2xx on. Nothing of the call may be used
  // after that (AddressSanitizer checks), and nothing is left behind.
  Harness h;
  h.targets = {target("sip:bob@203.0.113.1", kBob1)};
  h.feed(request("INVITE"), kCaller);
  h.takeTo(kCaller);
  auto to1 = h.takeTo(kBob1);
  h.rec.unreachable = kCaller;
  h.feed(answer(to1[0], 200, "b1"), kBob1);
  EXPECT_TRUE(h.takeTo(kCaller).empty());
  EXPECT_EQ(h.proxy_.contextCount(), 0u);
  h.advance(std::chrono::seconds(40));
  h.feed(answer(to1[0], 200, "b1"), kBob1);  // a retransmission after everything ended
  EXPECT_EQ(h.proxy_.contextCount(), 0u);
}

TEST(Proxy, LoopIsSeenOnlyWhenTheRequestComesBackUnchanged) {
  Harness h;
  h.targets = {target("", udp("192.0.2.1", 5060))};  // forwarded to ourselves, Request-URI kept
  h.feed(request("MESSAGE"), kCaller);
  auto self = h.takeTo(udp("192.0.2.1", 5060));
  ASSERT_EQ(self.size(), 1u);
  sip::Message back;
  ASSERT_FALSE(sip::parseMessage(self[0], back));
  EXPECT_TRUE(h.proxy_.isLoop(back));
  sip::Message fresh;
  std::string other = request("MESSAGE", 2);
  ASSERT_FALSE(sip::parseMessage(other, fresh));
  EXPECT_FALSE(h.proxy_.isLoop(fresh));
}

TEST(Proxy, ARequestBackWithAnotherRouteSetIsASpiralNotALoop) {
  // §16.6 step 8: the Route values count. Sent on through an application server (a preloaded
  // Route), the request comes back with that Route taken off: a spiral, forwarded again.
  Harness h;
  h.targets = {target("", udp("192.0.2.1", 5060))};
  std::string req = request("MESSAGE");
  req.insert(req.find("Max-Forwards"), "Route: <sip:as.example.net;lr>\r\n");
  h.feed(req, kCaller);
  auto out = h.takeTo(udp("192.0.2.1", 5060));
  ASSERT_EQ(out.size(), 1u);
  sip::Message unchanged;
  ASSERT_FALSE(sip::parseMessage(out[0], unchanged));
  EXPECT_TRUE(h.proxy_.isLoop(unchanged));
  std::string spiral = out[0];
  const std::size_t at = spiral.find("Route: <sip:as.example.net;lr>\r\n");
  ASSERT_NE(at, std::string::npos);
  spiral.erase(at, std::string("Route: <sip:as.example.net;lr>\r\n").size());
  sip::Message back;
  ASSERT_FALSE(sip::parseMessage(spiral, back));
  EXPECT_FALSE(h.proxy_.isLoop(back));
}

}  // namespace
}  // namespace sipwarden::proxy
