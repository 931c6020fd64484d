#include "model/layer_blocks.h"

#include <algorithm>
#include <cmath>

#include "kernels/kv_copy.h"

namespace weft {

void DecoderActivations::Allocate(const ModelConfig& c, int64_t max_tokens, int64_t max_rows) {
  const auto t = static_cast<size_t>(max_tokens);
  const auto q_dim = static_cast<size_t>(c.n_head * c.head_dim);
  const auto kv_dim = static_cast<size_t>(c.n_head_kv * c.head_dim);
  x.resize(t * static_cast<size_t>(c.n_embd));
  xn.resize(x.size());
  proj.resize(x.size());
  q.resize(t * q_dim);
  attn.resize(t * q_dim);
  k.resize(t * kv_dim);
  v.resize(t * kv_dim);
  const int64_t ff = c.is_moe() ? std::max({c.n_ff, c.ExpertFf(), c.n_ff_shared_expert}) : c.n_ff;
  gate.resize(t * static_cast<size_t>(ff));
  up.resize(gate.size());
  last.resize(static_cast<size_t>(max_rows * c.n_embd));
  if (c.is_mla()) {
    mla_q.resize(t * static_cast<size_t>(c.n_head * (c.qk_nope_dim + c.rope_dim)));
    mla_q_a.resize(t * static_cast<size_t>(c.q_lora_rank));
    mla_kv.resize(t * static_cast<size_t>(c.kv_lora_rank + c.rope_dim));
    mla_v.resize(t * static_cast<size_t>(c.n_head * c.v_head_dim));
  }
  if (c.is_moe()) {
    const auto slots = t * static_cast<size_t>(c.n_expert_used);
    router.resize(t * static_cast<size_t>(c.n_expert));
    chosen.resize(slots);
    chosen_w.resize(slots);
    routed.resize(slots);
    expert_start.resize(static_cast<size_t>(c.n_expert) + 1);
    expert_fill.resize(static_cast<size_t>(c.n_expert));
    expert_used.assign(static_cast<size_t>(c.n_layer * c.n_expert), 0);
    expert_in.resize(x.size());
    expert_out.resize(slots * static_cast<size_t>(c.n_embd));
  }
}

void GatherLogitRows(const ForwardBatch& b, const float* x, int64_t n_embd, float* rows) {
  for (size_t r = 0; r < b.logit_rows.size(); ++r) {
    const float* src = x + static_cast<int64_t>(b.logit_rows[r]) * n_embd;
    std::copy(src, src + n_embd, rows + static_cast<int64_t>(r) * n_embd);
  }
}

void AddBias(const kernels::KernelContext& ctx, float* y, const float* bias, int64_t rows, int64_t dim) {
  if (bias == nullptr) return;
  for (int64_t r = 0; r < rows; ++r) kernels::AddInPlace(ctx, y + r * dim, bias, dim);
}

kernels::RopeParams RopeParamsFor(const ModelConfig& c, float theta, const float* freq_factors) {
  kernels::RopeParams p;
  p.rope_dim = static_cast<int>(c.rope_dim);
  p.theta = theta;
  p.style = c.rope_style == RopeStyle::kNeox ? kernels::RopeStyle::kNeox : kernels::RopeStyle::kInterleaved;
  switch (c.rope_scaling.type) {
    case RopeScalingType::kNone: p.scaling = kernels::RopeScaling::kNone; break;
    case RopeScalingType::kLinear: p.scaling = kernels::RopeScaling::kLinear; break;
    case RopeScalingType::kYarn: p.scaling = kernels::RopeScaling::kYarn; break;
    // Llama 3.1: per-pair divisors only (LlamaWeights::rope_freq_factors).
    case RopeScalingType::kLlama3: p.scaling = kernels::RopeScaling::kNone; break;
    // LongRoPE: divisors (long or short set) and attn_factor on cos/sin only.
    case RopeScalingType::kLongRope: p.scaling = kernels::RopeScaling::kNone; break;
  }
  p.freq_factors = freq_factors;
  p.factor = c.rope_scaling.factor;
  p.original_context = static_cast<int>(c.rope_scaling.original_context);
  p.beta_fast = c.rope_scaling.yarn_beta_fast;
  p.beta_slow = c.rope_scaling.yarn_beta_slow;
  p.attn_factor = c.rope_scaling.yarn_attn_factor;
  return p;
}

void AttentionSubLayer(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c,
                       const ForwardBatch& b, const kernels::KvCacheView& kv, const kernels::AttentionBatch& att,
                       const kernels::RopeParams& rope, DecoderActivations& a) {
  const int64_t T = b.n_tokens();
  const int n_head = static_cast<int>(c.n_head), n_kv = static_cast<int>(c.n_head_kv);
  const int hd = static_cast<int>(c.head_dim);
  const kernels::MatMulOutput qkv[] = {{L.wq, a.q.data()}, {L.wk, a.k.data()}, {L.wv, a.v.data()}};
  kernels::MatMulMany(ctx, a.xn.data(), T, qkv);
  AddBias(ctx, a.q.data(), L.bq, T, c.n_head * c.head_dim);
  AddBias(ctx, a.k.data(), L.bk, T, c.n_head_kv * c.head_dim);
  AddBias(ctx, a.v.data(), L.bv, T, c.n_head_kv * c.head_dim);
  if (c.qk_norm_full) {  // OLMoE: over each token's whole q and k
    kernels::RmsNorm(ctx, a.q.data(), L.q_norm, c.norm_eps, T, int64_t{n_head} * hd, a.q.data());
    kernels::RmsNorm(ctx, a.k.data(), L.k_norm, c.norm_eps, T, int64_t{n_kv} * hd, a.k.data());
  } else {
    if (L.q_norm != nullptr) kernels::RmsNorm(ctx, a.q.data(), L.q_norm, c.norm_eps, T * n_head, hd, a.q.data());
    if (L.k_norm != nullptr) kernels::RmsNorm(ctx, a.k.data(), L.k_norm, c.norm_eps, T * n_kv, hd, a.k.data());
  }
  kernels::Rope(ctx, a.q.data(), T, n_head, hd, b.positions.data(), rope);
  kernels::Rope(ctx, a.k.data(), T, n_kv, hd, b.positions.data(), rope);
  kernels::WriteKv(ctx, a.k.data(), a.v.data(), T, b.slot_mapping.data(), kv);
  // Token trees: each node's contiguous view of its ancestors (sched/scheduler.h).
  if (!b.kv_copy_src.empty()) {
    kernels::CopyKvSlots(kv, b.kv_copy_src.data(), b.kv_copy_dst.data(), static_cast<int64_t>(b.kv_copy_src.size()));
  }
  kernels::Attention(ctx, att, kv, a.attn.data());
  kernels::MatMul(ctx, a.attn.data(), T, *L.wo, a.proj.data());
  AddBias(ctx, a.proj.data(), L.bo, T, c.n_embd);
}

void RunGatedMlp(const kernels::KernelContext& ctx, const ExpertWeights& w, int64_t ff, const float* x, int64_t n,
                 GateActivation act, float* gate, float* up, float* out) {
  const kernels::MatMulOutput gate_up[] = {{w.w_gate, gate}, {w.w_up, up}};
  kernels::MatMulMany(ctx, x, n, gate_up);
  if (act == GateActivation::kSilu) {
    kernels::SiluMul(ctx, gate, up, gate, n * ff);
  } else {
    kernels::GeluTanhMul(ctx, gate, up, gate, n * ff);
  }
  kernels::MatMul(ctx, gate, n, *w.w_down, out);
}

void GatedMlp(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c, int64_t n_tokens,
              GateActivation act, DecoderActivations& a) {
  RunGatedMlp(ctx, ExpertWeights{L.w_gate, L.w_up, L.w_down}, c.n_ff, a.xn.data(), n_tokens, act, a.gate.data(),
              a.up.data(), a.proj.data());
}

void OutputLogits(const kernels::KernelContext& ctx, const LlamaWeights& w, const ModelConfig& c,
                  const ForwardBatch& b, DecoderActivations& a, float* logits) {
  const auto R = static_cast<int64_t>(b.logit_rows.size());
  if (R == 0) return;
  GatherLogitRows(b, a.x.data(), c.n_embd, a.last.data());
  kernels::RmsNorm(ctx, a.last.data(), w.output_norm(), c.norm_eps, R, c.n_embd, a.last.data());
  kernels::MatMul(ctx, a.last.data(), R, w.output(), logits);
}

kernels::AttentionBatch AttentionBatchFor(const ModelConfig& c, const ForwardBatch& b, const float* q) {
  kernels::AttentionBatch att;
  att.q = q;
  att.n_tokens = b.n_tokens();
  att.n_heads = static_cast<int>(c.n_head);
  att.n_seqs = b.n_seqs();
  att.query_start = b.query_start.data();
  att.seq_len = b.seq_len.data();
  att.block_table = b.block_table.data();
  att.max_blocks_per_seq = b.max_blocks_per_seq;
  att.scale = c.attn_scale > 0 ? c.attn_scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  att.softcap = c.attn_logit_softcap;
  att.tree_mask = b.tree_mask.empty() ? nullptr : b.tree_mask.data();
  att.attn_mass = b.attn_mass.empty() ? nullptr : b.attn_mass.data();
  return att;
}

}  // namespace weft
