// Client transactions: INVITE (RFC 3261 §17.1.1 with RFC 6026 §7.2) and non-INVITE (§17.1.2),
// response matching (§17.1.3) and transport errors (§17.1.4).
#include <algorithm>
#include <charconv>
#include <vector>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"
#include "transaction/transaction_key.hpp"
#include "transaction/transaction_layer.hpp"

namespace sipwarden::transaction {
namespace {

using detail::kDeadline;
using detail::Kind;
using detail::kRetransmit;

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

TransactionId TransactionLayer::sendRequest(const sip::Message& request, const transport::Peer& to, TimePoint now,
                                            bool maySwitchForSize, bool failWithConnection) {
  if (!request.isRequest() || request.method() == sip::Method::Ack || !request.canBuildResponse() ||
      !request.topVia().branch || request.topVia().branch->empty()) {
    return 0;
  }
  detail::clientKey(*request.topVia().branch, request.methodText(), keyScratch_);
  if (lookup(keyScratch_) != kNoSlot) return 0;  // the branch must be fresh (§8.1.1.7)

  const bool invite = request.method() == sip::Method::Invite;
  std::uint32_t slot = allocate(invite ? Kind::ClientInvite : Kind::ClientNonInvite, to);
  Transaction& tx = slots_[slot];
  tx.state = invite ? State::Calling : State::Trying;
  tx.sizeSwitched = false;
  sip::serialize(request, tx.bytes);
  if (maySwitchForSize && tx.peer.transport == transport::TransportKind::Udp && udpSizeLimit_ > 0 &&
      tx.bytes.size() > udpSizeLimit_ && switchForSize(tx)) {
    ++stats_.sizeSwitches;
    if (!sender_.send(tx.peer, tx.bytes)) {
      // No TCP to there at all (e.g. the connection limit): UDP after all, at once.
      if (!fallBackToUdp(slot, now)) {
        destroy(slot);
        return 0;
      }
      arm(slot, kDeadline, now + 64 * timers_.t1);
      return idOf(slot);
    }
  } else if (!sender_.send(tx.peer, tx.bytes)) {
    ++stats_.sendFailures;
    destroy(slot);
    return 0;
  }
  if (failWithConnection && tx.peer.connectionId != 0 && !tx.sizeSwitched) {
    tx.failsWithConnection = true;
    ++requestConnections_[tx.peer.connectionId];
  }
  if (!tx.reliable) {
    arm(slot, kRetransmit, now + timers_.t1);  // Timer A / Timer E
  } else if (!invite && !tx.sizeSwitched) {
    release(tx.bytes);  // nothing to retransmit, and no ACK to build
  }
  arm(slot, kDeadline, now + 64 * timers_.t1);  // Timer B / Timer F
  return idOf(slot);
}

bool TransactionLayer::switchForSize(Transaction& tx) {
  // §18.1.1: "If this causes a change in the transport protocol from the one indicated in the top
  // Via, the value in the top Via MUST be changed." The Via is found by parsing the bytes (views
  // into them): this runs only for the rare large request.
  sip::Message sent;
  if (!sip::parseMessage(tx.bytes, sent, sip::Limits{.maxMessageSize = tx.bytes.size() + 1}).ok() || !sent.hasVia()) {
    return false;
  }
  std::string_view t = sent.topVia().transport;
  if (t.size() != 3 || !sip::iequals(t, "UDP") || t.data() < tx.bytes.data() ||
      t.data() + 3 > tx.bytes.data() + tx.bytes.size()) {
    return false;
  }
  tx.viaTransportAt = static_cast<std::uint32_t>(t.data() - tx.bytes.data());
  tx.bytes.replace(tx.viaTransportAt, 3, "TCP");
  tx.peer.transport = transport::TransportKind::Tcp;
  tx.peer.connectionId = 0;
  tx.reliable = true;
  tx.sizeSwitched = true;
  return true;
}

bool TransactionLayer::fallBackToUdp(std::uint32_t slot, TimePoint now) {
  Transaction& tx = slots_[slot];
  ++stats_.udpFallbacks;
  tx.bytes.replace(tx.viaTransportAt, 3, "UDP");
  tx.peer.transport = transport::TransportKind::Udp;
  tx.peer.connectionId = 0;
  tx.reliable = false;
  tx.sizeSwitched = false;
  tx.interval = timers_.t1;
  if (!sender_.send(tx.peer, tx.bytes)) {
    ++stats_.sendFailures;
    return false;
  }
  arm(slot, kRetransmit, now + timers_.t1);  // Timer A / Timer E from here
  return true;
}

std::size_t TransactionLayer::transportFailed(const transport::Peer& to, TimePoint now) {
  // First the list, then the callbacks: the TU may start new transactions to the same place (a
  // new connection attempt), which this failure is not about.
  std::vector<TransactionId> failed;
  for (std::uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Transaction& tx = slots_[slot];
    if (!tx.live || tx.isServer() || (tx.state != State::Calling && tx.state != State::Trying)) continue;
    if (tx.peer.transport != to.transport || tx.peer.port != to.port || !(tx.peer.address == to.address)) continue;
    if (tx.peer.connectionId != 0 && to.connectionId != 0 && tx.peer.connectionId != to.connectionId) continue;
    failed.push_back(idOf(slot));
  }
  for (TransactionId id : failed) {
    std::uint32_t slot = slotOf(id);
    if (slot == kNoSlot) continue;
    if (slots_[slot].sizeSwitched) {
      // §18.1.1: "if the attempt to establish the connection generates either an ICMP Protocol
      // Not Supported, or results in a TCP reset, the element SHOULD retry the request, using UDP."
      if (fallBackToUdp(slot, now)) continue;
    }
    ++stats_.sendFailures;
    destroy(slot);
    tu_.onClientFailure(id, false);  // §17.1.4: a transport error
  }
  return failed.size();
}

std::size_t TransactionLayer::connectionLost(std::uint64_t connectionId) {
  if (!requestConnections_.contains(connectionId)) return 0;
  std::vector<TransactionId> failed;
  for (std::uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Transaction& tx = slots_[slot];
    if (!tx.live || tx.isServer() || !tx.failsWithConnection || tx.peer.connectionId != connectionId) continue;
    if (tx.state != State::Calling && tx.state != State::Trying && tx.state != State::Proceeding) continue;
    failed.push_back(idOf(slot));
  }
  for (TransactionId id : failed) {
    std::uint32_t slot = slotOf(id);
    if (slot == kNoSlot) continue;
    ++stats_.connectionLosses;
    destroy(slot);
    tu_.onClientFailure(id, false);  // §17.1.4: a transport error
  }
  return failed.size();
}

void TransactionLayer::receiveResponse(sip::Message& response, const transport::Peer& from, TimePoint now) {
  const sip::Via& via = response.topVia();
  const int status = response.statusCode();
  if (!response.hasVia() || response.cseq().methodText.empty() || status < 100 || status > 699) {
    ++stats_.invalidDropped;
    return;
  }
  std::uint32_t slot = kNoSlot;
  // §17.1.3: the branch of the top Via and the CSeq method.
  if (via.branch) {
    detail::clientKey(*via.branch, response.cseq().methodText, keyScratch_);
    slot = lookup(keyScratch_);
  }
  if (slot == kNoSlot || slots_[slot].isServer()) {
    ++stats_.strayResponses;
    tu_.onStrayResponse(response, from);
    return;
  }
  slots_[slot].sizeSwitched = false;  // it got through: no going back to UDP
  if (slots_[slot].kind == Kind::ClientInvite) {
    inviteClientResponse(slot, response, now);
  } else {
    nonInviteClientResponse(slot, response, now);
  }
}

void TransactionLayer::nonInviteClientResponse(std::uint32_t slot, sip::Message& response, TimePoint now) {
  Transaction& tx = slots_[slot];
  if (tx.state == State::Completed) {
    ++stats_.responseRetransmissions;  // §17.1.2.2: absorbed while Timer K runs
    return;
  }
  TransactionId id = idOf(slot);
  if (response.statusCode() < 200) {
    // §17.1.2.2: Proceeding; Timer E keeps running and is reset to T2 when it next fires.
    tx.state = State::Proceeding;
    tu_.onResponse(id, response);
    return;
  }
  // Completed: stop E and F; Timer K absorbs retransmitted finals for T4 (zero when reliable).
  tx.state = State::Completed;
  disarm(slot, kRetransmit);
  if (tx.reliable) {
    destroy(slot);
  } else {
    release(tx.bytes);
    arm(slot, kDeadline, now + timers_.t4);
  }
  tu_.onResponse(id, response);
}

void TransactionLayer::inviteClientResponse(std::uint32_t slot, sip::Message& response, TimePoint now) {
  Transaction& tx = slots_[slot];
  const int status = response.statusCode();
  TransactionId id = idOf(slot);
  switch (tx.state) {
    case State::Calling:
    case State::Proceeding: break;
    case State::Completed:
      // §17.1.1.2: a retransmitted non-2xx final is answered with the same ACK, not passed up.
      ++stats_.responseRetransmissions;
      if (status >= 300 && !sender_.send(tx.peer, tx.bytes)) {
        // §17.1.4; the TU already has its final response, so this ends quietly.
        ++stats_.sendFailures;
        destroy(slot);
      }
      return;
    case State::Accepted:
      // RFC 6026 §7.2: every 2xx goes up (retransmissions, other forks); the rest is absorbed.
      if (status >= 200 && status < 300) {
        tu_.onResponse(id, response);
      } else {
        ++stats_.responseRetransmissions;
      }
      return;
    default: return;
  }

  if (status < 200) {
    // §17.1.1.2: Proceeding stops retransmissions, and Timer B applies only in Calling.
    tx.state = State::Proceeding;
    disarm(slot, kRetransmit);
    disarm(slot, kDeadline);
    tu_.onResponse(id, response);
    return;
  }
  disarm(slot, kRetransmit);
  if (status < 300) {
    // RFC 6026 §7.2: Accepted for 64*T1 (Timer M); the TU sends the ACK for the 2xx itself.
    tx.state = State::Accepted;
    release(tx.bytes);
    arm(slot, kDeadline, now + 64 * timers_.t1);
    tu_.onResponse(id, response);
    return;
  }
  // §17.1.1.2: a non-2xx final: the transaction ACKs it itself and waits in Completed for
  // retransmissions of the final (Timer D; zero on reliable transports).
  tx.state = State::Completed;
  if (!buildAck(tx, response) || !sender_.send(tx.peer, tx.bytes)) {
    ++stats_.sendFailures;
    destroy(slot);
  } else if (tx.reliable) {
    destroy(slot);
  } else {
    arm(slot, kDeadline, now + timers_.timerD);
  }
  tu_.onResponse(id, response);
}

bool TransactionLayer::buildAck(Transaction& tx, const sip::Message& response) {
  // §17.1.1.3: Request-URI, Call-ID, From, CSeq number, the top Via and Route from the INVITE;
  // To from the response (with its tag); CSeq method ACK. The INVITE is re-read from the bytes
  // kept for it: this runs only on a non-2xx final.
  sip::Message invite;
  if (!sip::parseMessage(tx.bytes, invite).ok() || !invite.canBuildResponse()) return false;
  const sip::HeaderField* to = response.find(sip::HeaderId::To);
  if (to == nullptr) return false;
  std::string ack;
  ack.reserve(tx.bytes.size());
  ack.append("ACK ").append(invite.requestUriText()).append(" SIP/2.0\r\n");
  appendHeader(ack, "Via", invite.topVia().raw);
  for (const sip::HeaderField& h : invite.headers()) {
    if (h.id == sip::HeaderId::Route) appendHeader(ack, h.name, h.value);
  }
  appendHeader(ack, "Max-Forwards", "70");  // every request carries one (§8.1.1.6)
  if (const sip::HeaderField* from = invite.find(sip::HeaderId::From)) appendHeader(ack, from->name, from->value);
  appendHeader(ack, to->name, to->value);
  appendHeader(ack, "Call-ID", invite.callId());
  char cseq[16];
  auto [end, ec] = std::to_chars(cseq, cseq + sizeof cseq, invite.cseq().number);
  (void)ec;
  ack.append("CSeq: ").append(cseq, end).append(" ACK\r\n");
  ack.append("Content-Length: 0\r\n\r\n");
  tx.bytes.swap(ack);  // the INVITE is no longer needed; its memory goes with `ack`
  return true;
}

void TransactionLayer::fireClientTimer(std::uint32_t slot, detail::Timer which, TimePoint now) {
  Transaction& tx = slots_[slot];
  TransactionId id = idOf(slot);
  if (which == kRetransmit) {
    ++stats_.timerRetransmissions;
    if (tx.kind == Kind::ClientInvite) {
      tx.interval *= 2;  // Timer A doubles without a cap (§17.1.1.2); B ends it
    } else {
      // Timer E (§17.1.2.2): doubling up to T2 in Trying, T2 in Proceeding.
      tx.interval = tx.state == State::Proceeding ? timers_.t2 : std::min(2 * tx.interval, timers_.t2);
    }
    std::chrono::milliseconds next = tx.interval;
    if (!sender_.send(tx.peer, tx.bytes)) {
      ++stats_.sendFailures;
      destroy(slot);
      tu_.onClientFailure(id, false);
      return;
    }
    arm(slot, kRetransmit, now + next);
    return;
  }
  // Deadline: B or F while waiting for a final (a timeout, 408); D, K or M: clean-up is over.
  const bool timeout = tx.state == State::Calling || tx.state == State::Trying || tx.state == State::Proceeding;
  destroy(slot);
  if (timeout) tu_.onClientFailure(id, true);
}

}  // namespace sipwarden::transaction
