// ModelConfig: the architecture hyper-parameters of a llama-family model, the same
// whichever file it came from (GGUF metadata, HF config.json, a llama2.c header).
// Plain data; compare with ==.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace weft {

// How RoPE pairs the dimensions of a head.
enum class RopeStyle : uint8_t {
  kInterleaved,  // pairs (2i, 2i+1): GGUF llama and llama2.c; HF llama q/k are permuted to this at load
  kNeox,         // pairs (i, i + rope_dim/2), "rotate half": GGUF qwen2/qwen3
};

// kLongRope: Phi-3-128k / Phi-3.5's per-pair divisors, one set for contexts up to
// original_context ("short") and one beyond ("long"): see loader/rope_freq_factors.h.
enum class RopeScalingType : uint8_t { kNone, kLinear, kYarn, kLlama3, kLongRope };

// How a mixture of experts' router turns its logits into expert scores.
enum class ExpertGating : uint8_t {
  kSoftmax,  // over all experts (Mixtral, Qwen-MoE, OLMoE, DeepSeek-V2)
  kSigmoid,  // each expert on its own (DeepSeek-V3)
};

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  float factor = 1.0f;               // context extension factor (linear, yarn, llama3, longrope)
  int64_t original_context = 0;      // the context the model was trained with (yarn, llama3, longrope)
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  // Multiplier on RoPE's cos and sin, so on q and k (scores: its square). YaRN's
  // attention_factor; LongRoPE's sqrt(1 + ln(factor) / ln(original_context)); GGUF's
  // <arch>.rope.scaling.attn_factor.
  float yarn_attn_factor = 1.0f;
  // LongRoPE from config.json ([rope_dim / 2] each); GGUF files carry them as the tensors
  // rope_factors_long.weight / rope_factors_short.weight instead, and these stay empty.
  std::vector<float> longrope_long_factors;
  std::vector<float> longrope_short_factors;
  float llama3_low_freq_factor = 1.0f;
  float llama3_high_freq_factor = 4.0f;
  bool operator==(const RopeScaling&) const = default;
};

struct ModelConfig {
  std::string arch;          // "llama" (also Mistral, SmolLM, TinyLlama), "qwen2", "qwen3"
  int64_t n_vocab = 0;
  int64_t n_embd = 0;        // hidden size
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;     // == n_head without GQA
  int64_t head_dim = 0;      // usually n_embd / n_head (qwen3 may differ)
  int64_t n_ff = 0;          // FFN hidden size
  int64_t context_length = 0;
  float norm_eps = 1e-5f;    // RMSNorm epsilon
  float rope_theta = 10000.0f;
  int64_t rope_dim = 0;      // rotated dims per head (== head_dim for these families)
  RopeStyle rope_style = RopeStyle::kInterleaved;
  RopeScaling rope_scaling;
  bool tied_embeddings = false;  // output projection reuses token_embd.weight
  bool attn_qkv_bias = false;    // qwen2
  bool attn_output_bias = false;
  bool qk_norm = false;          // qwen3: RMSNorm on q and k per head
  bool qk_norm_full = false;     // with qk_norm: over the whole q (k) projection, not per head (OLMoE)
  // Sliding-window attention: a layer with a window attends to the last sliding_window
  // positions only. 0: none. Which layers: every one (Mistral) when
  // sliding_window_pattern is 1; else layer l has the window unless (l + 1) is a
  // multiple of the pattern (Gemma 2: 2, local then global; Gemma 3: 6, five local then
  // one global).
  int64_t sliding_window = 0;
  int sliding_window_pattern = 1;
  float rope_theta_local = 0;      // rope base of the sliding-window layers (Gemma 3); 0: rope_theta
  float attn_scale = 0;            // scores = q.k * attn_scale; 0: 1 / sqrt(head_dim)
  float attn_logit_softcap = 0;    // > 0: scores soft-capped (Gemma 2)
  float final_logit_softcap = 0;   // > 0: logits soft-capped (Gemma 2)
  // Multi-head latent attention (DeepSeek-V2/V3) when kv_lora_rank > 0: each token's K
  // and V come from a latent of kv_lora_rank values (normed) and one rope key of rope_dim
  // shared by all heads; per head, q and k have qk_nope_dim unrotated dims and rope_dim
  // rotated ones, v has v_head_dim. q goes through a q_lora_rank bottleneck when > 0.
  // As the file gives it, head_dim = qk_nope_dim + rope_dim; the bound model's config
  // (model/archs/deepseek2.cc) runs attention over the latent instead: one KV head of
  // head_dim = kv_lora_rank + rope_dim.
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_dim = 0;
  int64_t v_head_dim = 0;
  float rope_yarn_log_mul = 0;     // DeepSeek: scores x (1 + this * ln(yarn factor))^2
  // Mixture of experts (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek): 0 experts = a
  // dense FFN. Each token's FFN is the sum of its top n_expert_used experts (of
  // n_ff_expert each), weighted by the router's scores (expert_gating) of the chosen
  // ones, renormalised over them when expert_weights_norm, times expert_weights_scale;
  // plus, when n_ff_shared_expert > 0, a shared expert, scaled by
  // sigmoid(x . shared_expert_gate) when shared_expert_gated (Qwen2-MoE) and added as is
  // otherwise (DeepSeek). The first n_dense_lead_layers layers have a dense FFN of n_ff
  // instead (DeepSeek). With expert_group_count > 0 (DeepSeek-V2/V3 group-limited
  // routing) the experts are in that many equal groups and a token chooses among the
  // experts of its expert_group_used best groups only: a group's score is its best
  // expert's (softmax gating) or the sum of its best two (sigmoid gating). The selection
  // (never the weights) adds expert_selection_bias when the file has one (DeepSeek-V3).
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_expert = 0;         // 0: n_ff
  int64_t n_ff_shared_expert = 0;
  bool expert_weights_norm = true;
  bool shared_expert_gated = false;
  ExpertGating expert_gating = ExpertGating::kSoftmax;
  float expert_weights_scale = 1.0f;
  int64_t n_dense_lead_layers = 0;
  int64_t expert_group_count = 0;
  int64_t expert_group_used = 0;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;

  bool operator==(const ModelConfig&) const = default;

  // The window of layer l's attention (0: the whole context).
  int64_t LayerWindow(int64_t l) const {
    if (sliding_window <= 0 || sliding_window >= context_length) return 0;
    return sliding_window_pattern <= 1 || (l + 1) % sliding_window_pattern != 0 ? sliding_window : 0;
  }
  bool is_moe() const { return n_expert > 0; }
  // Whether layer l's FFN is the mixture of experts (else the dense one of n_ff).
  bool LayerIsMoe(int64_t l) const { return is_moe() && l >= n_dense_lead_layers; }
  bool is_mla() const { return kv_lora_rank > 0; }
  int64_t ExpertFf() const { return n_ff_expert > 0 ? n_ff_expert : n_ff; }
  // Bytes of KV cache per token with `bytes_per_element` (2 for F16).
  // Latent attention caches one row of kv_lora_rank + rope_dim per token (as K and V).
  int64_t KvBytesPerToken(int64_t bytes_per_element) const {
    const int64_t row = is_mla() ? kv_lora_rank + rope_dim : n_head_kv * head_dim;
    return 2 * n_layer * row * bytes_per_element;
  }
  // Multi-line human description, for `weft info` and test failure messages.
  std::string ToString() const;
};

}  // namespace weft
