// FlatMap64: an open-addressing hash map from uint64_t keys to small trivially copyable
// values, for the tokenizers' hot lookups (merge pairs, code points). Built once, then
// read-only: lookups are thread-safe. The key ~0 is reserved.
#pragma once

#include <cstdint>
#include <vector>

#include "base/check.h"

namespace weft {

template <typename V>
class FlatMap64 {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot_{kEmpty, V{}});
    mask_ = cap - 1;
    size_ = 0;
  }
  // Inserts key -> value unless key is present; returns false when it was.
  bool Insert(uint64_t key, const V& value) {
    WEFT_DCHECK(key != kEmpty);
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    size_t i = Slot(key);
    while (slots_[i].key != kEmpty) {
      if (slots_[i].key == key) return false;
      i = (i + 1) & mask_;
    }
    slots_[i] = Slot_{key, value};
    ++size_;
    return true;
  }
  const V* Find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    size_t i = Slot(key);
    while (true) {
      uint64_t k = slots_[i].key;
      if (k == key) return &slots_[i].value;
      if (k == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return size_; }

 private:
  size_t Slot(uint64_t key) const {
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(key >> 20) & mask_;
  }
  void Grow() {
    std::vector<Slot_> old = std::move(slots_);
    Reserve(old.empty() ? 16 : old.size());
    for (const Slot_& s : old)
      if (s.key != kEmpty) Insert(s.key, s.value);
  }
  struct Slot_ {
    uint64_t key;
    V value;
  };
  std::vector<Slot_> slots_;  // key and value side by side: one cache miss per probe
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace weft
