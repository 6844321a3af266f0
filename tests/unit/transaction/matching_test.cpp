// Matching (RFC 3261 §17.1.3, §17.2.3): RFC 3261 branches with sent-by and method, CANCEL (§9.2),
// requests from RFC 2543 elements (no magic cookie), and what does not match.
#include "test_support.hpp"

namespace sipwarden::transaction::test {
namespace {

using Ev = UserEvent;

class Matching : public LayerTest {
 protected:
  TransactionId receive(const RequestSpec& s) {
    std::size_t before = tu.events.size();
    deliver(requestText(s), uac);
    if (tu.events.size() == before) return 0;
    return tu.events.back().id;
  }
};

TEST_F(Matching, SameBranchDifferentMethodOrSentByAreDifferentTransactions) {
  RequestSpec a = makeSpec("OPTIONS", "z9hG4bKsame");
  RequestSpec b = a;
  b.method = "MESSAGE";
  RequestSpec c = a;
  c.sentBy = "other.example.com:5060";
  RequestSpec d = a;
  d.sentBy = "pc33.atlanta.example.com";  // no port is a different sent-by
  TransactionId ia = receive(a), ib = receive(b), ic = receive(c), id = receive(d);
  EXPECT_NE(ia, 0U);
  EXPECT_NE(ib, 0U);
  EXPECT_NE(ic, 0U);
  EXPECT_NE(id, 0U);
  EXPECT_EQ(layer.serverCount(), 4U);
  EXPECT_EQ(receive(a), 0U);  // and each one's retransmission is absorbed
  EXPECT_EQ(receive(c), 0U);
}

TEST_F(Matching, BranchAndHostCompareCaseInsensitively) {
  // RFC 3261 §7.3.1: parameter values and hosts are case-insensitive unless stated otherwise.
  RequestSpec a = makeSpec("OPTIONS", "z9hG4bKAbC", [](RequestSpec& s) { s.sentBy = "PC33.Atlanta.example.com:5060"; });
  RequestSpec b = a;
  b.branch = "z9hG4bKabc";
  b.sentBy = "pc33.atlanta.example.com:5060";
  EXPECT_NE(receive(a), 0U);
  EXPECT_EQ(receive(b), 0U);
  EXPECT_EQ(layer.stats().requestRetransmissions, 1U);
}

TEST_F(Matching, OtherFieldsDoNotMatterForRfc3261Branches) {
  RequestSpec a = makeSpec("OPTIONS", "z9hG4bKx1");
  RequestSpec b = a;
  b.callId = "different";
  b.cseq = 1;
  b.requestUri = "sip:carol@example.com";
  EXPECT_NE(receive(a), 0U);
  EXPECT_EQ(receive(b), 0U);
}

TEST_F(Matching, CancelMatchesItsInvite) {
  RequestSpec inv;
  sip::Message invReq = request(inv);
  TransactionId inviteId = receive(inv);
  ASSERT_NE(inviteId, 0U);
  ASSERT_TRUE(respond(inviteId, invReq, 180));

  RequestSpec can = inv;
  can.method = "CANCEL";
  sip::Message canReq = request(can);
  deliver(requestText(can), uac);
  ASSERT_EQ(tu.count(Ev::Cancel), 1U);
  const UserEvent& e = *tu.last(Ev::Cancel);
  EXPECT_EQ(e.inviteId, inviteId);
  EXPECT_NE(e.id, inviteId);
  EXPECT_EQ(layer.state(e.id), State::Trying);
  EXPECT_EQ(layer.serverCount(), 2U);

  // §9.2: 200 to the CANCEL, 487 to the INVITE; the CANCEL's retransmission gets the 200 again.
  ASSERT_TRUE(respond(e.id, canReq, 200));
  ASSERT_TRUE(respond(inviteId, invReq, 487));
  deliver(requestText(can), uac);
  EXPECT_EQ(tu.count(Ev::Cancel), 1U);
  EXPECT_EQ(sender.sent.back().line(), "SIP/2.0 200 OK");
  EXPECT_EQ(parseWire(sender.sent.back().bytes).cseq().method, sip::Method::Cancel);

  RequestSpec ack = inv;
  ack.method = "ACK";
  ack.toTag = "srv1";
  deliver(requestText(ack), uac);
  EXPECT_EQ(tu.count(Ev::Ack), 0U);
  EXPECT_EQ(layer.state(inviteId), State::Confirmed);
  runUntil(60000ms);
  EXPECT_EQ(layer.serverCount(), 0U);
}

TEST_F(Matching, CancelWithoutInviteGetsZero) {
  RequestSpec can = makeSpec("CANCEL", "z9hG4bKnoinvite");
  deliver(requestText(can), uac);
  ASSERT_EQ(tu.count(Ev::Cancel), 1U);
  EXPECT_EQ(tu.last(Ev::Cancel)->inviteId, 0U);
  EXPECT_NE(tu.last(Ev::Cancel)->id, 0U);
}

TEST_F(Matching, CancelFromAnotherSentByDoesNotMatch) {
  RequestSpec inv;
  ASSERT_NE(receive(inv), 0U);
  RequestSpec can = inv;
  can.method = "CANCEL";
  can.sentBy = "evil.example.com";
  deliver(requestText(can), uac);
  ASSERT_EQ(tu.count(Ev::Cancel), 1U);
  EXPECT_EQ(tu.last(Ev::Cancel)->inviteId, 0U);
}

TEST_F(Matching, CancelForNonInviteIsNotMatchedToIt) {
  RequestSpec opt = makeSpec("OPTIONS", "z9hG4bKopt");
  ASSERT_NE(receive(opt), 0U);
  RequestSpec can = opt;
  can.method = "CANCEL";
  deliver(requestText(can), uac);
  EXPECT_EQ(tu.last(Ev::Cancel)->inviteId, 0U);
}

// ---- RFC 2543 (§17.2.3, second half) ----

TEST_F(Matching, Rfc2543RetransmissionIsAbsorbed) {
  RequestSpec a = makeSpec("OPTIONS", "");
  TransactionId id = receive(a);
  ASSERT_NE(id, 0U);
  EXPECT_EQ(receive(a), 0U);
  // Any of Request-URI, From tag, Call-ID, CSeq number, top Via or To tag differs: a new one.
  RequestSpec b = a;
  b.cseq = a.cseq + 1;
  RequestSpec c = a;
  c.callId = "other-call";
  RequestSpec d = a;
  d.fromTag = "otherfrom";
  RequestSpec e = a;
  e.requestUri = "sip:carol@example.com";
  RequestSpec f = a;
  f.sentBy = "other.example.com";
  RequestSpec g = a;
  g.toTag = "dialog";
  for (const RequestSpec* s : {&b, &c, &d, &e, &f, &g}) EXPECT_NE(receive(*s), 0U);
  EXPECT_EQ(layer.serverCount(), 7U);
}

TEST_F(Matching, Rfc2543AckMatchesByTheResponseToTag) {
  RequestSpec inv = makeSpec("INVITE", "");
  sip::Message invReq = request(inv);
  TransactionId id = receive(inv);
  ASSERT_NE(id, 0U);
  ASSERT_TRUE(respond(id, invReq, 404, "rt404"));

  RequestSpec ack = inv;
  ack.method = "ACK";
  ack.toTag = "wrongtag";
  deliver(requestText(ack), uac);
  EXPECT_EQ(tu.count(Ev::Ack), 1U);  // not ours: goes up
  EXPECT_EQ(layer.state(id), State::Completed);

  ack.toTag = "rt404";
  deliver(requestText(ack), uac);
  EXPECT_EQ(tu.count(Ev::Ack), 1U);
  EXPECT_EQ(layer.state(id), State::Confirmed);
}

TEST_F(Matching, Rfc2543ReInviteAckCarriesTheSameTag) {
  RequestSpec inv = makeSpec("INVITE", "", [](RequestSpec& s) { s.toTag = "dlg"; });
  sip::Message invReq = request(inv);
  TransactionId id = receive(inv);
  ASSERT_TRUE(respond(id, invReq, 488));
  RequestSpec ack = inv;
  ack.method = "ACK";
  deliver(requestText(ack), uac);
  EXPECT_EQ(layer.state(id), State::Confirmed);
  EXPECT_EQ(tu.count(Ev::Ack), 0U);
}

TEST_F(Matching, Rfc2543CancelMatchesTheInvite) {
  RequestSpec inv = makeSpec("INVITE", "");
  TransactionId id = receive(inv);
  RequestSpec can = inv;
  can.method = "CANCEL";
  deliver(requestText(can), uac);
  ASSERT_EQ(tu.count(Ev::Cancel), 1U);
  EXPECT_EQ(tu.last(Ev::Cancel)->inviteId, id);
  deliver(requestText(can), uac);  // retransmitted CANCEL absorbed
  EXPECT_EQ(tu.count(Ev::Cancel), 1U);
}

TEST_F(Matching, Rfc3261AckDoesNotMatchAnRfc2543Invite) {
  RequestSpec inv = makeSpec("INVITE", "");
  sip::Message invReq = request(inv);
  TransactionId id = receive(inv);
  ASSERT_TRUE(respond(id, invReq, 404));
  RequestSpec ack = inv;
  ack.method = "ACK";
  ack.branch = "z9hG4bKnew";
  ack.toTag = "srv1";
  deliver(requestText(ack), uac);
  EXPECT_EQ(tu.count(Ev::Ack), 1U);
}

// ---- what cannot be matched ----

TEST_F(Matching, MessagesMissingMatchingFieldsAreDropped) {
  sip::Message bare = sip::Message::request("OPTIONS", "sip:x@example.com");
  layer.receive(bare, uac, now);
  sip::Message resp = sip::Message::responseTo(bare, 200);  // no Via to match on
  layer.receive(resp, uas, now);
  EXPECT_EQ(layer.stats().invalidDropped, 2U);
  EXPECT_TRUE(tu.events.empty());
}

TEST_F(Matching, ResponseWithoutBranchIsStray) {
  RequestSpec s = makeSpec("OPTIONS", "");
  deliver(responseText(s, 200), uas);
  ASSERT_EQ(tu.count(Ev::Stray), 1U);
  EXPECT_EQ(tu.last(Ev::Stray)->from, uas);
}

}  // namespace
}  // namespace sipwarden::transaction::test
