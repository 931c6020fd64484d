#include "loader/model_config.h"

#include <fmt/format.h>

namespace weft {
namespace {
std::string_view RopeScalingName(RopeScalingType t) {
  switch (t) {
    case RopeScalingType::kNone: return "none";
    case RopeScalingType::kLinear: return "linear";
    case RopeScalingType::kYarn: return "yarn";
    case RopeScalingType::kLlama3: return "llama3";
    case RopeScalingType::kLongRope: return "longrope";
  }
  return "?";
}
}  // namespace

std::string ModelConfig::ToString() const {
  std::string s = fmt::format(
      "arch={} vocab={} embd={} layers={} heads={} kv_heads={} head_dim={} ff={} ctx={} eps={:g} rope_theta={:g} "
      "rope_dim={} rope_style={} rope_scaling={}",
      arch, n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, context_length, norm_eps, rope_theta,
      rope_dim, rope_style == RopeStyle::kNeox ? "neox" : "interleaved", RopeScalingName(rope_scaling.type));
  if (rope_scaling.type != RopeScalingType::kNone) {
    s += fmt::format("(factor={:g}, orig_ctx={})", rope_scaling.factor, rope_scaling.original_context);
  }
  s += fmt::format(" tied={} qkv_bias={} qk_norm={}{} bos={} eos={}", tied_embeddings, attn_qkv_bias, qk_norm,
                   qk_norm_full ? "(full width)" : "",
                   bos_token_id, eos_token_id);
  if (sliding_window > 0) s += fmt::format(" sliding_window={}/{}", sliding_window, sliding_window_pattern);
  if (rope_theta_local > 0) s += fmt::format(" rope_theta_local={:g}", rope_theta_local);
  if (attn_scale > 0) s += fmt::format(" attn_scale={:g}", attn_scale);
  if (attn_logit_softcap > 0 || final_logit_softcap > 0) {
    s += fmt::format(" softcap attn={:g} final={:g}", attn_logit_softcap, final_logit_softcap);
  }
  if (n_expert > 0) {
    s += fmt::format(" experts={} used={} expert_ff={} shared_ff={} renorm={}", n_expert, n_expert_used, ExpertFf(),
                     n_ff_shared_expert, expert_weights_norm);
    if (shared_expert_gated) s += " shared_gated=true";
    if (expert_gating == ExpertGating::kSigmoid) s += " gating=sigmoid";
    if (expert_weights_scale != 1.0f) s += fmt::format(" expert_scale={:g}", expert_weights_scale);
    if (n_dense_lead_layers > 0) s += fmt::format(" dense_lead_layers={}", n_dense_lead_layers);
    if (expert_group_count > 0) s += fmt::format(" groups={}/{}", expert_group_used, expert_group_count);
  }
  if (is_mla()) {
    s += fmt::format(" mla(q_lora={} kv_lora={} qk_nope={} v_dim={} yarn_log_mul={:g})", q_lora_rank, kv_lora_rank,
                     qk_nope_dim, v_head_dim, rope_yarn_log_mul);
  }
  return s;
}

}  // namespace weft
