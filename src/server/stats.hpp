// Counters shared by every worker (relaxed atomics; read for logs and, later, metrics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "transport/worker_transport.hpp"

namespace sipwarden::server {

struct Stats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> responsesIn{0};
  std::atomic<std::uint64_t> invalidMessages{0};
  std::atomic<std::uint64_t> registrations{0};   ///< REGISTERs answered 200
  std::atomic<std::uint64_t> authChallenges{0};  ///< 401/407 sent
  std::atomic<std::uint64_t> authFailures{0};    ///< wrong password, replay, forged nonce...
  std::atomic<std::uint64_t> certificateAuthentications{0};  ///< requests let in by a client certificate
  std::atomic<std::uint64_t> securityRejections{0};  ///< refused by a domain's security mode (403, 488)
  std::atomic<std::uint64_t> storeFailures{0};
  std::atomic<std::uint64_t> offlineStored{0};     ///< MESSAGEs kept for an unregistered user (202)
  std::atomic<std::uint64_t> offlineDelivered{0};  ///< of those, delivered (2xx) and removed
  std::atomic<std::uint64_t> offlineRefused{0};    ///< of those, refused for good by the recipient and dropped
  std::atomic<std::uint64_t> statelessAcks{0};     ///< ACKs for our stateless finals, dropped
  /// Final and provisional responses sent by the server, by status code (100..699).
  std::array<std::atomic<std::uint64_t>, 700> responsesSent{};
  transport::TransportCounters transport;

  /// Responses >= 400 (every rejection), summed.
  [[nodiscard]] std::uint64_t rejections() const {
    std::uint64_t n = 0;
    for (std::size_t s = 400; s < responsesSent.size(); ++s) n += responsesSent[s].load(std::memory_order_relaxed);
    return n;
  }
};

}  // namespace sipwarden::server
