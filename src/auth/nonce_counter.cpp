#include "auth/nonce_counter.hpp"

#include <atomic>
#include <bit>
#include <new>

namespace sipwarden::auth {

namespace {
constexpr int kNcBits = 20;
constexpr std::uint64_t kTagMask = (std::uint64_t{1} << (64 - kNcBits)) - 1;
}  // namespace

NonceCounter::NonceCounter(std::size_t slots)
    : mask_(std::bit_ceil(slots < 2 ? std::size_t{2} : slots) - 1),
      shift_(std::countr_zero(mask_ + 1)),
      slots_(static_cast<std::uint64_t*>(std::calloc(mask_ + 1, sizeof(std::uint64_t)))) {
  if (!slots_) throw std::bad_alloc();
}

NonceCounter::Verdict NonceCounter::accept(std::uint64_t serial, std::uint32_t nc) {
  if (nc == 0) return Verdict::Replayed;
  if (nc > kMaxNc) return Verdict::Overtaken;
  const std::uint64_t tag = (serial >> shift_) & kTagMask;
  std::atomic_ref<std::uint64_t> slot(slots_[serial & mask_]);
  std::uint64_t current = slot.load(std::memory_order_acquire);
  while (true) {
    if (current != 0) {
      const std::uint64_t holder = current >> kNcBits;
      const auto highest = static_cast<std::uint32_t>(current & kMaxNc);
      if (holder == tag) {
        if (nc <= highest) return Verdict::Replayed;
      } else if (((holder - tag) & kTagMask) < (kTagMask >> 1) + 1) {
        // A later serial (modulo 2^44 slot rounds) used the slot: this nonce's counts are gone.
        return Verdict::Overtaken;
      }
      // else an earlier serial's: this nonce's first use.
    }
    const std::uint64_t next = tag << kNcBits | nc;
    if (slot.compare_exchange_weak(current, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return Verdict::Accepted;
    }
  }
}

}  // namespace sipwarden::auth
