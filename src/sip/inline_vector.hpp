// A vector of trivially copyable elements that keeps the first N inline, so that parsing a typical
// message allocates nothing; it spills to the heap beyond N.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

namespace sipwarden::sip {

template <typename T, std::size_t N>
class InlineVector {
  static_assert(std::is_trivially_copyable_v<T>, "InlineVector moves elements with memmove");

 public:
  InlineVector() = default;
  InlineVector(const InlineVector& o) { *this = o; }
  InlineVector& operator=(const InlineVector& o) {
    if (this != &o) {
      clear();
      reserveFor(o.size_);
      std::memcpy(static_cast<void*>(data()), o.data(), o.size_ * sizeof(T));
      size_ = o.size_;
    }
    return *this;
  }

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] std::size_t capacity() const { return heap_.empty() ? N : heap_.size(); }
  T* data() { return heap_.empty() ? reinterpret_cast<T*>(inline_) : heap_.data(); }
  const T* data() const { return heap_.empty() ? reinterpret_cast<const T*>(inline_) : heap_.data(); }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& back() { return data()[size_ - 1]; }

  void clear() { size_ = 0; }
  void push_back(const T& v) {
    if (size_ < capacity()) {
      data()[size_++] = v;
      return;
    }
    insert(size_, v);
  }
  void insert(std::size_t pos, const T& v) {
    reserveFor(size_ + 1);
    T* d = data();
    std::memmove(static_cast<void*>(d + pos + 1), d + pos, (size_ - pos) * sizeof(T));
    d[pos] = v;
    ++size_;
  }
  void erase(std::size_t pos) {
    T* d = data();
    std::memmove(static_cast<void*>(d + pos), d + pos + 1, (size_ - pos - 1) * sizeof(T));
    --size_;
  }

 private:
  void reserveFor(std::size_t n) {
    if (n <= capacity()) return;
    std::vector<T> grown(std::max(n, capacity() * 2));
    std::memcpy(static_cast<void*>(grown.data()), data(), size_ * sizeof(T));
    heap_.swap(grown);
  }

  // Raw storage: a fresh vector costs nothing to construct (elements are written before they are read).
  alignas(T) unsigned char inline_[N * sizeof(T)];
  std::vector<T> heap_;
  std::size_t size_ = 0;
};

}  // namespace sipwarden::sip
