// Storage for text that edits add to a message (new Via, To tag, body...). Views handed out stay
// valid until the arena is cleared or destroyed: chunks never move.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace sipwarden::sip {

class Arena {
 public:
  std::string_view store(std::string_view s) {
    char* p = allocate(s.size());
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  char* allocate(std::size_t n) {
    if (chunks_.empty() || used_ + n > capacity_) {
      capacity_ = std::max<std::size_t>(kChunk, n);
      chunks_.push_back(std::make_unique_for_overwrite<char[]>(capacity_));
      if (chunks_.size() == 1) firstCapacity_ = capacity_;
      used_ = 0;
    }
    char* p = chunks_.back().get() + used_;
    used_ += n;
    return p;
  }

  /// Forgets everything stored; the first chunk is kept for reuse (a message that is cleared and
  /// parsed again, like a transport's scratch message, then edits without allocating).
  void clear() {
    if (chunks_.empty()) {
      used_ = capacity_ = 0;
      return;
    }
    if (chunks_.size() > 1) {
      chunks_.resize(1);
      capacity_ = firstCapacity_;
    }
    used_ = 0;
  }

 private:
  static constexpr std::size_t kChunk = 1024;
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::size_t used_ = 0;
  std::size_t capacity_ = 0;
  std::size_t firstCapacity_ = 0;  ///< of chunks_.front()
};

}  // namespace sipwarden::sip
