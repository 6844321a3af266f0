// One transaction's state as the TransactionLayer keeps it (RFC 3261 §17, RFC 6026). The layer
// stores these in a slot table and runs the four state machines over them
// (server_transaction.cpp, client_transaction.cpp); nothing outside the layer touches them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "transport/peer.hpp"

namespace sipwarden::transaction {

/// The states of RFC 3261 Figures 5-8, with "Accepted" from RFC 6026 §7. Terminated transactions
/// are removed at once and have no state.
enum class State : std::uint8_t {
  Calling,     ///< client INVITE, before any response (§17.1.1)
  Trying,      ///< non-INVITE, before any response (§17.1.2, §17.2.2)
  Proceeding,  ///< a provisional response was received / sent (server INVITE starts here, §17.2.1)
  Completed,   ///< a final response (non-2xx for INVITE) was received / sent
  Confirmed,   ///< server INVITE: the ACK for its non-2xx final arrived (§17.2.1)
  Accepted,    ///< INVITE: a 2xx was received / sent (RFC 6026 §7.1, §7.2)
};

namespace detail {

enum class Kind : std::uint8_t { ServerInvite, ServerNonInvite, ClientInvite, ClientNonInvite };

/// Each transaction has at most two timers running at once (RFC 3261 Table 4 / RFC 6026):
/// Retransmit is A, E, G or the 100 Trying delay; Deadline is B, F or H while waiting, then the
/// clean-up timer D, I, J, K, L or M.
enum Timer : std::uint8_t { kRetransmit = 0, kDeadline = 1 };

struct Transaction {
  std::string key;  ///< matching key (transaction_key.hpp); the index points here
  /// Server: the last response sent (or the prepared 100 Trying). Client: the request while it
  /// may need retransmitting or an ACK built from it; then the ACK for a non-2xx final.
  std::string bytes;
  /// RFC 2543 server INVITE only: the To tag of the final response sent, which the ACK carries
  /// (§17.2.3).
  std::string responseToTag;
  /// Server: where the request came from (responses go back there, §18.2.2). Client: the
  /// destination.
  transport::Peer peer;
  std::uint32_t timerTag[2] = {0, 0};  ///< armed timer's tag per Timer; 0 when not armed
  std::uint32_t generation = 1;        ///< bumped when the slot is freed: ids are never reused
  std::uint32_t keyHash = 0;
  std::chrono::milliseconds interval{0};  ///< current retransmission interval (A, E, G)
  Kind kind = Kind::ServerNonInvite;
  State state = State::Trying;
  bool live = false;
  bool reliable = false;  ///< RFC 3261 §17: no retransmission timers, zero clean-up timers
  bool rfc2543 = false;
  bool sentResponse = false;  ///< server: `bytes` holds a response that was sent
  /// Client: the request was for UDP but went over TCP for its size (RFC 3261 §18.1.1). Until a
  /// response arrives, a failure to connect sends it over UDP after all; `bytes` keeps it.
  bool sizeSwitched = false;
  /// Client: fails at once when its connection closes before the final (see connectionLost).
  bool failsWithConnection = false;
  /// Server, over a connection: no final response sent yet (counted in answersOwed_).
  bool owesAnswer = false;
  std::uint32_t viaTransportAt = 0;  ///< where "UDP"/"TCP" of the top Via is in `bytes`

  [[nodiscard]] bool isServer() const { return kind == Kind::ServerInvite || kind == Kind::ServerNonInvite; }
};

}  // namespace detail
}  // namespace sipwarden::transaction
