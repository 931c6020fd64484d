// OpenGgufModel: ModelConfig and TokenizerInfo from GGUF metadata ("<arch>.*" and
// "tokenizer.ggml.*" keys), weights as zero-copy views.
#include <fmt/format.h>

#include <algorithm>

#include "base/mapped_file.h"
#include "loader/gguf.h"
#include "loader/gguf_model.h"

namespace weft {
namespace {

// Reads `<arch>.<suffix>` as an integer; per-layer arrays are accepted when all equal.
StatusOr<std::optional<int64_t>> FindArchInt(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.Find(key);
  if (v != nullptr && v->type == GgufType::kArray) {
    const GgufArray& a = std::get<GgufArray>(v->value);
    if (a.ints.empty()) return InvalidArgumentError(fmt::format("metadata key '{}' is an empty or non-integer array", key));
    for (int64_t x : a.ints) {
      if (x != a.ints[0]) {
        return UnimplementedError(fmt::format("metadata key '{}' varies per layer, which weft does not support", key));
      }
    }
    return std::optional<int64_t>(a.ints[0]);
  }
  return f.FindInt(key);
}

StatusOr<int64_t> RequirePositive(const GgufFile& f, const std::string& key) {
  WEFT_ASSIGN_OR_RETURN(auto v, FindArchInt(f, key));
  if (!v) return NotFoundError(fmt::format("metadata key '{}' is missing", key));
  if (*v <= 0 || *v > (int64_t{1} << 32)) {
    return InvalidArgumentError(fmt::format("metadata key '{}' = {} is out of range", key, *v));
  }
  return *v;
}

Status ParseRopeScaling(const GgufFile& f, const std::string& a, RopeScaling* out) {
  WEFT_ASSIGN_OR_RETURN(auto type, f.FindString(a + ".rope.scaling.type"));
  WEFT_ASSIGN_OR_RETURN(auto factor, f.FindFloat(a + ".rope.scaling.factor"));
  WEFT_ASSIGN_OR_RETURN(auto orig, f.FindInt(a + ".rope.scaling.original_context_length"));
  WEFT_ASSIGN_OR_RETURN(auto attn_factor, f.FindFloat(a + ".rope.scaling.attn_factor"));
  if (attn_factor) out->yarn_attn_factor = static_cast<float>(*attn_factor);
  if (orig) out->original_context = *orig;
  // LongRoPE (llama.cpp's phi3 files): the two factor sets as tensors, with type
  // "longrope" or (as this llama.cpp's converter writes them) no type key.
  if ((!type && f.FindTensor("rope_factors_long.weight") != nullptr) || (type && *type == "longrope")) {
    if (!orig || *orig <= 0) {
      return InvalidArgumentError(fmt::format("tensor 'rope_factors_long.weight' (LongRoPE) needs the metadata key "
                                              "'{}.rope.scaling.original_context_length'", a));
    }
    if (f.FindTensor("rope_factors_long.weight") == nullptr || f.FindTensor("rope_factors_short.weight") == nullptr) {
      return InvalidArgumentError("LongRoPE needs both tensors 'rope_factors_long.weight' and 'rope_factors_short.weight'");
    }
    out->type = RopeScalingType::kLongRope;
    return Status::Ok();
  }
  if (!type || *type == "none") {
    // Older files give only a linear factor.
    WEFT_ASSIGN_OR_RETURN(auto linear, f.FindFloat(a + ".rope.scale_linear"));
    if (linear && *linear != 1.0) {
      out->type = RopeScalingType::kLinear;
      out->factor = static_cast<float>(*linear);
    }
    return Status::Ok();
  }
  if (*type == "linear") out->type = RopeScalingType::kLinear;
  else if (*type == "yarn") out->type = RopeScalingType::kYarn;
  else return UnimplementedError(fmt::format("rope scaling type '{}' is not supported (linear, yarn, longrope)", *type));
  if (factor) out->factor = static_cast<float>(*factor);
  WEFT_ASSIGN_OR_RETURN(auto beta_fast, f.FindFloat(a + ".rope.scaling.yarn_beta_fast"));
  WEFT_ASSIGN_OR_RETURN(auto beta_slow, f.FindFloat(a + ".rope.scaling.yarn_beta_slow"));
  if (beta_fast) out->yarn_beta_fast = static_cast<float>(*beta_fast);
  if (beta_slow) out->yarn_beta_slow = static_cast<float>(*beta_slow);
  return Status::Ok();
}

// Mixture of experts: {arch}.expert_count and .expert_used_count (Mixtral keeps arch
// "llama"), the experts' own FFN length and the shared expert's (Qwen2-MoE).
Status ParseExperts(const GgufFile& f, const std::string& a, ModelConfig* c) {
  WEFT_ASSIGN_OR_RETURN(auto count, f.FindInt(a + ".expert_count"));
  if (!count || *count == 0) return Status::Ok();
  WEFT_ASSIGN_OR_RETURN(auto used, f.FindInt(a + ".expert_used_count"));
  if (*count < 0 || !used || *used <= 0 || *used > *count) {
    return InvalidArgumentError(fmt::format("{}.expert_count is {} and {}.expert_used_count is {}: a mixture of "
                                            "experts needs 1 <= used <= count",
                                            a, *count, a, used ? fmt::format("{}", *used) : "missing"));
  }
  c->n_expert = *count;
  c->n_expert_used = *used;
  WEFT_ASSIGN_OR_RETURN(auto ff, f.FindInt(a + ".expert_feed_forward_length"));
  WEFT_ASSIGN_OR_RETURN(auto shared_ff, f.FindInt(a + ".expert_shared_feed_forward_length"));
  if ((ff && *ff <= 0) || (shared_ff && *shared_ff < 0)) {
    return InvalidArgumentError(fmt::format("{}: expert_feed_forward_length {} / expert_shared_feed_forward_length {}",
                                            a, ff.value_or(0), shared_ff.value_or(0)));
  }
  // Renormalise the chosen experts' weights: GGUF says so (DeepSeek) or the family's
  // default holds (Mixtral and Qwen3-MoE do; Qwen2-MoE's and OLMoE's norm_topk_prob is false, and
  // llama.cpp reads a deepseek2 file without the key as false).
  WEFT_ASSIGN_OR_RETURN(auto norm, f.FindBool(a + ".expert_weights_norm"));
  c->expert_weights_norm = norm.value_or(a != "qwen2moe" && a != "olmoe" && a != "deepseek2");
  c->n_ff_expert = ff.value_or(0);
  c->n_ff_shared_expert = shared_ff.value_or(0);
  // DeepSeek: leading dense layers, shared experts counted in experts' widths, a scale on
  // the routed weights, sigmoid gating (V3), group-limited routing.
  WEFT_ASSIGN_OR_RETURN(auto lead, f.FindInt(a + ".leading_dense_block_count"));
  WEFT_ASSIGN_OR_RETURN(auto shared_count, f.FindInt(a + ".expert_shared_count"));
  WEFT_ASSIGN_OR_RETURN(auto scale, f.FindFloat(a + ".expert_weights_scale"));
  WEFT_ASSIGN_OR_RETURN(auto gating, f.FindInt(a + ".expert_gating_func"));
  WEFT_ASSIGN_OR_RETURN(auto groups, f.FindInt(a + ".expert_group_count"));
  WEFT_ASSIGN_OR_RETURN(auto groups_used, f.FindInt(a + ".expert_group_used_count"));
  c->n_dense_lead_layers = lead.value_or(0);
  if (c->n_dense_lead_layers < 0 || c->n_dense_lead_layers > c->n_layer) {
    return InvalidArgumentError(fmt::format("{}.leading_dense_block_count is {}, outside 0..{} layers", a,
                                            c->n_dense_lead_layers, c->n_layer));
  }
  if (shared_count && *shared_count > 0 && !shared_ff) c->n_ff_shared_expert = *shared_count * c->ExpertFf();
  if (scale) c->expert_weights_scale = static_cast<float>(*scale);
  // llama.cpp's values: 0 none (a softmax, as older DeepSeek-V2 files), 1 softmax, 2 sigmoid.
  if (gating && *gating == 2) c->expert_gating = ExpertGating::kSigmoid;
  else if (gating && *gating != 0 && *gating != 1) {
    return UnimplementedError(fmt::format("{}.expert_gating_func {} is not supported (1 softmax, 2 sigmoid)", a, *gating));
  }
  if (groups && *groups > 1) {
    const int64_t used_groups = groups_used.value_or(0);
    if (c->n_expert % *groups != 0 || used_groups < 1 || used_groups > *groups ||
        used_groups * (c->n_expert / *groups) < c->n_expert_used) {
      return InvalidArgumentError(fmt::format("{}: {} experts in {} groups of which {} are used cannot give {} experts",
                                              a, c->n_expert, *groups, used_groups, c->n_expert_used));
    }
    c->expert_group_count = *groups;
    c->expert_group_used = used_groups;
  }
  // The shared expert, its width from its tensor when no key gives it (older converters),
  // and whether a sigmoid gate scales it (Qwen2-MoE) or not (DeepSeek).
  const std::string first_moe = fmt::format("blk.{}.", c->n_dense_lead_layers);
  if (c->n_ff_shared_expert == 0) {
    if (const TensorView* t = f.FindTensor(first_moe + "ffn_up_shexp.weight")) c->n_ff_shared_expert = t->ne[1];
  }
  c->shared_expert_gated = c->n_ff_shared_expert > 0 &&
                           (a == "qwen2moe" || f.FindTensor(first_moe + "ffn_gate_inp_shexp.weight") != nullptr);
  return Status::Ok();
}

// Multi-head latent attention (DeepSeek-V2/V3): {arch}.attention.kv_lora_rank (and
// q_lora_rank, absent in DeepSeek-V2-Lite), with key_length = qk_nope + rope dims and
// value_length the value head.
Status ParseLatentAttention(const GgufFile& f, const std::string& a, ModelConfig* c) {
  WEFT_ASSIGN_OR_RETURN(auto kv_rank, f.FindInt(a + ".attention.kv_lora_rank"));
  if (!kv_rank || *kv_rank == 0) return Status::Ok();
  WEFT_ASSIGN_OR_RETURN(auto q_rank, f.FindInt(a + ".attention.q_lora_rank"));
  WEFT_ASSIGN_OR_RETURN(auto v_len, f.FindInt(a + ".attention.value_length"));
  WEFT_ASSIGN_OR_RETURN(auto log_mul, f.FindFloat(a + ".rope.scaling.yarn_log_multiplier"));
  c->kv_lora_rank = *kv_rank;
  c->q_lora_rank = q_rank.value_or(0);
  c->qk_nope_dim = c->head_dim - c->rope_dim;
  c->v_head_dim = v_len.value_or(c->head_dim);
  c->rope_yarn_log_mul = static_cast<float>(log_mul.value_or(0.0));
  if (c->kv_lora_rank < 0 || c->q_lora_rank < 0 || c->qk_nope_dim < 0 || c->v_head_dim <= 0 || c->rope_dim <= 0 ||
      c->rope_dim % 2 != 0) {
    return InvalidArgumentError(fmt::format("{}: latent attention with kv_lora_rank {}, q_lora_rank {}, key_length {}, "
                                            "rope.dimension_count {}, value_length {} is not a valid shape",
                                            a, c->kv_lora_rank, c->q_lora_rank, c->head_dim, c->rope_dim,
                                            c->v_head_dim));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& f) {
  ModelConfig c;
  WEFT_ASSIGN_OR_RETURN(c.arch, f.GetString("general.architecture"));
  const std::string& a = c.arch;
  WEFT_ASSIGN_OR_RETURN(c.n_embd, RequirePositive(f, a + ".embedding_length"));
  WEFT_ASSIGN_OR_RETURN(c.n_layer, RequirePositive(f, a + ".block_count"));
  WEFT_ASSIGN_OR_RETURN(c.n_head, RequirePositive(f, a + ".attention.head_count"));
  WEFT_ASSIGN_OR_RETURN(c.n_ff, RequirePositive(f, a + ".feed_forward_length"));
  WEFT_ASSIGN_OR_RETURN(auto kv_heads, FindArchInt(f, a + ".attention.head_count_kv"));
  c.n_head_kv = kv_heads.value_or(c.n_head);
  WEFT_ASSIGN_OR_RETURN(auto key_length, f.FindInt(a + ".attention.key_length"));
  c.head_dim = key_length.value_or(c.n_embd / c.n_head);
  if (c.n_head_kv <= 0 || c.n_head % c.n_head_kv != 0) {
    return InvalidArgumentError(fmt::format("{} attention heads cannot be shared by {} KV heads", c.n_head, c.n_head_kv));
  }
  if (c.head_dim <= 0 || (!key_length && c.n_embd % c.n_head != 0)) {
    return InvalidArgumentError(fmt::format("embedding length {} is not divisible by {} heads", c.n_embd, c.n_head));
  }
  WEFT_ASSIGN_OR_RETURN(auto ctx, f.FindInt(a + ".context_length"));
  c.context_length = ctx.value_or(2048);
  WEFT_ASSIGN_OR_RETURN(auto eps, f.FindFloat(a + ".attention.layer_norm_rms_epsilon"));
  c.norm_eps = static_cast<float>(eps.value_or(1e-5));
  WEFT_ASSIGN_OR_RETURN(auto theta, f.FindFloat(a + ".rope.freq_base"));
  c.rope_theta = static_cast<float>(theta.value_or(10000.0));
  WEFT_ASSIGN_OR_RETURN(auto rope_dim, f.FindInt(a + ".rope.dimension_count"));
  c.rope_dim = rope_dim.value_or(c.head_dim);
  c.rope_style = (a == "qwen2" || a == "qwen3" || a == "qwen2moe" || a == "qwen3moe" || a == "olmoe" || a == "phi3")
                     ? RopeStyle::kNeox
                     : RopeStyle::kInterleaved;
  WEFT_RETURN_IF_ERROR(ParseRopeScaling(f, a, &c.rope_scaling));
  WEFT_ASSIGN_OR_RETURN(auto window, f.FindInt(a + ".attention.sliding_window"));
  if (window && *window < 0) return InvalidArgumentError(fmt::format("{}.attention.sliding_window is {}", a, *window));
  c.sliding_window = window.value_or(0);
  WEFT_ASSIGN_OR_RETURN(auto pattern, f.FindInt(a + ".attention.sliding_window_pattern"));
  if (pattern) c.sliding_window_pattern = static_cast<int>(std::max<int64_t>(1, *pattern));
  WEFT_ASSIGN_OR_RETURN(auto theta_swa, f.FindFloat(a + ".rope.freq_base_swa"));
  c.rope_theta_local = static_cast<float>(theta_swa.value_or(0.0));
  WEFT_ASSIGN_OR_RETURN(auto attn_cap, f.FindFloat(a + ".attn_logit_softcapping"));
  c.attn_logit_softcap = static_cast<float>(attn_cap.value_or(0.0));
  WEFT_ASSIGN_OR_RETURN(auto final_cap, f.FindFloat(a + ".final_logit_softcapping"));
  c.final_logit_softcap = static_cast<float>(final_cap.value_or(0.0));

  WEFT_RETURN_IF_ERROR(ParseExperts(f, a, &c));

  // Vocabulary size: explicit key, else the token list, else the embedding's rows.
  WEFT_ASSIGN_OR_RETURN(auto vocab, f.FindInt(a + ".vocab_size"));
  if (vocab) c.n_vocab = *vocab;
  else if (auto tokens = f.GetArray("tokenizer.ggml.tokens"); tokens.ok()) c.n_vocab = static_cast<int64_t>((*tokens)->size);
  else if (const TensorView* e = f.FindTensor("token_embd.weight")) c.n_vocab = e->ne[1];

  c.tied_embeddings = f.FindTensor("output.weight") == nullptr;
  c.attn_qkv_bias = f.FindTensor("blk.0.attn_q.bias") != nullptr;
  c.attn_output_bias = f.FindTensor("blk.0.attn_output.bias") != nullptr;
  WEFT_RETURN_IF_ERROR(ParseLatentAttention(f, a, &c));
  const TensorView* q_norm = f.FindTensor("blk.0.attn_q_norm.weight");
  c.qk_norm = q_norm != nullptr;
  // OLMoE normalises the whole q and k projections: its norms are n_head * head_dim wide.
  c.qk_norm_full = q_norm != nullptr && c.n_head > 1 && q_norm->ne[0] == c.n_head * c.head_dim;
  WEFT_ASSIGN_OR_RETURN(auto bos, f.FindInt("tokenizer.ggml.bos_token_id"));
  WEFT_ASSIGN_OR_RETURN(auto eos, f.FindInt("tokenizer.ggml.eos_token_id"));
  c.bos_token_id = bos.value_or(-1);
  c.eos_token_id = eos.value_or(-1);
  return c;
}

StatusOr<TokenizerInfo> TokenizerInfoFromGguf(const GgufFile& f) {
  TokenizerInfo t;
  WEFT_ASSIGN_OR_RETURN(auto kind, f.FindString("tokenizer.ggml.model"));
  WEFT_ASSIGN_OR_RETURN(auto pre, f.FindString("tokenizer.ggml.pre"));
  WEFT_ASSIGN_OR_RETURN(auto tmpl, f.FindString("tokenizer.chat_template"));
  t.kind = kind.value_or("");
  t.pre = pre.value_or("");
  t.chat_template = tmpl;
  if (auto tokens = f.GetArray("tokenizer.ggml.tokens"); tokens.ok()) t.vocab_size = static_cast<int64_t>((*tokens)->size);
  return t;
}

StatusOr<std::shared_ptr<const ModelFile>> OpenGgufModel(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(auto gguf, OpenGgufFile(path));
  ModelFile::Parts parts;
  parts.format = ModelFormat::kGguf;
  parts.path = path;
  parts.file_bytes = gguf->file_size();
  auto config = ModelConfigFromGguf(*gguf);
  if (!config.ok()) return std::move(config).status().WithContext(path);
  parts.config = std::move(config).value();
  auto tokenizer = TokenizerInfoFromGguf(*gguf);
  if (!tokenizer.ok()) return std::move(tokenizer).status().WithContext(path);
  parts.tokenizer = std::move(tokenizer).value();
  parts.tensors = gguf->tensors();
  parts.gguf = gguf;
  if (gguf->mapping() != nullptr) parts.mappings.push_back(gguf->mapping());
  return std::make_shared<const ModelFile>(std::move(parts));
}

}  // namespace weft
