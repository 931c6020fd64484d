// Per-token attention mass for heavy-hitter eviction (H2O, Zhang et al. 2023; kv/kv_budget.h):
// for each sequence that asks (AttentionBatch::attn_mass[s] != null), every KV position
// gets the softmax weight that each of the step's query rows and heads gave it, added to
// its entry (the caller sums over layers by passing the same array to every layer).
//
// Why a pass of its own and not inside the tiled kernel: a weight is exp(score - m) / l
// with m, l the FINAL running max and sum of its query, known only after the last KV chunk
// (and, for split-KV decode, only after ReduceSplitAttention). Folding it into the online
// softmax would need a score store of [rows x heads x positions] or a second K pass anyway.
// So this pass reads K once more (not V) for the sequences that ask, recomputes the scores
// in f32 (KernelTable::attention_scores: scalar, AVX2, AVX-512), softmaxes each row
// (KernelTable::softmax) and adds it (KernelTable::add). It never touches the attention
// output, so logits keep their bits (batch invariance), and with attn_mass == null (or all
// entries null) it costs nothing.
//
// Shapes: as AttentionBatch / KvCacheView (ops.h); K is read for positions [0, seq_len[s]),
// each row over the positions it sees (causal, sliding window), scores soft-capped like
// the kernel's. Tree masks are refused (checked). The weights are the kernel's up to f32
// rounding of the scores (tested against a float64 reference, attention_mass_test.cc).
// Thread-safety: sequences run in parallel on ctx.pool, each on one thread and in a fixed
// order (the mass of a sequence does not depend on the batch or the thread count);
// distinct sequences must have distinct arrays. Scratch is thread_local.
#pragma once

#include "kernels/ops.h"

namespace weft::kernels {

void AccumulateAttentionMass(const KernelContext& ctx, const AttentionBatch& batch, const KvCacheView& cache);

}  // namespace weft::kernels
