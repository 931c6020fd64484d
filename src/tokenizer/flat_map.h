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
    keys_.assign(cap, kEmpty);
    values_.assign(cap, V{});
    mask_ = cap - 1;
    size_ = 0;
  }
  // Inserts key -> value unless key is present; returns false when it was.
  bool Insert(uint64_t key, const V& value) {
    WEFT_DCHECK(key != kEmpty);
    if ((size_ + 1) * 2 > keys_.size()) Grow();
    size_t i = Slot(key);
    while (keys_[i] != kEmpty) {
      if (keys_[i] == key) return false;
      i = (i + 1) & mask_;
    }
    keys_[i] = key;
    values_[i] = value;
    ++size_;
    return true;
  }
  const V* Find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    size_t i = Slot(key);
    while (true) {
      uint64_t k = keys_[i];
      if (k == key) return &values_[i];
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
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<V> old_values = std::move(values_);
    Reserve(old_keys.empty() ? 16 : old_keys.size());
    for (size_t i = 0; i < old_keys.size(); ++i)
      if (old_keys[i] != kEmpty) Insert(old_keys[i], old_values[i]);
  }
  std::vector<uint64_t> keys_;
  std::vector<V> values_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace weft
