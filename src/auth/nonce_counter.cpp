#include "auth/nonce_counter.hpp"

#include <atomic>
#include <bit>
#include <new>

namespace sipwarden::auth {

NonceCounter::NonceCounter(std::size_t slots)
    : mask_(std::bit_ceil(slots < 2 ? std::size_t{2} : slots) - 1),
      slots_(static_cast<std::uint64_t*>(std::calloc(mask_ + 1, sizeof(std::uint64_t)))) {
  if (!slots_) throw std::bad_alloc();
}

NonceCounter::Verdict NonceCounter::accept(std::uint32_t serial, std::uint32_t nc) {
  std::atomic_ref<std::uint64_t> slot(slots_[serial & mask_]);
  std::uint64_t current = slot.load(std::memory_order_acquire);
  while (true) {
    if (current != 0) {
      const auto holder = static_cast<std::uint32_t>(current >> 32);
      const auto highest = static_cast<std::uint32_t>(current);
      if (holder == serial) {
        if (nc <= highest) return Verdict::Replayed;
      } else if (static_cast<std::int32_t>(holder - serial) > 0) {
        // A later serial (modulo 2^32) used the slot: this nonce's counts are gone.
        return Verdict::Overtaken;
      }
      // else an earlier serial's: this nonce's first use.
    }
    if (nc == 0) return Verdict::Replayed;
    const std::uint64_t next = (static_cast<std::uint64_t>(serial) << 32) | nc;
    if (slot.compare_exchange_weak(current, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return Verdict::Accepted;
    }
  }
}

}  // namespace sipwarden::auth
