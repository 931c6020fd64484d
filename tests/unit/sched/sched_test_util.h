// A fabricated model for scheduler tests: a "KV cache" of slots, each holding the hash of
// the prefix up to its token, and a deterministic "sampler". Executing a step checks that
// every position a sequence attends to holds the right prefix hash (so paging, prefix
// hits, copy-on-write and preemption are all verified by content), then writes the new
// slots and returns sampled tokens that depend only on the sequence's content.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "sched/scheduler.h"

namespace weft::testing_sched {

inline uint64_t MixHash(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 31);
}

// Prefix hash of tokens[0..p] for every p.
inline std::vector<uint64_t> PrefixHashes(const std::vector<int32_t>& tokens, size_t n) {
  std::vector<uint64_t> h(n);
  uint64_t acc = 1;
  for (size_t p = 0; p < n; ++p) h[p] = acc = MixHash(acc, static_cast<uint64_t>(tokens[p]));
  return h;
}

// The token a sample draws after a prefix with hash h.
inline int32_t FakeSample(uint64_t h, int32_t sample_index, int32_t vocab = 1000) {
  return static_cast<int32_t>(MixHash(h, 77u + static_cast<uint64_t>(sample_index)) % static_cast<uint64_t>(vocab));
}

class FakeModel {
 public:
  FakeModel(int32_t num_blocks, int32_t block_size)
      : block_size_(block_size), slots_(static_cast<size_t>(num_blocks) * static_cast<size_t>(block_size), 0) {}

  // Runs one step; returns the sampled tokens in Update() order.
  std::vector<int32_t> Execute(const SchedulerOutput& out) {
    for (const BlockCopy& c : out.copies) {
      for (int32_t i = 0; i < block_size_; ++i) {
        slots_[Slot(c.dst, i)] = slots_[Slot(c.src, i)];
      }
    }
    std::vector<int32_t> sampled;
    for (const ScheduledSequence& e : out.seqs) {
      const Sequence& s = *e.seq;
      const int32_t end = e.start_position + e.num_new_tokens;
      const std::vector<uint64_t> h = PrefixHashes(s.tokens, static_cast<size_t>(end));
      for (int32_t p = e.start_position; p < end; ++p) {
        const int64_t slot = out.slot_mapping[static_cast<size_t>(e.token_offset + p - e.start_position)];
        EXPECT_EQ(slot, int64_t{e.block_table[static_cast<size_t>(p / block_size_)]} * block_size_ + p % block_size_);
        EXPECT_EQ(out.tokens[static_cast<size_t>(e.token_offset + p - e.start_position)], s.tokens[static_cast<size_t>(p)]);
        slots_[static_cast<size_t>(slot)] = h[static_cast<size_t>(p)];
      }
      // Attention reads every position of the sequence: all must hold its prefix.
      for (int32_t p = 0; p < end; ++p) {
        const size_t slot = Slot(e.block_table[static_cast<size_t>(p / block_size_)], p % block_size_);
        if (slots_[slot] != h[static_cast<size_t>(p)]) {
          ADD_FAILURE() << "request " << s.request_id << "." << s.sample_index << " position " << p
                        << " reads wrong KV";
          break;
        }
      }
      if (e.needs_logits) {
        for (const Sequence* t : e.samplers) sampled.push_back(FakeSample(h.back(), t->sample_index));
      }
    }
    return sampled;
  }

 private:
  size_t Slot(int32_t block, int32_t offset) const {
    return static_cast<size_t>(block) * static_cast<size_t>(block_size_) + static_cast<size_t>(offset);
  }
  int32_t block_size_;
  std::vector<uint64_t> slots_;
};

// The tokens a sample generates alone: what any batch must reproduce.
inline std::vector<int32_t> ExpectedAlone(const std::vector<int32_t>& prompt, int32_t sample_index, int32_t max_tokens,
                                          int32_t max_model_len, bool (*stops)(int32_t)) {
  std::vector<int32_t> t = prompt;
  uint64_t acc = 1;
  for (int32_t x : t) acc = MixHash(acc, static_cast<uint64_t>(x));
  while (static_cast<int32_t>(t.size() - prompt.size()) < max_tokens && static_cast<int32_t>(t.size()) < max_model_len) {
    const int32_t tok = FakeSample(acc, sample_index);
    t.push_back(tok);
    acc = MixHash(acc, static_cast<uint64_t>(tok));
    if (stops != nullptr && stops(tok)) break;
  }
  return t;
}

}  // namespace weft::testing_sched
