// Server transactions (RFC 3261 §17.2, RFC 6026 §7.1) on simulated time: happy paths,
// retransmissions absorbed and answered with the last response, timers G/H/I/J/L with their
// exact schedules, auto 100 Trying, ACK handling, reliable transports, and transport failures.
#include "test_support.hpp"

namespace sipwarden::transaction::test {
namespace {

using Ev = UserEvent;

class ServerNonInvite : public LayerTest {
 protected:
  RequestSpec spec = makeSpec("OPTIONS", "z9hG4bKnashds8");
  std::string wire = requestText(spec);
  sip::Message req = request(spec);

  TransactionId receiveNew(const transport::Peer& from) {
    deliver(wire, from);
    const UserEvent* e = tu.last(Ev::Request);
    return e == nullptr ? 0 : e->id;
  }
};

TEST_F(ServerNonInvite, HappyPathOverUdpEndsWithTimerJ) {
  TransactionId id = receiveNew(uac);
  ASSERT_NE(id, 0U);
  EXPECT_EQ(tu.count(Ev::Request), 1U);
  EXPECT_EQ(layer.serverCount(), 1U);
  EXPECT_EQ(layer.state(id), State::Trying);
  EXPECT_TRUE(sender.sent.empty());  // no 100 Trying for non-INVITE

  at(10ms);
  ASSERT_TRUE(respond(id, req, 200));
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].line(), "SIP/2.0 200 OK");
  EXPECT_EQ(sender.sent[0].to, uac);
  EXPECT_EQ(layer.state(id), State::Completed);

  // Timer J = 64*T1 from the final response.
  at(10ms + 32000ms - 1ms);
  EXPECT_EQ(layer.serverCount(), 1U);
  at(10ms + 32000ms);
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_FALSE(layer.state(id));
  EXPECT_FALSE(layer.nextTimer());
  EXPECT_EQ(tu.count(Ev::ServerFailure), 0U);
  EXPECT_FALSE(respond(id, req, 200));  // gone
}

TEST_F(ServerNonInvite, RetransmissionsAbsorbedAndAnsweredWithTheLastResponse) {
  TransactionId id = receiveNew(uac);
  // Trying: nothing sent yet, so a retransmission gets nothing (§17.2.2).
  deliver(wire, uac);
  EXPECT_TRUE(sender.sent.empty());

  ASSERT_TRUE(respond(id, req, 100));
  EXPECT_EQ(layer.state(id), State::Proceeding);
  deliver(wire, uac);
  ASSERT_EQ(sender.sent.size(), 2U);
  EXPECT_EQ(sender.sent[1].line(), "SIP/2.0 100 Trying");

  ASSERT_TRUE(respond(id, req, 202));
  deliver(wire, uac);
  deliver(wire, uac);  // duplicated
  ASSERT_EQ(sender.sent.size(), 5U);
  EXPECT_EQ(sender.sent[3].line(), "SIP/2.0 202 Accepted");
  EXPECT_EQ(sender.sent[4].bytes, sender.sent[2].bytes);

  EXPECT_EQ(tu.count(Ev::Request), 1U);  // the TU saw the request once
  EXPECT_EQ(layer.stats().requestRetransmissions, 4U);
}

TEST_F(ServerNonInvite, SecondFinalAndLateProvisionalAreDiscarded) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 200));
  EXPECT_FALSE(respond(id, req, 404));
  EXPECT_FALSE(respond(id, req, 180));
  EXPECT_EQ(sender.sent.size(), 1U);
}

TEST_F(ServerNonInvite, InvalidStatusRejected) {
  TransactionId id = receiveNew(uac);
  sip::Message resp = sip::Message::responseTo(req, 200);
  resp.setStatus(700);
  EXPECT_FALSE(layer.respond(id, resp, now));
  EXPECT_FALSE(layer.respond(id, req, now));  // a request is not a response
  EXPECT_FALSE(layer.respond(0, sip::Message::responseTo(req, 200), now));
  EXPECT_TRUE(sender.sent.empty());
}

TEST_F(ServerNonInvite, ReliableTransportTerminatesOnFinal) {
  spec.transport = "TCP";
  wire = requestText(spec);
  TransactionId id = receiveNew(uacTcp);
  ASSERT_TRUE(respond(id, req, 200));
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].to, uacTcp);  // the same connection (§18.2.2)
  EXPECT_EQ(layer.serverCount(), 0U);    // Timer J is zero on reliable transports
  EXPECT_FALSE(layer.nextTimer());
}

TEST_F(ServerNonInvite, SendFailureTerminatesAndTellsTheTu) {
  TransactionId id = receiveNew(uac);
  sender.failing = true;
  EXPECT_FALSE(respond(id, req, 200));
  ASSERT_EQ(tu.count(Ev::ServerFailure), 1U);
  EXPECT_EQ(tu.last(Ev::ServerFailure)->id, id);
  EXPECT_FALSE(tu.last(Ev::ServerFailure)->timeout);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(ServerNonInvite, SendFailureOnRetransmittedAnswer) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 200));
  sender.failing = true;
  deliver(wire, uac);
  EXPECT_EQ(tu.count(Ev::ServerFailure), 1U);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(ServerNonInvite, TuMayAnswerFromInsideOnRequest) {
  // A reliable final inside the callback destroys the transaction before onRequest returns.
  spec.transport = "TCP";
  wire = requestText(spec);
  tu.requestHook = [this](TransactionId id, sip::Message& r) {
    EXPECT_TRUE(layer.respond(id, sip::Message::responseTo(r, 200, {}, "t"), now));
  };
  receiveNew(uacTcp);
  EXPECT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(ServerNonInvite, StatelessAnswerKeepsNothingAndARetransmissionIsNewAgain) {
  // RFC 3261 §8.2.7: a challenge to a request without credentials leaves no transaction behind.
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(layer.respondStatelessly(id, sip::Message::responseTo(req, 401, {}, "t1")));
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].line(), "SIP/2.0 401 Unauthorized");
  EXPECT_EQ(sender.sent[0].to, uac);
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_FALSE(layer.state(id));
  EXPECT_FALSE(layer.nextTimer()) << "no Timer J";
  EXPECT_EQ(tu.count(Ev::ServerFailure), 0U);
  // The same request again is not absorbed: the TU sees it and answers it anew.
  TransactionId again = receiveNew(uac);
  EXPECT_NE(again, 0U);
  EXPECT_NE(again, id);
  EXPECT_EQ(tu.count(Ev::Request), 2U);
  EXPECT_EQ(layer.stats().requestRetransmissions, 0U);
}

TEST_F(ServerNonInvite, StatelessAnswerOnlyAsTheFirstFinalOfANonInvite) {
  TransactionId id = receiveNew(uac);
  EXPECT_FALSE(layer.respondStatelessly(id, sip::Message::responseTo(req, 100))) << "not a provisional";
  EXPECT_FALSE(layer.respondStatelessly(id, req)) << "a request is not a response";
  ASSERT_TRUE(respond(id, req, 100));
  EXPECT_FALSE(layer.respondStatelessly(id, sip::Message::responseTo(req, 401, {}, "t1")))
      << "a response went statefully: the transaction keeps answering";
  EXPECT_EQ(layer.state(id), State::Proceeding);
  EXPECT_EQ(sender.sent.size(), 1U);
  EXPECT_FALSE(layer.respondStatelessly(0, sip::Message::responseTo(req, 401, {}, "t1")));
}

TEST_F(ServerNonInvite, StatelessAnswerThatCannotBeSentTellsTheTu) {
  TransactionId id = receiveNew(uac);
  sender.failing = true;
  EXPECT_FALSE(layer.respondStatelessly(id, sip::Message::responseTo(req, 401, {}, "t1")));
  ASSERT_EQ(tu.count(Ev::ServerFailure), 1U);
  EXPECT_EQ(tu.last(Ev::ServerFailure)->id, id);
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_EQ(layer.stats().sendFailures, 1U);
}

// ---- INVITE server transactions ----

class ServerInvite : public LayerTest {
 protected:
  RequestSpec spec;
  std::string wire = requestText(spec);
  sip::Message req = request(spec);

  TransactionId receiveNew(const transport::Peer& from) {
    deliver(wire, from);
    const UserEvent* e = tu.last(Ev::Request);
    return e == nullptr ? 0 : e->id;
  }
  std::string ackText(std::string_view toTag, std::string branch = "z9hG4bK776asdhds") {
    RequestSpec a = spec;
    a.method = "ACK";
    a.branch = std::move(branch);
    a.toTag = toTag;
    return requestText(a);
  }
};

TEST_F(ServerInvite, Auto100TryingAfterTwoHundredMilliseconds) {
  TransactionId id = receiveNew(uac);
  EXPECT_EQ(layer.state(id), State::Proceeding);
  at(199ms);
  EXPECT_TRUE(sender.sent.empty());
  at(200ms);
  ASSERT_EQ(sender.sent.size(), 1U);
  sip::Message trying = parseWire(sender.sent[0].bytes);
  EXPECT_EQ(trying.statusCode(), 100);
  EXPECT_EQ(trying.topVia().branch, "z9hG4bK776asdhds");
  EXPECT_EQ(trying.callId(), req.callId());
  EXPECT_EQ(trying.cseq().number, 314159U);
  EXPECT_EQ(trying.cseq().method, sip::Method::Invite);
  EXPECT_EQ(trying.from().tag(), "1928301774");
  EXPECT_FALSE(trying.to().tag());  // §8.2.6.2: no tag needed on 100
  EXPECT_EQ(trying.count(sip::HeaderId::Contact), 0U);
  at(10000ms);
  EXPECT_EQ(sender.sent.size(), 1U);  // once

  deliver(wire, uac);  // a retransmitted INVITE gets the 100 again
  EXPECT_EQ(sender.sent.size(), 2U);
  EXPECT_EQ(tu.count(Ev::Request), 1U);
}

TEST_F(ServerInvite, No100WhenTheTuAnswersFirst) {
  TransactionId id = receiveNew(uac);
  at(100ms);
  ASSERT_TRUE(respond(id, req, 180));
  at(1000ms);
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].line(), "SIP/2.0 180 Ringing");
  deliver(wire, uac);  // the last provisional is repeated
  ASSERT_EQ(sender.sent.size(), 2U);
  EXPECT_EQ(sender.sent[1].line(), "SIP/2.0 180 Ringing");
}

TEST_F(ServerInvite, RetransmissionBeforeAnyResponseGetsNothing) {
  receiveNew(uac);
  at(50ms);
  deliver(wire, uac);
  EXPECT_TRUE(sender.sent.empty());
  EXPECT_EQ(tu.count(Ev::Request), 1U);
}

TEST(ServerInviteSettings, ZeroTryingDelaySendsTheTryingBeforeTheTuSeesTheRequest) {
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  RecordingSender sender(now);
  RecordingUser tu;
  TimerSettings timers;
  timers.trying100 = 0ms;
  TransactionLayer layer(sender, tu, timers);
  std::size_t sentWhenTuCalled = 99;
  tu.requestHook = [&](TransactionId, sip::Message&) { sentWhenTuCalled = sender.sent.size(); };
  sip::Message m = request(RequestSpec{});
  layer.receive(m, peer("192.0.2.10", 5060), now);
  EXPECT_EQ(sentWhenTuCalled, 1U);
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].line(), "SIP/2.0 100 Trying");
}

TEST_F(ServerInvite, NonSuccessFinalRetransmittedByTimerGUntilTimerH) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 486));
  EXPECT_EQ(layer.state(id), State::Completed);
  runUntil(40000ms);
  // G: T1, then doubling up to T2: 500, 1000, 2000, 4000, 4000, ... until H = 64*T1 = 32 s.
  std::vector<milliseconds> expected = {0ms,     500ms,   1500ms,  3500ms,  7500ms, 11500ms,
                                        15500ms, 19500ms, 23500ms, 27500ms, 31500ms};
  EXPECT_EQ(sendTimes("SIP/2.0 486"), expected);
  ASSERT_EQ(tu.count(Ev::ServerFailure), 1U);  // Timer H, once
  EXPECT_EQ(tu.last(Ev::ServerFailure)->id, id);
  EXPECT_TRUE(tu.last(Ev::ServerFailure)->timeout);
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_FALSE(layer.nextTimer());
  EXPECT_EQ(layer.stats().timerRetransmissions, 10U);
}

TEST_F(ServerInvite, AckForNonSuccessIsAbsorbedThenTimerI) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 486));
  at(700ms);  // one G retransmission at 500 ms
  EXPECT_EQ(sentCount("SIP/2.0 486"), 2U);
  deliver(ackText("srv1"), uac);
  EXPECT_EQ(layer.state(id), State::Confirmed);
  EXPECT_EQ(tu.count(Ev::Ack), 0U);  // absorbed (§17.2.1)

  deliver(ackText("srv1"), uac);  // duplicated ACK: absorbed
  deliver(wire, uac);             // late INVITE retransmission: absorbed, nothing sent
  EXPECT_EQ(tu.count(Ev::Ack), 0U);
  EXPECT_EQ(tu.count(Ev::Request), 1U);

  // G stopped; Timer I = T4 after the ACK.
  at(700ms + 5000ms - 1ms);
  EXPECT_EQ(sentCount("SIP/2.0 486"), 2U);
  EXPECT_EQ(layer.serverCount(), 1U);
  at(700ms + 5000ms);
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_EQ(tu.count(Ev::ServerFailure), 0U);
  EXPECT_FALSE(layer.nextTimer());
}

TEST_F(ServerInvite, RetransmittedInviteInCompletedGetsTheFinal) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 180));
  ASSERT_TRUE(respond(id, req, 603));
  deliver(wire, uac);
  ASSERT_EQ(sender.sent.size(), 3U);
  EXPECT_EQ(sender.sent[2].line(), "SIP/2.0 603 Decline");
  EXPECT_FALSE(respond(id, req, 200));  // §17.2.1: a second final is not sent
  EXPECT_EQ(sender.sent.size(), 3U);
}

TEST_F(ServerInvite, ReliableTransportHasNoTimerGAndZeroTimerI) {
  spec.transport = "TCP";
  wire = requestText(spec);
  TransactionId id = receiveNew(uacTcp);
  ASSERT_TRUE(respond(id, req, 486));
  at(20000ms);
  EXPECT_EQ(sentCount("SIP/2.0 486"), 1U);
  RequestSpec a = spec;
  a.method = "ACK";
  a.toTag = "srv1";
  deliver(requestText(a), uacTcp);
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_EQ(tu.count(Ev::Ack), 0U);
}

TEST_F(ServerInvite, ReliableTransportStillTimesOutWithTimerH) {
  spec.transport = "TCP";
  wire = requestText(spec);
  TransactionId id = receiveNew(uacTcp);
  ASSERT_TRUE(respond(id, req, 486));
  at(32000ms - 1ms);
  EXPECT_EQ(tu.count(Ev::ServerFailure), 0U);
  at(32000ms);
  EXPECT_EQ(tu.count(Ev::ServerFailure), 1U);
  at(64000ms);
  EXPECT_EQ(tu.count(Ev::ServerFailure), 1U);
}

TEST_F(ServerInvite, SuccessGoesToAcceptedThenTimerL) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 200));
  EXPECT_EQ(layer.state(id), State::Accepted);

  // RFC 6026 §7.1: INVITE retransmissions are absorbed and answered with nothing; the TU
  // retransmits its 2xx through the transaction; other responses are refused.
  deliver(wire, uac);
  EXPECT_EQ(sender.sent.size(), 1U);
  at(500ms);
  EXPECT_EQ(sender.sent.size(), 1U);  // no Timer G for 2xx
  EXPECT_TRUE(respond(id, req, 200));
  EXPECT_EQ(sender.sent.size(), 2U);
  EXPECT_FALSE(respond(id, req, 486));
  EXPECT_FALSE(respond(id, req, 180));

  // ACK for the 2xx: a new transaction per RFC 3261 (new branch), and even one with the INVITE's
  // branch, goes up to the TU.
  deliver(ackText("srv1", "z9hG4bKack2xx"), uac);
  deliver(ackText("srv1"), uac);
  EXPECT_EQ(tu.count(Ev::Ack), 2U);
  EXPECT_EQ(tu.count(Ev::Request), 1U);

  at(32000ms - 1ms);
  EXPECT_EQ(layer.serverCount(), 1U);
  at(32000ms);  // Timer L = 64*T1 from the 2xx
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_EQ(tu.count(Ev::ServerFailure), 0U);
  EXPECT_FALSE(respond(id, req, 200));
}

TEST_F(ServerInvite, SuccessOverReliableTransportAlsoWaitsTimerL) {
  spec.transport = "TCP";
  wire = requestText(spec);
  TransactionId id = receiveNew(uacTcp);
  ASSERT_TRUE(respond(id, req, 200));
  EXPECT_EQ(layer.serverCount(), 1U);
  at(32000ms);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(ServerInvite, StrayAckGoesToTheTu) {
  deliver(ackText("nope", "z9hG4bKunknown"), uac);
  ASSERT_EQ(tu.count(Ev::Ack), 1U);
  EXPECT_EQ(tu.last(Ev::Ack)->from, uac);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(ServerInvite, AckWhileProceedingIsNotAbsorbed) {
  receiveNew(uac);
  deliver(ackText("x"), uac);
  EXPECT_EQ(tu.count(Ev::Ack), 1U);
}

TEST_F(ServerInvite, TimerGSendFailureTerminates) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 500));
  sender.failing = true;
  at(500ms);
  ASSERT_EQ(tu.count(Ev::ServerFailure), 1U);
  EXPECT_FALSE(tu.last(Ev::ServerFailure)->timeout);
  EXPECT_EQ(layer.serverCount(), 0U);
  at(40000ms);
  EXPECT_EQ(tu.count(Ev::ServerFailure), 1U);  // no Timer H afterwards
}

TEST_F(ServerInvite, Auto100SendFailureTerminates) {
  TransactionId id = receiveNew(uac);
  sender.failing = true;
  at(200ms);
  ASSERT_EQ(tu.count(Ev::ServerFailure), 1U);
  EXPECT_EQ(tu.last(Ev::ServerFailure)->id, id);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(ServerInvite, SuccessRetransmissionSendFailure) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 200));
  sender.failing = true;
  EXPECT_FALSE(respond(id, req, 200));
  EXPECT_EQ(tu.count(Ev::ServerFailure), 1U);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(ServerInvite, StatelessRefusalIsSentOnceAndItsAckGoesToTheTu) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(layer.respondStatelessly(id, sip::Message::responseTo(req, 407, {}, "sl.t1")));
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(sender.sent[0].line(), "SIP/2.0 407 Proxy Authentication Required");
  EXPECT_EQ(layer.serverCount(), 0U);
  EXPECT_FALSE(layer.nextTimer()) << "no Timer G, no Timer H";
  at(40000ms);
  EXPECT_EQ(sender.sent.size(), 1U) << "never sent again";
  deliver(ackText("sl.t1"), uac);
  EXPECT_EQ(tu.count(Ev::Ack), 1U) << "no transaction absorbs the ACK: the TU decides";
}

TEST_F(ServerInvite, NoStatelessAnswerForA2xxOrAfterThe100) {
  TransactionId id = receiveNew(uac);
  EXPECT_FALSE(layer.respondStatelessly(id, sip::Message::responseTo(req, 200, {}, "t1")))
      << "a 2xx needs Accepted to meet its ACK";
  EXPECT_EQ(layer.state(id), State::Proceeding);
  EXPECT_TRUE(sender.sent.empty());
  at(200ms);  // the automatic 100 Trying
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_FALSE(layer.respondStatelessly(id, sip::Message::responseTo(req, 404, {}, "sl.t1")));
  EXPECT_EQ(layer.state(id), State::Proceeding);
}

TEST_F(ServerInvite, NoStatelessAnswerAfterA2xx) {
  TransactionId id = receiveNew(uac);
  ASSERT_TRUE(respond(id, req, 200));
  ASSERT_EQ(layer.state(id), State::Accepted);
  const std::size_t sent = sender.sent.size();
  EXPECT_FALSE(layer.respondStatelessly(id, sip::Message::responseTo(req, 486, {}, "sl.t1")))
      << "no refusal after the 2xx, and the transaction stays to meet the ACK";
  EXPECT_EQ(layer.state(id), State::Accepted);
  EXPECT_EQ(sender.sent.size(), sent);
}

TEST_F(ServerInvite, TerminateRemovesWithoutCallbacks) {
  TransactionId id = receiveNew(uac);
  EXPECT_TRUE(layer.terminate(id));
  EXPECT_FALSE(layer.terminate(id));
  EXPECT_EQ(layer.serverCount(), 0U);
  at(1000ms);
  EXPECT_TRUE(sender.sent.empty());  // the pending 100 Trying died with it
  EXPECT_EQ(tu.events.size(), 1U);
}

TEST_F(ServerInvite, TimestampIsCopiedInto100Trying) {
  spec.extraHeaders = "Timestamp: 54\n";
  wire = requestText(spec);
  receiveNew(uac);
  at(200ms);
  ASSERT_EQ(sender.sent.size(), 1U);
  EXPECT_EQ(parseWire(sender.sent[0].bytes).header("Timestamp"), "54");  // §8.2.6.1
}

// What a connection still owes its client (a client that sent EOF keeps the connection for it):
// every request over it until its final, whichever way the final goes or the transaction ends.
TEST_F(ServerInvite, AnswersOwedCountsTheRequestsOfAConnectionUntilTheirFinal) {
  const std::uint64_t conn = uacTcp.connectionId;
  TransactionId invite = receiveNew(uacTcp);
  ASSERT_NE(invite, 0U);
  EXPECT_EQ(layer.answersOwed(conn), 1U);
  RequestSpec options = makeSpec("OPTIONS", "z9hG4bKowed1");
  deliver(requestText(options), uacTcp);
  TransactionId refused = tu.last(Ev::Request)->id;
  RequestSpec message = makeSpec("MESSAGE", "z9hG4bKowed2");
  deliver(requestText(message), uacTcp);
  TransactionId answered = tu.last(Ev::Request)->id;
  deliver(requestText(options), uacTcp);  // a retransmission is not one more
  EXPECT_EQ(layer.answersOwed(conn), 3U);
  deliver(requestText(makeSpec("OPTIONS", "z9hG4bKudp")), uac);
  EXPECT_EQ(layer.answersOwed(0), 0U) << "UDP owes nothing to a connection";

  ASSERT_TRUE(respond(invite, req, 180));
  EXPECT_EQ(layer.answersOwed(conn), 3U) << "a provisional is not the answer";
  ASSERT_TRUE(layer.respondStatelessly(refused, sip::Message::responseTo(request(options), 401, {}, "t1")));
  EXPECT_EQ(layer.answersOwed(conn), 2U);
  ASSERT_TRUE(respond(answered, request(message), 200));
  EXPECT_EQ(layer.answersOwed(conn), 1U);
  ASSERT_TRUE(respond(invite, req, 486));
  EXPECT_EQ(layer.answersOwed(conn), 0U);
  EXPECT_EQ(layer.state(invite), State::Completed) << "waiting for the ACK owes nothing";
  EXPECT_EQ(layer.answersOwed(uasTcp.connectionId), 0U);
}

TEST_F(ServerInvite, AnAnswerThatCannotBeSentOwesNothing) {
  TransactionId invite = receiveNew(uacTcp);
  ASSERT_NE(invite, 0U);
  ASSERT_EQ(layer.answersOwed(uacTcp.connectionId), 1U);
  sender.failing = true;
  EXPECT_FALSE(respond(invite, req, 200));
  EXPECT_EQ(layer.answersOwed(uacTcp.connectionId), 0U);
}

}  // namespace
}  // namespace sipwarden::transaction::test
