// ForwardBatch: one step's work for the model, as the scheduler describes it: a flat,
// ragged (padding-free) batch of tokens from several sequences, each continuing from its
// KV already cached. Every field is borrowed; the caller keeps the arrays alive for the
// duration of ModelRunner::Execute.
#pragma once

#include <cstdint>
#include <span>

namespace weft {

struct ForwardBatch {
  std::span<const int32_t> tokens;        // [n_tokens] token ids, sequence after sequence
  std::span<const int32_t> positions;     // [n_tokens] position of each token in its sequence
  std::span<const int64_t> slot_mapping;  // [n_tokens] KV slot (block * block_size + offset) to write
  std::span<const int32_t> query_start;   // [n_seqs + 1] sequence s owns tokens [qs[s], qs[s+1])
  std::span<const int32_t> seq_len;       // [n_seqs] KV length of s after this step
  std::span<const int32_t> block_table;   // [n_seqs * max_blocks_per_seq] block ids
  int max_blocks_per_seq = 0;
  std::span<const int32_t> logit_rows;    // token indices (into tokens) whose logits are wanted
  // Token trees (speculative decoding): empty, or [n_tokens] attention masks as
  // kernels::AttentionBatch::tree_mask describes (0: a causal row). A tree row's position
  // is the step's first position + its depth (the set bits of its mask - 1), and each row
  // writes its own KV slot; which path to keep is the caller's business.
  std::span<const uint64_t> tree_mask;
  // Token trees, bit-identical form (sched/scheduler.h): in every layer, after this
  // step's K/V are written and before attention, slot kv_copy_dst[i] gets slot
  // kv_copy_src[i]'s K/V (kernels/kv_copy.h), in order. Empty: nothing to copy.
  std::span<const int64_t> kv_copy_src;
  std::span<const int64_t> kv_copy_dst;
  // Heavy-hitter eviction (kv/kv_budget.h): empty, or [n_seqs] pointers, each null or an
  // array indexed by KV (cache) position to which every layer's attention adds the softmax
  // weight each query row and head gave the position (kernels::AttentionBatch::attn_mass).
  std::span<float* const> attn_mass;

  int n_seqs() const { return static_cast<int>(seq_len.size()); }
  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
};

}  // namespace weft
