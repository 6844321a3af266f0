// Server transactions: INVITE (RFC 3261 §17.2.1 with RFC 6026 §7.1) and non-INVITE (§17.2.2),
// matching of requests, ACK and CANCEL (§17.2.3, §9.2), and transport errors (§17.2.4).
#include "sip/serializer.hpp"
#include "transaction/transaction_key.hpp"
#include "transaction/transaction_layer.hpp"

namespace sipwarden::transaction {
namespace {

using detail::kDeadline;
using detail::Kind;
using detail::kRetransmit;

std::string_view toTagOf(const sip::Message& m) { return m.to().tag().value_or(std::string_view()); }

// The 100 Trying a server INVITE transaction sends on its own (§17.2.1), written straight from
// the request: Via, From, To, Call-ID, CSeq (§8.2.6.2) and Timestamp (§8.2.6.1) copied as
// received, no To tag added.
void writeTrying(const sip::Message& request, std::string& out) {
  out.clear();
  out.append("SIP/2.0 100 Trying\r\n");
  for (const sip::HeaderField& h : request.headers()) {
    switch (h.id) {
      case sip::HeaderId::Via:
      case sip::HeaderId::From:
      case sip::HeaderId::To:
      case sip::HeaderId::CallId:
      case sip::HeaderId::CSeq:
      case sip::HeaderId::Timestamp: out.append(h.name).append(": ").append(h.value).append("\r\n"); break;
      default: break;
    }
  }
  out.append("Content-Length: 0\r\n\r\n");
}

}  // namespace

std::uint32_t TransactionLayer::createServer(Kind kind, const transport::Peer& from) {
  std::uint32_t slot = allocate(kind, from);
  // §17.2.1: an INVITE server transaction starts in Proceeding; §17.2.2: non-INVITE in Trying.
  slots_[slot].state = kind == Kind::ServerInvite ? State::Proceeding : State::Trying;
  if (from.connectionId != 0) {
    slots_[slot].owesAnswer = true;
    ++answersOwed_[from.connectionId];
  }
  return slot;
}

void TransactionLayer::settleAnswer(Transaction& tx) {
  if (!tx.owesAnswer) return;
  tx.owesAnswer = false;
  countDown(answersOwed_, tx.peer.connectionId);
}

std::size_t TransactionLayer::answersOwed(std::uint64_t connectionId) const {
  auto it = answersOwed_.find(connectionId);
  return it == answersOwed_.end() ? 0 : it->second;
}

void TransactionLayer::receiveRequest(sip::Message& request, const transport::Peer& from, TimePoint now) {
  detail::serverKey(request, request.methodText(), toTagOf(request), keyScratch_);
  if (std::uint32_t slot = lookup(keyScratch_); slot != kNoSlot) {
    absorbRequest(slot);
    return;
  }
  const bool invite = request.method() == sip::Method::Invite;
  std::uint32_t slot = createServer(invite ? Kind::ServerInvite : Kind::ServerNonInvite, from);
  if (invite) {
    // §17.2.1: send 100 Trying unless the TU answers within 200 ms. It is prepared now, while the
    // request is at hand; the bytes are reused for the TU's own response.
    writeTrying(request, slots_[slot].bytes);
    if (timers_.trying100.count() <= 0) {
      slots_[slot].sentResponse = true;
      if (!sender_.send(slots_[slot].peer, slots_[slot].bytes)) {
        // The connection is gone before the TU saw anything: nobody is left to answer.
        ++stats_.sendFailures;
        destroy(slot);
        return;
      }
    } else {
      arm(slot, kRetransmit, now + timers_.trying100);
    }
  }
  tu_.onRequest(idOf(slot), request, from);
}

void TransactionLayer::absorbRequest(std::uint32_t slot) {
  ++stats_.requestRetransmissions;
  Transaction& tx = slots_[slot];
  // §17.2.1: in Proceeding the last provisional, in Completed the final; nothing in Confirmed
  // nor (RFC 6026 §7.1) in Accepted, where 2xx retransmission belongs to the TU. §17.2.2: the
  // last response in Proceeding and Completed; nothing in Trying.
  bool resend = tx.sentResponse && (tx.state == State::Proceeding || tx.state == State::Completed);
  if (resend) sendServerBytes(slot);
}

bool TransactionLayer::sendServerBytes(std::uint32_t slot) {
  Transaction& tx = slots_[slot];
  if (sender_.send(tx.peer, tx.bytes)) return true;
  // §17.2.4: the transport failed; the transaction terminates and the TU is told.
  ++stats_.sendFailures;
  TransactionId id = idOf(slot);
  destroy(slot);
  tu_.onServerFailure(id, false);
  return false;
}

std::uint32_t TransactionLayer::findServerInvite(const sip::Message& request, std::string_view toTag) {
  detail::serverKey(request, "INVITE", toTag, keyScratch_);
  std::uint32_t slot = lookup(keyScratch_);
  return slot != kNoSlot && slots_[slot].kind == Kind::ServerInvite ? slot : kNoSlot;
}

void TransactionLayer::receiveAck(sip::Message& ack, const transport::Peer& from, TimePoint now) {
  // §17.2.3: an ACK matches the INVITE transaction (RFC 3261 branch: same branch and sent-by).
  std::string_view ackTag = toTagOf(ack);
  std::uint32_t slot = findServerInvite(ack, ackTag);
  if (slot == kNoSlot && !ack.topVia().isRfc3261Branch() && !ackTag.empty()) {
    // RFC 2543: the INVITE had no To tag; the ACK carries the one of the response sent.
    slot = findServerInvite(ack, {});
    if (slot != kNoSlot && !sip::iequals(slots_[slot].responseToTag, ackTag)) slot = kNoSlot;
  }
  if (slot == kNoSlot) {
    tu_.onAck(ack, from);
    return;
  }
  switch (slots_[slot].state) {
    case State::Completed:
      // §17.2.1: the ACK for a non-2xx final: stop G and H, absorb late ACKs for T4 (Timer I,
      // zero on reliable transports).
      ++stats_.requestRetransmissions;
      slots_[slot].state = State::Confirmed;
      disarm(slot, kRetransmit);
      if (slots_[slot].reliable) {
        destroy(slot);
      } else {
        arm(slot, kDeadline, now + timers_.t4);
      }
      return;
    case State::Confirmed: ++stats_.requestRetransmissions; return;
    default:
      // Accepted: RFC 6026 §7.1 passes the ACK of a 2xx up. Proceeding: no final was sent, so
      // this is no ACK of ours; the TU decides.
      tu_.onAck(ack, from);
      return;
  }
}

void TransactionLayer::receiveCancel(sip::Message& cancel, const transport::Peer& from, TimePoint) {
  // §9.2: a CANCEL is a transaction of its own (matched with method CANCEL), and it refers to the
  // INVITE server transaction that it would match with method INVITE.
  std::string_view toTag = toTagOf(cancel);
  detail::serverKey(cancel, "CANCEL", toTag, keyScratch_);
  if (std::uint32_t slot = lookup(keyScratch_); slot != kNoSlot) {
    absorbRequest(slot);
    return;
  }
  std::uint32_t slot = createServer(Kind::ServerNonInvite, from);
  TransactionId cancelId = idOf(slot);
  std::uint32_t inviteSlot = findServerInvite(cancel, toTag);
  tu_.onCancel(cancelId, inviteSlot == kNoSlot ? 0 : idOf(inviteSlot), cancel, from);
}

bool TransactionLayer::respondStatelessly(TransactionId id, const sip::Message& response) {
  std::uint32_t slot = slotOf(id);
  if (slot == kNoSlot || !slots_[slot].isServer() || slots_[slot].sentResponse) return false;
  // Only before any final: an INVITE in Proceeding (a 2xx already sent leaves it Accepted, with
  // no response kept), a non-INVITE in Trying.
  const State state = slots_[slot].state;
  if (state != (slots_[slot].kind == Kind::ServerInvite ? State::Proceeding : State::Trying)) return false;
  const int status = response.statusCode();
  if (!response.isResponse() || status < 200 || status > 699) return false;
  // A 2xx to INVITE needs its transaction (Accepted, RFC 6026 §7.1) to meet the ACK.
  if (slots_[slot].kind == Kind::ServerInvite && status < 300) return false;
  wireScratch_.clear();
  sip::serialize(response, wireScratch_);
  const transport::Peer to = slots_[slot].peer;
  destroy(slot);
  if (sender_.send(to, wireScratch_)) return true;
  ++stats_.sendFailures;
  tu_.onServerFailure(id, false);
  return false;
}

bool TransactionLayer::respond(TransactionId id, const sip::Message& response, TimePoint now) {
  std::uint32_t slot = slotOf(id);
  if (slot == kNoSlot || !slots_[slot].isServer()) return false;
  const int status = response.statusCode();
  if (!response.isResponse() || status < 100 || status > 699) return false;
  Transaction& tx = slots_[slot];
  const bool provisional = status < 200;

  if (tx.kind == Kind::ServerNonInvite) {
    // §17.2.2: after the final, further responses from the TU are discarded.
    if (tx.state == State::Completed) return false;
    tx.bytes.clear();
    sip::serialize(response, tx.bytes);
    tx.sentResponse = true;
    tx.state = provisional ? State::Proceeding : State::Completed;
    if (!provisional) settleAnswer(tx);
    if (!sendServerBytes(slot)) return false;
    if (provisional) return true;
    // Timer J absorbs request retransmissions for 64*T1 on UDP; zero on reliable transports.
    if (tx.reliable) {
      destroy(slot);
    } else {
      arm(slot, kDeadline, now + 64 * timers_.t1);
    }
    return true;
  }

  switch (tx.state) {
    case State::Proceeding: break;
    case State::Accepted: {
      // RFC 6026 §7.1: the TU retransmits its 2xx through the transaction; nothing else passes.
      if (status < 200 || status >= 300) return false;
      wireScratch_.clear();
      sip::serialize(response, wireScratch_);
      if (sender_.send(tx.peer, wireScratch_)) return true;
      ++stats_.sendFailures;
      destroy(slot);
      tu_.onServerFailure(id, false);
      return false;
    }
    default: return false;  // Completed, Confirmed: the final was sent (§17.2.1)
  }

  disarm(slot, kRetransmit);  // the TU answered: no automatic 100 Trying
  tx.bytes.clear();
  sip::serialize(response, tx.bytes);
  tx.sentResponse = true;
  if (!provisional && tx.rfc2543) tx.responseToTag.assign(toTagOf(response));
  if (provisional) return sendServerBytes(slot);
  settleAnswer(tx);
  if (status < 300) {
    // RFC 6026 §7.1: Accepted for 64*T1 (Timer L) absorbs INVITE retransmissions and passes ACKs
    // up; the 2xx itself is retransmitted by the TU, so the bytes are not kept.
    tx.state = State::Accepted;
    if (!sendServerBytes(slot)) return false;
    release(slots_[slot].bytes);
    slots_[slot].sentResponse = false;
    arm(slot, kDeadline, now + 64 * timers_.t1);
    return true;
  }
  // §17.2.1: Completed; Timer G retransmits the final on UDP, Timer H gives up waiting for the ACK.
  tx.state = State::Completed;
  if (!sendServerBytes(slot)) return false;
  if (!slots_[slot].reliable) {
    slots_[slot].interval = timers_.t1;
    arm(slot, kRetransmit, now + timers_.t1);
  }
  arm(slot, kDeadline, now + 64 * timers_.t1);
  return true;
}

void TransactionLayer::fireServerTimer(std::uint32_t slot, detail::Timer which, TimePoint now) {
  Transaction& tx = slots_[slot];
  if (which == kRetransmit) {
    if (tx.state == State::Proceeding) {
      // The TU has sent nothing within trying100: the 100 Trying prepared on receipt (§17.2.1).
      tx.sentResponse = true;
      sendServerBytes(slot);
      return;
    }
    // Timer G (§17.2.1): retransmit the final, doubling up to T2.
    ++stats_.timerRetransmissions;
    tx.interval = std::min(2 * tx.interval, timers_.t2);
    std::chrono::milliseconds next = tx.interval;
    if (sendServerBytes(slot)) arm(slot, kRetransmit, now + next);
    return;
  }
  // Deadline: Timer H in Completed (no ACK came); I, J or L: the clean-up is over.
  const bool timeout = tx.kind == Kind::ServerInvite && tx.state == State::Completed;
  TransactionId id = idOf(slot);
  destroy(slot);
  if (timeout) tu_.onServerFailure(id, true);
}

}  // namespace sipwarden::transaction
