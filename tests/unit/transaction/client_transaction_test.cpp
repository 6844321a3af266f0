// Client transactions (RFC 3261 §17.1, RFC 6026 §7.2) on simulated time: Timer A/E schedules,
// B/F timeouts, K/D/M clean-ups, the ACK the INVITE transaction builds for a non-2xx final,
// RFC 6026 Accepted, reliable transports, stray responses and transport failures.
#include "test_support.hpp"

namespace sipwarden::transaction::test {
namespace {

using Ev = UserEvent;

class ClientTest : public LayerTest {
 protected:
  TransactionId start(const RequestSpec& s, const transport::Peer& to) {
    sip::Message m = request(s);
    return layer.sendRequest(m, to, now);
  }
  void answer(const RequestSpec& s, int status, std::string_view toTag = "a6c85cf") {
    deliver(responseText(s, status, toTag), uas);
  }
  std::size_t responses(TransactionId id) const {
    std::size_t n = 0;
    for (const UserEvent& e : tu.events) n += e.type == Ev::Response && e.id == id ? 1 : 0;
    return n;
  }
};

// ---- non-INVITE ----

class ClientNonInvite : public ClientTest {
 protected:
  RequestSpec spec = makeSpec("OPTIONS", "z9hG4bKclient1", [](RequestSpec& s) { s.sentBy = "proxy.example.com:5060"; });
};

TEST_F(ClientNonInvite, HappyPathThenTimerK) {
  TransactionId id = start(spec, uas);
  ASSERT_NE(id, 0U);
  EXPECT_EQ(layer.state(id), State::Trying);
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].to, uas);
  EXPECT_EQ(sender.sent[0].line(), "OPTIONS sip:bob@biloxi.example.com SIP/2.0");
  EXPECT_EQ(layer.clientCount(), 1U);

  at(100ms);
  answer(spec, 200);
  ASSERT_EQ(responses(id), 1U);
  EXPECT_EQ(tu.last(Ev::Response)->status, 200);
  EXPECT_EQ(layer.state(id), State::Completed);

  answer(spec, 200);  // retransmitted final: absorbed
  answer(spec, 200);
  EXPECT_EQ(responses(id), 1U);
  EXPECT_EQ(layer.stats().responseRetransmissions, 2U);

  at(100ms + 5000ms - 1ms);  // Timer K = T4
  EXPECT_EQ(layer.clientCount(), 1U);
  at(100ms + 5000ms);
  EXPECT_EQ(layer.clientCount(), 0U);
  EXPECT_EQ(sentCount("OPTIONS"), 1U);  // E stopped by the final
  EXPECT_FALSE(layer.nextTimer());
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);
}

TEST_F(ClientNonInvite, LostRequestRetransmittedByTimerEUntilTimerF) {
  TransactionId id = start(spec, uas);
  runUntil(40000ms);
  // E: T1 doubling up to T2: 500, 1000, 2000, 4000, 4000 ... until F = 64*T1.
  std::vector<milliseconds> expected = {0ms,     500ms,   1500ms,  3500ms,  7500ms, 11500ms,
                                        15500ms, 19500ms, 23500ms, 27500ms, 31500ms};
  EXPECT_EQ(sendTimes("OPTIONS"), expected);
  for (const SentMessage& s : sender.sent) EXPECT_EQ(s.bytes, sender.sent[0].bytes);
  ASSERT_EQ(tu.count(Ev::ClientFailure), 1U);  // once
  EXPECT_EQ(tu.last(Ev::ClientFailure)->id, id);
  EXPECT_TRUE(tu.last(Ev::ClientFailure)->timeout);
  EXPECT_EQ(layer.clientCount(), 0U);
  EXPECT_FALSE(layer.nextTimer());
}

TEST_F(ClientNonInvite, ProvisionalSwitchesTimerEToT2) {
  TransactionId id = start(spec, uas);
  at(500ms);  // first retransmission; next E due at 1500
  at(700ms);
  answer(spec, 100);
  EXPECT_EQ(layer.state(id), State::Proceeding);
  answer(spec, 183);  // every provisional goes up
  EXPECT_EQ(responses(id), 2U);
  runUntil(12000ms);
  std::vector<milliseconds> expected = {0ms, 500ms, 1500ms, 5500ms, 9500ms};
  EXPECT_EQ(sendTimes("OPTIONS"), expected);
  answer(spec, 200);
  EXPECT_EQ(responses(id), 3U);
  runUntil(60000ms);
  EXPECT_EQ(sendTimes("OPTIONS"), expected);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);
  EXPECT_EQ(layer.clientCount(), 0U);
}

TEST_F(ClientNonInvite, ReliableTransportHasNoRetransmissionsAndZeroTimerK) {
  spec.transport = "TCP";
  TransactionId id = start(spec, uasTcp);
  at(20000ms);
  EXPECT_EQ(sentCount("OPTIONS"), 1U);
  answer(spec, 404);
  EXPECT_EQ(responses(id), 1U);
  EXPECT_EQ(layer.clientCount(), 0U);
  answer(spec, 404);  // after termination a retransmission is stray
  EXPECT_EQ(tu.count(Ev::Stray), 1U);
}

TEST_F(ClientNonInvite, ReliableTransportTimesOutWithTimerF) {
  spec.transport = "TCP";
  TransactionId id = start(spec, uasTcp);
  at(31999ms);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);
  at(32000ms);
  ASSERT_EQ(tu.count(Ev::ClientFailure), 1U);
  EXPECT_EQ(tu.last(Ev::ClientFailure)->id, id);
  EXPECT_EQ(sentCount("OPTIONS"), 1U);
}

TEST_F(ClientNonInvite, FirstSendFailureCreatesNothing) {
  sender.failing = true;
  EXPECT_EQ(start(spec, uas), 0U);
  EXPECT_EQ(layer.clientCount(), 0U);
  EXPECT_TRUE(tu.events.empty());
  EXPECT_FALSE(layer.nextTimer());
  sender.failing = false;
  EXPECT_NE(start(spec, uas), 0U);  // the branch is free again
}

TEST_F(ClientNonInvite, RetransmissionSendFailureIsReported) {
  TransactionId id = start(spec, uas);
  sender.failing = true;
  at(500ms);
  ASSERT_EQ(tu.count(Ev::ClientFailure), 1U);
  EXPECT_EQ(tu.last(Ev::ClientFailure)->id, id);
  EXPECT_FALSE(tu.last(Ev::ClientFailure)->timeout);
  at(40000ms);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 1U);
  EXPECT_EQ(layer.clientCount(), 0U);
}

TEST_F(ClientNonInvite, DuplicateBranchAndAckAreRefused) {
  EXPECT_NE(start(spec, uas), 0U);
  EXPECT_EQ(start(spec, uas), 0U);
  RequestSpec ack = spec;
  ack.method = "ACK";
  ack.branch = "z9hG4bKother";
  EXPECT_EQ(start(ack, uas), 0U);
  EXPECT_TRUE(layer.sendStateless(request(ack), uas));
  EXPECT_EQ(sentCount("ACK"), 1U);
  EXPECT_EQ(layer.clientCount(), 1U);
}

TEST_F(ClientNonInvite, ResponseForAnotherMethodIsStray) {
  TransactionId id = start(spec, uas);
  RequestSpec other = spec;
  other.method = "MESSAGE";
  answer(other, 200);
  EXPECT_EQ(responses(id), 0U);
  EXPECT_EQ(tu.count(Ev::Stray), 1U);
  EXPECT_EQ(layer.stats().strayResponses, 1U);
}

// ---- INVITE ----

class ClientInvite : public ClientTest {
 protected:
  RequestSpec spec = makeSpec("INVITE", "z9hG4bKinv1", [](RequestSpec& s) {
    s.sentBy = "proxy.example.com:5060";
    s.extraHeaders =
        "Route: <sip:p1.example.com;lr>\nRoute: <sip:p2.example.com;lr>\n"
        "Contact: <sip:alice@pc33.atlanta.example.com>\n";
  });
};

TEST_F(ClientInvite, LostInviteRetransmittedByTimerAUntilTimerB) {
  TransactionId id = start(spec, uas);
  EXPECT_EQ(layer.state(id), State::Calling);
  runUntil(40000ms);
  // A doubles from T1 without a cap (§17.1.1.2); B = 64*T1.
  std::vector<milliseconds> expected = {0ms, 500ms, 1500ms, 3500ms, 7500ms, 15500ms, 31500ms};
  EXPECT_EQ(sendTimes("INVITE"), expected);
  ASSERT_EQ(tu.count(Ev::ClientFailure), 1U);
  EXPECT_TRUE(tu.last(Ev::ClientFailure)->timeout);
  EXPECT_EQ(layer.clientCount(), 0U);
}

TEST_F(ClientInvite, ProvisionalStopsRetransmissionsAndTimerB) {
  TransactionId id = start(spec, uas);
  at(600ms);
  answer(spec, 100);
  answer(spec, 180);
  EXPECT_EQ(layer.state(id), State::Proceeding);
  EXPECT_EQ(responses(id), 2U);
  runUntil(100000ms);
  EXPECT_EQ(sentCount("INVITE"), 2U);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);  // B only runs in Calling
  EXPECT_EQ(layer.clientCount(), 1U);
  EXPECT_FALSE(layer.nextTimer());
  // The TU gives up (e.g. 64*T1 after its CANCEL, §9.1).
  EXPECT_TRUE(layer.terminate(id));
  EXPECT_EQ(layer.clientCount(), 0U);
}

TEST_F(ClientInvite, NonSuccessFinalIsAckedByTheTransaction) {
  TransactionId id = start(spec, uas);
  at(200ms);
  answer(spec, 486, "busytag");
  ASSERT_EQ(responses(id), 1U);
  EXPECT_EQ(tu.last(Ev::Response)->status, 486);
  EXPECT_EQ(layer.state(id), State::Completed);
  ASSERT_EQ(sentCount("ACK"), 1U);

  // §17.1.1.3: the ACK's contents.
  sip::Message invite = parseWire(sender.sent[0].bytes);
  sip::Message ack = parseWire(sender.sent.back().bytes);
  EXPECT_EQ(sender.sent.back().to, uas);
  EXPECT_EQ(ack.method(), sip::Method::Ack);
  EXPECT_EQ(ack.requestUriText(), invite.requestUriText());
  EXPECT_EQ(ack.viaCount(), 1U);
  EXPECT_EQ(ack.topVia().raw, invite.topVia().raw);
  EXPECT_EQ(ack.callId(), invite.callId());
  EXPECT_EQ(ack.from().raw, invite.from().raw);
  EXPECT_EQ(ack.to().tag(), "busytag");
  EXPECT_EQ(ack.to().uri.raw, invite.to().uri.raw);
  EXPECT_EQ(ack.cseq().number, invite.cseq().number);
  EXPECT_EQ(ack.cseq().method, sip::Method::Ack);
  EXPECT_EQ(ack.maxForwards(), 70U);
  auto routes = ack.routeSet(sip::HeaderId::Route);
  ASSERT_EQ(routes.size(), 2U);
  EXPECT_EQ(routes[0].uri.host, "p1.example.com");
  EXPECT_EQ(routes[1].uri.host, "p2.example.com");
  EXPECT_EQ(ack.count(sip::HeaderId::Contact), 0U);
  EXPECT_TRUE(ack.body().empty());

  // Retransmitted finals are answered with the same ACK and not passed up.
  answer(spec, 486, "busytag");
  answer(spec, 486, "busytag");
  EXPECT_EQ(responses(id), 1U);
  ASSERT_EQ(sentCount("ACK"), 3U);
  EXPECT_EQ(sender.sent.back().bytes, sender.sent[sender.sent.size() - 2].bytes);

  // No more INVITE retransmissions; Timer D = 32 s.
  at(200ms + 32000ms - 1ms);
  EXPECT_EQ(sentCount("INVITE"), 1U);
  EXPECT_EQ(layer.clientCount(), 1U);
  at(200ms + 32000ms);
  EXPECT_EQ(layer.clientCount(), 0U);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);
}

TEST_F(ClientInvite, SuccessGoesToAcceptedAndPassesEvery2xx) {
  TransactionId id = start(spec, uas);
  answer(spec, 180);
  at(300ms);
  answer(spec, 200, "fork1");
  EXPECT_EQ(layer.state(id), State::Accepted);
  answer(spec, 200, "fork1");  // retransmission: RFC 6026 passes it up
  answer(spec, 200, "fork2");  // another fork's answer too
  answer(spec, 180);           // late provisional: absorbed
  answer(spec, 486);           // non-2xx in Accepted: absorbed
  EXPECT_EQ(responses(id), 4U);
  EXPECT_EQ(sentCount("ACK"), 0U);  // the TU ACKs a 2xx
  at(300ms + 32000ms - 1ms);
  EXPECT_EQ(layer.clientCount(), 1U);
  at(300ms + 32000ms);  // Timer M = 64*T1
  EXPECT_EQ(layer.clientCount(), 0U);
  EXPECT_EQ(sentCount("INVITE"), 1U);
  answer(spec, 200, "fork1");  // after M: stray, for the proxy to forward (§16.7)
  EXPECT_EQ(tu.count(Ev::Stray), 1U);
}

TEST_F(ClientInvite, ReliableTransport) {
  spec.transport = "TCP";
  TransactionId id = start(spec, uasTcp);
  at(20000ms);
  EXPECT_EQ(sentCount("INVITE"), 1U);  // no Timer A
  answer(spec, 603);
  EXPECT_EQ(responses(id), 1U);
  EXPECT_EQ(sentCount("ACK"), 1U);
  EXPECT_EQ(sender.sent.back().to, uasTcp);
  EXPECT_EQ(layer.clientCount(), 0U);  // Timer D is zero
  EXPECT_FALSE(layer.nextTimer());
}

TEST_F(ClientInvite, ReliableTransportTimerB) {
  spec.transport = "TCP";
  start(spec, uasTcp);
  at(32000ms);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 1U);
}

TEST_F(ClientInvite, CancelIsItsOwnTransaction) {
  TransactionId inviteId = start(spec, uas);
  answer(spec, 180);
  RequestSpec can = spec;
  can.method = "CANCEL";
  can.extraHeaders = "Route: <sip:p1.example.com;lr>\nRoute: <sip:p2.example.com;lr>\n";
  TransactionId cancelId = start(can, uas);
  ASSERT_NE(cancelId, 0U);
  EXPECT_NE(cancelId, inviteId);
  EXPECT_EQ(layer.clientCount(), 2U);
  answer(can, 200);
  answer(spec, 487);
  ASSERT_EQ(responses(cancelId), 1U);
  ASSERT_EQ(responses(inviteId), 2U);
  EXPECT_EQ(tu.last(Ev::Response)->status, 487);
  EXPECT_EQ(sentCount("ACK"), 1U);
  runUntil(60000ms);
  EXPECT_EQ(layer.clientCount(), 0U);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);
}

TEST_F(ClientInvite, AckSendFailureEndsQuietlyAfterTheFinalGoesUp) {
  TransactionId id = start(spec, uas);
  sender.failing = true;
  answer(spec, 486);
  EXPECT_EQ(responses(id), 1U);
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);
  EXPECT_EQ(layer.clientCount(), 0U);
}

TEST_F(ClientInvite, StrayResponses) {
  answer(spec, 200);
  ASSERT_EQ(tu.count(Ev::Stray), 1U);
  EXPECT_EQ(tu.last(Ev::Stray)->status, 200);
  EXPECT_EQ(tu.last(Ev::Stray)->from, uas);
  TransactionId id = start(spec, uas);
  RequestSpec other = spec;
  other.branch = "z9hG4bKinv2";
  answer(other, 200);
  EXPECT_EQ(tu.count(Ev::Stray), 2U);
  EXPECT_EQ(responses(id), 0U);
}

TEST_F(ClientInvite, RetransmissionsAreByteIdentical) {
  start(spec, uas);
  at(500ms);
  at(1500ms);
  ASSERT_EQ(sentCount("INVITE"), 3U);
  EXPECT_EQ(sender.sent[1].bytes, sender.sent[0].bytes);
  EXPECT_EQ(sender.sent[2].bytes, sender.sent[0].bytes);
  sip::Message first = parseWire(sender.sent[0].bytes);
  EXPECT_EQ(first.topVia().branch, "z9hG4bKinv1");
}

// ---- RFC 3261 §18.1.1: large requests over TCP, back to UDP when TCP cannot connect ----

class ClientLargeRequest : public ClientTest {
 protected:
  /// A request of about 1,500 bytes for UDP: over the default 1,300-byte limit.
  RequestSpec big = makeSpec("MESSAGE", "z9hG4bKbig1", [](RequestSpec& s) {
    s.sentBy = "proxy.example.com:5060";
    s.extraHeaders = "Subject: " + std::string(1400, 'x') + "\n";
  });
  [[nodiscard]] static sip::Message sentMessage(const SentMessage& m) { return parseWire(m.bytes); }
};

TEST_F(ClientLargeRequest, GoesOverTcpToTheSameAddressWithItsViaChanged) {
  TransactionId id = start(big, uas);
  ASSERT_NE(id, 0U);
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].to.transport, transport::TransportKind::Tcp);
  EXPECT_EQ(sender.sent[0].to.address, uas.address);
  EXPECT_EQ(sender.sent[0].to.port, uas.port);
  EXPECT_EQ(sender.sent[0].to.connectionId, 0U) << "a connection of its own (or the one already open)";
  EXPECT_GT(sender.sent[0].bytes.size(), 1300U);
  EXPECT_EQ(sentMessage(sender.sent[0]).topVia().transport, "TCP");
  EXPECT_EQ(sentMessage(sender.sent[0]).topVia().branch, "z9hG4bKbig1") << "only the transport changes";
  at(5000ms);
  EXPECT_EQ(sentCount("MESSAGE"), 1U) << "reliable now: no Timer E";
  deliver(responseText(big, 200), uasTcp);
  ASSERT_EQ(responses(id), 1U);
  EXPECT_EQ(layer.stats().sizeSwitches, 1U);
  EXPECT_EQ(layer.stats().udpFallbacks, 0U);
}

TEST_F(ClientLargeRequest, AFailedConnectSendsItOverUdpAfterAll) {
  TransactionId id = start(big, uas);
  at(200ms);
  transport::Peer tcp = uas;
  tcp.transport = transport::TransportKind::Tcp;
  EXPECT_EQ(layer.transportFailed(tcp, now), 1U);
  ASSERT_EQ(sender.sent.size(), 2U);
  EXPECT_EQ(sender.sent[1].to, uas);
  EXPECT_EQ(sentMessage(sender.sent[1]).topVia().transport, "UDP");
  EXPECT_EQ(tu.count(Ev::ClientFailure), 0U);
  // Unreliable from here: Timer E retransmits from the UDP send on.
  at(700ms);
  EXPECT_EQ(sentCount("MESSAGE"), 3U);
  EXPECT_EQ(sender.sent[2].bytes, sender.sent[1].bytes);
  answer(big, 202);
  ASSERT_EQ(responses(id), 1U);
  EXPECT_EQ(layer.stats().udpFallbacks, 1U);
}

TEST_F(ClientLargeRequest, NoTcpAtAllMeansUdpAtOnce) {
  sender.failingKind = transport::TransportKind::Tcp;
  TransactionId id = start(big, uas);
  ASSERT_NE(id, 0U);
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].to, uas);
  EXPECT_EQ(sentMessage(sender.sent[0]).topVia().transport, "UDP");
  at(500ms);
  EXPECT_EQ(sentCount("MESSAGE"), 2U) << "Timer E runs";
}

TEST_F(ClientLargeRequest, OnceAnsweredOverTcpThereIsNoGoingBack) {
  TransactionId id = start(big, uas);
  deliver(responseText(big, 100), uasTcp);
  transport::Peer tcp = uas;
  tcp.transport = transport::TransportKind::Tcp;
  EXPECT_EQ(layer.transportFailed(tcp, now), 0U) << "Proceeding: not a connect failure";
  EXPECT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(layer.state(id), State::Proceeding);
}

TEST_F(ClientLargeRequest, SmallRequestsAndADisabledLimitStayOnUdp) {
  RequestSpec small = makeSpec("MESSAGE", "z9hG4bKsmall");
  start(small, uas);
  EXPECT_EQ(sender.sent.back().to.transport, transport::TransportKind::Udp);
  layer.setUdpSizeLimit(0);
  start(big, uas);
  EXPECT_EQ(sender.sent.back().to.transport, transport::TransportKind::Udp);
  EXPECT_EQ(sentMessage(sender.sent.back()).topVia().transport, "UDP");
  layer.setUdpSizeLimit(2000);
  RequestSpec big2 = big;
  big2.branch = "z9hG4bKbig2";
  start(big2, uas);
  EXPECT_EQ(sender.sent.back().to.transport, transport::TransportKind::Udp) << "under a 2,000-byte limit";
}

TEST_F(ClientLargeRequest, InviteFallsBackAndItsAckFollowsOverUdp) {
  big.method = "INVITE";
  big.branch = "z9hG4bKbiginv";
  TransactionId id = start(big, uas);
  transport::Peer tcp = uas;
  tcp.transport = transport::TransportKind::Tcp;
  layer.transportFailed(tcp, now);
  at(500ms);
  EXPECT_EQ(sentCount("INVITE"), 3U) << "TCP try, UDP, then Timer A";
  answer(big, 486);
  ASSERT_EQ(responses(id), 1U);
  ASSERT_EQ(sender.sent.back().line().rfind("ACK ", 0), 0U);
  EXPECT_EQ(sender.sent.back().to, uas);
  EXPECT_EQ(sentMessage(sender.sent.back()).topVia().transport, "UDP");
}

TEST(ClientTransportFailure, AFailedConnectEndsTheTransactionsSentThatWayAtOnce) {
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  RecordingSender sender{now};
  RecordingUser tu;
  TransactionLayer layer(sender, tu);
  const transport::Peer tcp = peer("192.0.2.30", 5060, transport::TransportKind::Tcp);
  const transport::Peer other = peer("192.0.2.31", 5060, transport::TransportKind::Tcp);
  sip::Message a = request(makeSpec("OPTIONS", "z9hG4bKa1", [](RequestSpec& s) { s.transport = "TCP"; }));
  sip::Message b = request(makeSpec("INVITE", "z9hG4bKb1", [](RequestSpec& s) { s.transport = "TCP"; }));
  sip::Message c = request(makeSpec("OPTIONS", "z9hG4bKc1", [](RequestSpec& s) { s.transport = "TCP"; }));
  TransactionId ia = layer.sendRequest(a, tcp, now);
  TransactionId ib = layer.sendRequest(b, tcp, now);
  TransactionId ic = layer.sendRequest(c, other, now);
  EXPECT_EQ(layer.transportFailed(tcp, now), 2U);
  ASSERT_EQ(tu.count(UserEvent::ClientFailure), 2U);
  EXPECT_FALSE(tu.events[0].timeout) << "a transport error (§17.1.4), not a timeout";
  EXPECT_EQ(tu.events[0].id, ia);
  EXPECT_EQ(tu.events[1].id, ib);
  EXPECT_FALSE(layer.state(ia));
  EXPECT_TRUE(layer.state(ic)) << "another destination is not affected";
}

/// A layer whose requests go over TCP connection 7 (a registered flow) unless a test says otherwise.
class ClientConnectionLost : public ::testing::Test {
 protected:
  ClientConnectionLost() { flow.connectionId = 7; }

  static RequestSpec tcpSpec(const char* method, const char* branch) {
    return makeSpec(method, branch, [](RequestSpec& s) { s.transport = "TCP"; });
  }
  /// `spec` answered with `status` over the flow.
  void answer(const RequestSpec& spec, int status) {
    const std::string text = responseText(spec, status);
    sip::Message m;
    ASSERT_TRUE(sip::parseMessage(text, m).ok());
    layer.receive(m, flow, now);
  }

  TimePoint now = TimePoint{} + std::chrono::hours(1);
  RecordingSender sender{now};
  RecordingUser tu;
  TransactionLayer layer{sender, tu};
  transport::Peer flow = peer("192.0.2.30", 5060, transport::TransportKind::Tcp);
};

TEST_F(ClientConnectionLost, ARequestWithoutItsFinalFailsWhenItsConnectionCloses) {
  transport::Peer otherFlow = flow;
  otherFlow.connectionId = 8;
  const RequestSpec ringing = tcpSpec("INVITE", "z9hG4bKring");
  const RequestSpec answered = tcpSpec("OPTIONS", "z9hG4bKdone");
  TransactionId trying = layer.sendRequest(request(tcpSpec("MESSAGE", "z9hG4bKtry")), flow, now, true, true);
  TransactionId proceeding = layer.sendRequest(request(ringing), flow, now, true, true);
  TransactionId completed = layer.sendRequest(request(answered), flow, now, true, true);
  TransactionId notAFlow = layer.sendRequest(request(tcpSpec("MESSAGE", "z9hG4bKnot")), flow, now);
  TransactionId elsewhere = layer.sendRequest(request(tcpSpec("MESSAGE", "z9hG4bKelse")), otherFlow, now, true, true);
  answer(ringing, 180);
  answer(answered, 200);
  ASSERT_EQ(layer.state(proceeding), State::Proceeding);
  const std::size_t before = tu.count(UserEvent::ClientFailure);

  EXPECT_EQ(layer.connectionLost(flow.connectionId), 2U);
  EXPECT_EQ(tu.count(UserEvent::ClientFailure), before + 2);
  EXPECT_FALSE(tu.events.back().timeout) << "a transport error (§17.1.4), not a timeout";
  EXPECT_FALSE(layer.state(trying));
  EXPECT_FALSE(layer.state(proceeding)) << "a ringing INVITE can get no final that way either";
  EXPECT_TRUE(layer.state(elsewhere)) << "another connection is not affected";
  EXPECT_TRUE(layer.state(notAFlow)) << "not sent to a flow: its answer may come on a new connection";
  // The answered one is not failed: it ended with its final (non-INVITE over TCP: no Timer K).
  EXPECT_EQ(tu.count(UserEvent::Response), 2U) << "the 180 and the 200";
  std::vector<TransactionId> failedIds;
  for (const auto& e : tu.events) {
    if (e.type == UserEvent::ClientFailure) failedIds.push_back(e.id);
  }
  EXPECT_EQ(failedIds, (std::vector<TransactionId>{trying, proceeding}));
  EXPECT_EQ(std::count(failedIds.begin(), failedIds.end(), completed), 0);
  EXPECT_EQ(layer.stats().connectionLosses, 2U);
  EXPECT_EQ(layer.connectionLost(flow.connectionId), 0U) << "reported once";
  EXPECT_EQ(layer.connectionLost(99), 0U) << "never used for a request";
}

TEST_F(ClientConnectionLost, AnInviteRingingLongerThanTimerBStillFails) {
  const RequestSpec spec = tcpSpec("INVITE", "z9hG4bKlong");
  TransactionId id = layer.sendRequest(request(spec), flow, now, true, true);
  answer(spec, 180);
  now += 2 * 64 * layer.timers().t1;
  layer.advance(now);
  ASSERT_EQ(layer.state(id), State::Proceeding);
  EXPECT_EQ(layer.connectionLost(flow.connectionId), 1U);
  EXPECT_FALSE(layer.state(id));
}

TEST_F(ClientConnectionLost, EndedTransactionsLeaveNothingBehind) {
  const RequestSpec spec = tcpSpec("MESSAGE", "z9hG4bKgone");
  TransactionId id = layer.sendRequest(request(spec), flow, now, true, true);
  answer(spec, 200);
  now += 64 * layer.timers().t1;
  layer.advance(now);
  ASSERT_FALSE(layer.state(id));
  EXPECT_EQ(layer.connectionLost(flow.connectionId), 0U);
  EXPECT_EQ(tu.count(UserEvent::ClientFailure), 0U);
}

}  // namespace
}  // namespace sipwarden::transaction::test
