// Counting replacements of the C and C++ allocation functions; see bench_alloc_counter.hpp.
// glibc exports its allocator under __libc_* names precisely so that a program can interpose
// malloc and still reach the real one (the same mechanism tcmalloc and jemalloc use).
#include "bench_alloc_counter.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);
}

namespace {

// Plain thread_local integers: in the executable they use the local-exec TLS model (one %fs-relative
// add), so counting costs the peers, which allocate on every parse, next to nothing.
thread_local std::uint64_t tAllocations = 0;
thread_local std::uint64_t tNews = 0;
thread_local std::uint64_t tFrees = 0;
thread_local std::uint64_t tBytes = 0;

inline void countAlloc(std::size_t size) {
  ++tAllocations;
  tBytes += size;
}
inline void countFree(void* p) {
  if (p != nullptr) ++tFrees;
}

void* newImpl(std::size_t size) {
  ++tNews;
  countAlloc(size);
  if (size == 0) size = 1;
  while (true) {
    if (void* p = __libc_malloc(size)) return p;
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}

void* newAlignedImpl(std::size_t size, std::align_val_t al) {
  ++tNews;
  countAlloc(size);
  if (size == 0) size = 1;
  while (true) {
    if (void* p = __libc_memalign(static_cast<std::size_t>(al), size)) return p;
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}

void deleteImpl(void* p) noexcept {
  countFree(p);
  __libc_free(p);
}

}  // namespace

namespace sipwarden::bench {
AllocCounts allocCounts() { return {tAllocations, tNews, tFrees, tBytes}; }
}  // namespace sipwarden::bench

// ---- C allocator ----
extern "C" {

void* malloc(std::size_t size) noexcept {
  countAlloc(size);
  return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) noexcept {
  countAlloc(n * size);
  return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size) noexcept {
  if (p != nullptr && size == 0) {
    countFree(p);  // realloc(p, 0) frees p
  } else {
    countAlloc(size);
    countFree(p);
  }
  return __libc_realloc(p, size);
}

void free(void* p) noexcept {
  countFree(p);
  __libc_free(p);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  countAlloc(size);
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  countAlloc(size);
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  countAlloc(size);
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

}  // extern "C"

// ---- C++ allocator: every replaceable global form ([new.delete]) ----
void* operator new(std::size_t size) { return newImpl(size); }
void* operator new[](std::size_t size) { return newImpl(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return newImpl(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return newImpl(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t al) { return newAlignedImpl(size, al); }
void* operator new[](std::size_t size, std::align_val_t al) { return newAlignedImpl(size, al); }
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  try {
    return newAlignedImpl(size, al);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  try {
    return newAlignedImpl(size, al);
  } catch (...) {
    return nullptr;
  }
}

void operator delete(void* p) noexcept { deleteImpl(p); }
void operator delete[](void* p) noexcept { deleteImpl(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { deleteImpl(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { deleteImpl(p); }
void operator delete(void* p, std::size_t) noexcept { deleteImpl(p); }
void operator delete[](void* p, std::size_t) noexcept { deleteImpl(p); }
void operator delete(void* p, std::align_val_t) noexcept { deleteImpl(p); }
void operator delete[](void* p, std::align_val_t) noexcept { deleteImpl(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { deleteImpl(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { deleteImpl(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { deleteImpl(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { deleteImpl(p); }
