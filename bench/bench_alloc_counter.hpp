// Heap allocation counting for the benchmark binary. bench_alloc_counter.cpp replaces malloc,
// calloc, realloc, free, the aligned allocators and every global operator new/delete with versions
// that count on the calling thread and forward to glibc's allocator (__libc_malloc and friends).
// Because the replacements live in the executable, the shared libraries of the peers (libosip2,
// sofia-sip) resolve malloc to them as well, so allocations are counted for every parser alike.
//
// Thread-safety: counters are thread_local (one plain increment per call, no atomic), read them on
// the thread that did the work.
#pragma once

#include <cstdint>

namespace sipwarden::bench {

struct AllocCounts {
  std::uint64_t allocations = 0;  ///< malloc, calloc, realloc, aligned allocs and operator new
  std::uint64_t news = 0;         ///< of which operator new / new[]
  std::uint64_t frees = 0;        ///< free and operator delete of a non-null pointer
  std::uint64_t bytes = 0;        ///< bytes requested by those allocations
};

/// The counts of the calling thread since it started.
AllocCounts allocCounts();

/// `after - before`, field by field.
inline AllocCounts operator-(const AllocCounts& after, const AllocCounts& before) {
  return {after.allocations - before.allocations, after.news - before.news, after.frees - before.frees,
          after.bytes - before.bytes};
}

}  // namespace sipwarden::bench
