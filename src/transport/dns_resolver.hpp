// RFC 3263 §4 server location for a SIP URI whose host is a name: NAPTR (which transports the
// domain offers), SRV (which hosts and ports), then A/AAAA, through the system resolver (libresolv,
// /etc/resolv.conf) or the name servers of [dns] servers. Lookups block, so they run on the
// resolver's own thread; the answer is posted back to the asking worker's io_context.
//
// Thread-safety: resolve() may be called from any thread.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "transport/peer.hpp"

namespace sipwarden::transport {

struct DnsTarget {
  TransportKind transport = TransportKind::Udp;
  IpAddress address;
  std::uint16_t port = 0;
};

struct DnsSettings {
  /// Name servers (IPv4 address and port); empty: those of /etc/resolv.conf, and A/AAAA through
  /// getaddrinfo (which reads /etc/hosts too).
  std::vector<std::pair<IpAddress, std::uint16_t>> servers;
  std::chrono::seconds timeout{2};
  int attempts = 2;
};

struct SipLookup {
  std::string host;
  std::optional<std::uint16_t> port;
  std::optional<TransportKind> transport;  ///< the URI's transport parameter
  bool sips = false;
  std::vector<TransportKind> supported;  ///< transports we can send over, in our preference order
};

class DnsResolver {
 public:
  explicit DnsResolver(DnsSettings settings);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  /// Resolves on the resolver thread; `done` runs on `io` with the targets in the order to try
  /// (empty: nothing found). Returns false, and does nothing, when kMaxPending lookups already
  /// wait (a flood of requests to unknown names must not queue without bound).
  bool resolve(SipLookup lookup, boost::asio::io_context& io, std::function<void(std::vector<DnsTarget>)> done);
  static constexpr int kMaxPending = 256;

  /// The same, synchronously (for tests and the CLI).
  std::vector<DnsTarget> resolveNow(const SipLookup& lookup);

  /// Drops lookups not started and waits for the one running (its answer is posted, to an
  /// io_context that must still exist). Call before the io_contexts it answers to are destroyed.
  void stop();

 private:
  DnsSettings settings_;
  boost::asio::thread_pool pool_{1};
  bool stopped_ = false;
  std::atomic<int> pending_{0};
};

}  // namespace sipwarden::transport
