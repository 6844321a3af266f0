// Replay protection for stateless nonces (RFC 7616 §3.4.5 and §5.5: the server remembers the
// highest nonce-count seen per nonce and refuses a request whose nc is not higher).
//
// Every nonce carries a 64-bit serial number (NonceService numbers them as it issues them), so the
// counts live in a fixed ring of slots indexed by serial: slot = serial mod slots. A slot holds the
// serial that last used it (its bits above the slot index, 44 of them) and that nonce's highest
// nc (20 bits), in one 64-bit word updated by compare-and-swap. "Later" is decided modulo 2^44 on
// those bits, so it would take 2^43 times the slot count of nonces to wrap around. A nonce whose slot a later serial
// has taken is "overtaken": its count is forgotten, so it is treated as stale (the client is asked again with
// stale=true), never accepted. Memory is fixed (8 bytes a slot, touched only as serials reach it), nothing is allocated
// per nonce, and there is nothing to purge. With the default 2^20 slots a nonce stays usable for its whole lifetime
// (300 s) up to about 3,500 challenges a second; above that, a client that keeps reusing one nonce is asked again
// sooner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace sipwarden::auth {

/// Thread-safety: every member may be called concurrently (lock-free).
class NonceCounter {
 public:
  /// `slots` is rounded up to a power of two (at least 2).
  explicit NonceCounter(std::size_t slots = 1 << 20);

  enum class Verdict {
    Accepted,   ///< nc is higher than every nc seen with this nonce (recorded)
    Replayed,   ///< nc is not higher than one seen before, or is 0 (counts start at 1)
    Overtaken,  ///< a later nonce has taken this one's slot: its counts are forgotten
  };
  /// An nc above kMaxNc is answered Overtaken (the client is asked again, with a fresh nonce).
  Verdict accept(std::uint64_t serial, std::uint32_t nc);
  static constexpr std::uint32_t kMaxNc = (1u << 20) - 1;

  [[nodiscard]] std::size_t slots() const { return mask_ + 1; }

 private:
  struct Free {
    void operator()(std::uint64_t* p) const { std::free(p); }
  };
  std::size_t mask_;
  int shift_;  ///< log2(slots): the serial's bits above it are its tag
  /// tag << 20 | highest nc; 0 = never used (a used slot has nc >= 1). Zeroed by calloc, so
  /// pages are touched only as serials reach them.
  std::unique_ptr<std::uint64_t[], Free> slots_;
};

}  // namespace sipwarden::auth
