#include "loader/hf_config.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/log.h"

namespace weft {
namespace {

using json = nlohmann::json;

// Upper bound for sizes (dims, heads, vocab): keeps every product of two of them far
// from int64 overflow.
constexpr int64_t kMaxSize = int64_t{1} << 31;
constexpr int64_t kMaxContext = int64_t{1} << 40;

// Typed, range-checked access to one JSON object; errors name the source and field.
class FieldReader {
 public:
  FieldReader(const json& obj, std::string source, std::string prefix)
      : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)) {}

  // Absent and null both count as "not given".
  const json* Find(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Status Error(const char* key, std::string_view what) const {
    return InvalidArgumentError(fmt::format("{}: field '{}{}' {}", source_, prefix_, key, what));
  }

  StatusOr<int64_t> Int(const char* key, std::optional<int64_t> def, int64_t lo, int64_t hi) const {
    const json* v = Find(key);
    if (!v) {
      if (def) return *def;
      return Error(key, "is missing");
    }
    return IntValue(key, *v, lo, hi);
  }

  StatusOr<int64_t> IntValue(const char* key, const json& v, int64_t lo, int64_t hi) const {
    int64_t x = 0;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(hi)) return Error(key, fmt::format("is {}, more than {}", u, hi));
      x = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      x = v.get<int64_t>();
    } else {
      return Error(key, fmt::format("is a {}, not an integer", v.type_name()));
    }
    if (x < lo || x > hi) return Error(key, fmt::format("is {}, outside [{}, {}]", x, lo, hi));
    return x;
  }

  StatusOr<double> Number(const char* key, std::optional<double> def, double lo, double hi) const {
    const json* v = Find(key);
    if (!v) {
      if (def) return *def;
      return Error(key, "is missing");
    }
    if (!v->is_number()) return Error(key, fmt::format("is a {}, not a number", v->type_name()));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi) {
      return Error(key, fmt::format("is {}, outside [{}, {}]", x, lo, hi));
    }
    return x;
  }

  StatusOr<bool> Bool(const char* key, bool def) const {
    const json* v = Find(key);
    if (!v) return def;
    if (!v->is_boolean()) return Error(key, fmt::format("is a {}, not a boolean", v->type_name()));
    return v->get<bool>();
  }

  StatusOr<std::optional<std::string>> String(const char* key) const {
    const json* v = Find(key);
    if (!v) return std::optional<std::string>();
    if (!v->is_string()) return Error(key, fmt::format("is a {}, not a string", v->type_name()));
    return std::optional<std::string>(v->get<std::string>());
  }

  // A token id: an integer, null/absent (-1), or a list of integers (the first; -1 if empty).
  StatusOr<int64_t> TokenId(const char* key) const {
    const json* v = Find(key);
    if (!v) return int64_t{-1};
    if (v->is_array()) {
      if (v->empty()) return int64_t{-1};
      return IntValue(key, (*v)[0], 0, kMaxSize);
    }
    return IntValue(key, *v, 0, kMaxSize);
  }

 private:
  const json& obj_;
  std::string source_;
  std::string prefix_;
};

struct FamilyDefaults {
  const char* arch;
  int64_t max_position_embeddings;
  RopeStyle rope_style;
};

std::optional<FamilyDefaults> LookUpFamily(const std::string& model_type) {
  // Defaults from the transformers config classes of each model type.
  if (model_type == "llama") return FamilyDefaults{"llama", 2048, RopeStyle::kInterleaved};
  if (model_type == "mistral") return FamilyDefaults{"llama", 4096 * 32, RopeStyle::kInterleaved};
  if (model_type == "qwen2") return FamilyDefaults{"qwen2", 32768, RopeStyle::kNeox};
  if (model_type == "qwen3") return FamilyDefaults{"qwen3", 32768, RopeStyle::kNeox};
  if (model_type == "mixtral") return FamilyDefaults{"llama", 4096 * 32, RopeStyle::kInterleaved};
  if (model_type == "qwen2_moe") return FamilyDefaults{"qwen2moe", 8192, RopeStyle::kNeox};
  if (model_type == "qwen3_moe") return FamilyDefaults{"qwen3moe", 32768, RopeStyle::kNeox};
  if (model_type == "olmoe") return FamilyDefaults{"olmoe", 4096, RopeStyle::kNeox};
  if (model_type == "gemma2") return FamilyDefaults{"gemma2", 8192, RopeStyle::kNeox};
  if (model_type == "gemma3_text") return FamilyDefaults{"gemma3", 131072, RopeStyle::kNeox};
  // DeepSeek's rope de-interleaves q_pe/k_pe before rotating halves: interleaved pairs
  // on the checkpoint's own layout, as GGUF keeps it (no permutation at load).
  if (model_type == "phi3") return FamilyDefaults{"phi3", 4096, RopeStyle::kNeox};
  if (model_type == "deepseek_v2") return FamilyDefaults{"deepseek2", 2048, RopeStyle::kInterleaved};
  if (model_type == "deepseek_v3") return FamilyDefaults{"deepseek2", 4096, RopeStyle::kInterleaved};
  return std::nullopt;
}

// Mixtures of experts: Mixtral (num_local_experts, top num_experts_per_tok renormalised),
// Qwen2-MoE / Qwen3-MoE (num_experts, moe_intermediate_size, norm_topk_prob, Qwen2-MoE's
// shared_expert_intermediate_size), OLMoE (num_experts of intermediate_size). Layouts weft does not model (dense layers among the
// sparse ones) are refused, not run differently.
Status ParseExpertFields(const FieldReader& r, const std::string& model_type, ModelConfig* c) {
  const bool mixtral = model_type == "mixtral";
  if (!mixtral && model_type != "qwen2_moe" && model_type != "qwen3_moe" && model_type != "olmoe") {
    return Status::Ok();
  }
  WEFT_ASSIGN_OR_RETURN(c->n_expert, r.Int(mixtral ? "num_local_experts" : "num_experts", std::nullopt, 1, 1 << 16));
  WEFT_ASSIGN_OR_RETURN(c->n_expert_used, r.Int("num_experts_per_tok", 2, 1, c->n_expert));
  if (mixtral) {
    c->expert_weights_norm = true;
    return Status::Ok();
  }
  if (model_type == "olmoe") {  // its experts are intermediate_size wide; clip_qkv is not modelled
    WEFT_ASSIGN_OR_RETURN(c->expert_weights_norm, r.Bool("norm_topk_prob", false));
    const nlohmann::json* clip = r.Find("clip_qkv");
    if (clip != nullptr && !clip->is_null()) return r.Error("clip_qkv", "is set; weft does not clip q/k/v (null only)");
    return Status::Ok();
  }
  WEFT_ASSIGN_OR_RETURN(c->n_ff_expert, r.Int("moe_intermediate_size", std::nullopt, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c->expert_weights_norm, r.Bool("norm_topk_prob", false));
  if (model_type == "qwen2_moe") {
    WEFT_ASSIGN_OR_RETURN(c->n_ff_shared_expert, r.Int("shared_expert_intermediate_size", 0, 0, kMaxSize));
    c->shared_expert_gated = c->n_ff_shared_expert > 0;
  }
  WEFT_ASSIGN_OR_RETURN(int64_t step, r.Int("decoder_sparse_step", 1, 1, kMaxSize));
  const nlohmann::json* dense = r.Find("mlp_only_layers");
  if (step != 1 || (dense != nullptr && !dense->is_null() && !dense->empty())) {
    return r.Error(step != 1 ? "decoder_sparse_step" : "mlp_only_layers",
                   "asks for dense layers among the experts, which weft does not run (every layer must be sparse: "
                   "decoder_sparse_step 1, mlp_only_layers [])");
  }
  return Status::Ok();
}

// DeepSeek-V2 / V3: latent attention (q_lora_rank null in V2-Lite), the experts after
// first_k_dense_replace dense layers, n_shared_experts ungated shared experts, routing by
// scoring_func and topk_method (greedy; group_limited_greedy: softmax, groups scored by
// their best expert; noaux_tc: sigmoid with e_score_correction_bias, groups scored by
// their best two), routed_scaling_factor; YaRN's mscale_all_dim.
Status ParseDeepseekFields(const FieldReader& r, const json& root, ModelConfig* c) {
  // q_lora_rank: null (V2-Lite) means no bottleneck; absent, the config class's 1536.
  const auto q_rank = root.find("q_lora_rank");
  if (q_rank == root.end() || !q_rank->is_null()) {
    WEFT_ASSIGN_OR_RETURN(c->q_lora_rank, r.Int("q_lora_rank", 1536, 1, kMaxSize));
  }
  WEFT_ASSIGN_OR_RETURN(c->kv_lora_rank, r.Int("kv_lora_rank", 512, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c->rope_dim, r.Int("qk_rope_head_dim", 64, 2, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c->qk_nope_dim, r.Int("qk_nope_head_dim", 128, 0, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c->v_head_dim, r.Int("v_head_dim", 128, 1, kMaxSize));
  if (c->rope_dim % 2 != 0) return r.Error("qk_rope_head_dim", fmt::format("({}) must be even", c->rope_dim));
  c->head_dim = c->qk_nope_dim + c->rope_dim;
  c->n_head_kv = c->n_head;  // as the expanded form has it; the model runs on the latent
  WEFT_ASSIGN_OR_RETURN(c->n_expert, r.Int("n_routed_experts", std::nullopt, 1, 1 << 16));
  WEFT_ASSIGN_OR_RETURN(c->n_expert_used, r.Int("num_experts_per_tok", std::nullopt, 1, c->n_expert));
  WEFT_ASSIGN_OR_RETURN(c->n_ff_expert, r.Int("moe_intermediate_size", std::nullopt, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(int64_t n_shared, r.Int("n_shared_experts", 0, 0, 1 << 16));  // null: none
  c->n_ff_shared_expert = n_shared * c->n_ff_expert;
  WEFT_ASSIGN_OR_RETURN(c->n_dense_lead_layers, r.Int("first_k_dense_replace", 0, 0, c->n_layer));
  WEFT_ASSIGN_OR_RETURN(int64_t freq, r.Int("moe_layer_freq", 1, 1, kMaxSize));
  if (freq != 1) return r.Error("moe_layer_freq", "is not 1: dense layers among the experts are not supported");
  WEFT_ASSIGN_OR_RETURN(double scale, r.Number("routed_scaling_factor", 1.0, 0.0, 1e6));
  c->expert_weights_scale = static_cast<float>(scale);
  WEFT_ASSIGN_OR_RETURN(c->expert_weights_norm, r.Bool("norm_topk_prob", false));
  WEFT_ASSIGN_OR_RETURN(std::optional<std::string> scoring, r.String("scoring_func"));
  if (scoring && *scoring != "softmax" && *scoring != "sigmoid") {
    return r.Error("scoring_func", fmt::format("'{}' is not supported (softmax, sigmoid)", *scoring));
  }
  c->expert_gating = scoring && *scoring == "sigmoid" ? ExpertGating::kSigmoid : ExpertGating::kSoftmax;
  WEFT_ASSIGN_OR_RETURN(std::optional<std::string> method, r.String("topk_method"));
  const std::string topk = method.value_or("greedy");
  if (topk == "group_limited_greedy" || topk == "noaux_tc") {
    const bool sigmoid = c->expert_gating == ExpertGating::kSigmoid;
    if (sigmoid != (topk == "noaux_tc")) {
      return r.Error("topk_method", fmt::format("'{}' with scoring_func '{}' is not a combination weft runs "
                                                "(group_limited_greedy: softmax; noaux_tc: sigmoid)",
                                                topk, scoring.value_or("softmax")));
    }
    WEFT_ASSIGN_OR_RETURN(c->expert_group_count, r.Int("n_group", std::nullopt, 1, c->n_expert));
    WEFT_ASSIGN_OR_RETURN(c->expert_group_used, r.Int("topk_group", std::nullopt, 1, c->expert_group_count));
    if (c->n_expert % c->expert_group_count != 0 ||
        c->expert_group_used * (c->n_expert / c->expert_group_count) < c->n_expert_used) {
      return r.Error("n_group", fmt::format("({}, topk_group {}) cannot give {} of {} experts", c->expert_group_count,
                                            c->expert_group_used, c->n_expert_used, c->n_expert));
    }
    if (c->expert_group_count == 1) c->expert_group_count = c->expert_group_used = 0;
  } else if (topk != "greedy") {
    return r.Error("topk_method", fmt::format("'{}' is not supported (greedy, group_limited_greedy, noaux_tc)", topk));
  }
  auto rs = root.find("rope_scaling");
  if (rs != root.end() && rs->is_object()) {
    FieldReader y(*rs, "", "rope_scaling.");
    WEFT_ASSIGN_OR_RETURN(double mscale, y.Number("mscale", 1.0, 0.0, 1e6));
    WEFT_ASSIGN_OR_RETURN(double mscale_all, y.Number("mscale_all_dim", 0.0, 0.0, 1e6));
    if (mscale != mscale_all && mscale_all != 0.0) {
      return r.Error("rope_scaling.mscale", fmt::format("({}) differs from mscale_all_dim ({}): rope magnitudes other "
                                                        "than 1 are not supported",
                                                        mscale, mscale_all));
    }
    c->rope_yarn_log_mul = static_cast<float>(0.1 * mscale_all);
  }
  return Status::Ok();
}

// Gemma 2 / Gemma 3 (text): the score scale, the soft-caps (Gemma 2's default to 50 / 30
// when absent; null turns one off), the sliding window and which layers have it, the
// local layers' rope base (Gemma 3).
Status ParseGemmaFields(const FieldReader& r, const json& root, const std::string& model_type, ModelConfig* c) {
  const bool g2 = model_type == "gemma2";
  WEFT_ASSIGN_OR_RETURN(double scalar, r.Number("query_pre_attn_scalar", 256.0, 1e-6, 1e9));
  c->attn_scale = static_cast<float>(1.0 / std::sqrt(scalar));
  auto cap = [&](const char* key, double def) -> StatusOr<float> {
    if (root.contains(key) && root[key].is_null()) return 0.0f;
    WEFT_ASSIGN_OR_RETURN(double v, r.Number(key, g2 ? def : 0.0, 0.0, 1e9));
    return static_cast<float>(v);
  };
  WEFT_ASSIGN_OR_RETURN(c->attn_logit_softcap, cap("attn_logit_softcapping", 50.0));
  WEFT_ASSIGN_OR_RETURN(c->final_logit_softcap, cap("final_logit_softcapping", 30.0));
  WEFT_ASSIGN_OR_RETURN(c->sliding_window, r.Int("sliding_window", 4096, 1, kMaxContext));
  c->sliding_window_pattern = g2 ? 2 : 6;
  if (!g2) {
    WEFT_ASSIGN_OR_RETURN(int64_t pattern, r.Int("sliding_window_pattern", 6, 1, kMaxSize));
    c->sliding_window_pattern = static_cast<int>(pattern);
    WEFT_ASSIGN_OR_RETURN(double local_theta, r.Number("rope_local_base_freq", 10000.0, 1e-6, 1e12));
    c->rope_theta_local = static_cast<float>(local_theta);
  }
  // Newer configs list each layer's kind; it must be the pattern's (local ... global).
  if (const json* types = r.Find("layer_types")) {
    if (!types->is_array() || static_cast<int64_t>(types->size()) != c->n_layer) {
      return r.Error("layer_types", fmt::format("must list {} layers", c->n_layer));
    }
    for (int64_t l = 0; l < c->n_layer; ++l) {
      const json& t = (*types)[static_cast<size_t>(l)];
      const bool local = (l + 1) % c->sliding_window_pattern != 0;
      if (!t.is_string() || t.get<std::string>() != (local ? "sliding_attention" : "full_attention")) {
        return r.Error("layer_types", fmt::format("layer {} is not {} as a pattern of {} gives; other layer layouts "
                                                  "are not supported",
                                                  l, local ? "sliding_attention" : "full_attention",
                                                  c->sliding_window_pattern));
      }
    }
  }
  return Status::Ok();
}

Status ParseRopeScaling(const json& root, const std::string& source, int64_t max_positions, RopeScaling* out) {
  auto it = root.find("rope_scaling");
  if (it == root.end() || it->is_null()) return Status::Ok();
  if (!it->is_object()) {
    return InvalidArgumentError(
        fmt::format("{}: field 'rope_scaling' is a {}, not an object or null", source, it->type_name()));
  }
  FieldReader r(*it, source, "rope_scaling.");
  WEFT_ASSIGN_OR_RETURN(std::optional<std::string> kind, r.String("rope_type"));
  if (!kind) {
    WEFT_ASSIGN_OR_RETURN(kind, r.String("type"));
  }
  if (!kind) return r.Error("rope_type", "is missing (neither 'rope_type' nor 'type' is given)");

  RopeScaling s;
  if (*kind == "default") {
    *out = s;
    return Status::Ok();
  }
  if (*kind == "linear") {
    s.type = RopeScalingType::kLinear;
    WEFT_ASSIGN_OR_RETURN(double factor, r.Number("factor", std::nullopt, 1e-6, 1e6));
    s.factor = static_cast<float>(factor);
  } else if (*kind == "yarn") {
    s.type = RopeScalingType::kYarn;
    WEFT_ASSIGN_OR_RETURN(double factor, r.Number("factor", std::nullopt, 1e-6, 1e6));
    WEFT_ASSIGN_OR_RETURN(s.original_context,
                          r.Int("original_max_position_embeddings", max_positions, 1, kMaxContext));
    WEFT_ASSIGN_OR_RETURN(double beta_fast, r.Number("beta_fast", 32.0, -1e6, 1e6));
    WEFT_ASSIGN_OR_RETURN(double beta_slow, r.Number("beta_slow", 1.0, -1e6, 1e6));
    // HF's attention_factor is the whole attention scale; absent, both HF and llama.cpp
    // derive it from the factor (0.1 * ln(factor) + 1), which is what 1.0 means here.
    WEFT_ASSIGN_OR_RETURN(double attn_factor, r.Number("attention_factor", 1.0, 0.0, 1e6));
    s.factor = static_cast<float>(factor);
    s.yarn_beta_fast = static_cast<float>(beta_fast);
    s.yarn_beta_slow = static_cast<float>(beta_slow);
    s.yarn_attn_factor = static_cast<float>(attn_factor);
  } else if (*kind == "llama3") {
    s.type = RopeScalingType::kLlama3;
    WEFT_ASSIGN_OR_RETURN(double factor, r.Number("factor", std::nullopt, 1e-6, 1e6));
    WEFT_ASSIGN_OR_RETURN(double low, r.Number("low_freq_factor", std::nullopt, 1e-6, 1e6));
    WEFT_ASSIGN_OR_RETURN(double high, r.Number("high_freq_factor", std::nullopt, 1e-6, 1e6));
    WEFT_ASSIGN_OR_RETURN(s.original_context,
                          r.Int("original_max_position_embeddings", std::nullopt, 1, kMaxContext));
    if (high <= low) {
      return r.Error("high_freq_factor", fmt::format("({}) must be greater than low_freq_factor ({})", high, low));
    }
    s.factor = static_cast<float>(factor);
    s.llama3_low_freq_factor = static_cast<float>(low);
    s.llama3_high_freq_factor = static_cast<float>(high);
  } else if (*kind == "longrope" || *kind == "su") {
    // Phi-3-128k / Phi-3.5: per-pair divisors for short and long contexts; the factor is
    // the context extension (max_position_embeddings / original), which sets the default
    // attention factor as transformers and llama.cpp's converter compute it.
    s.type = RopeScalingType::kLongRope;
    auto orig_root = root.find("original_max_position_embeddings");
    const int64_t orig_default =
        orig_root != root.end() && orig_root->is_number_integer() ? orig_root->get<int64_t>() : int64_t{0};
    WEFT_ASSIGN_OR_RETURN(s.original_context, r.Int("original_max_position_embeddings",
                                                    orig_default > 0 ? std::optional<int64_t>(orig_default) : std::nullopt,
                                                    1, kMaxContext));
    WEFT_ASSIGN_OR_RETURN(double factor, r.Number("factor", static_cast<double>(max_positions) /
                                                                static_cast<double>(s.original_context),
                                                  1e-6, 1e6));
    const double default_attn =
        factor > 1.0 ? std::sqrt(1.0 + std::log(factor) / std::log(static_cast<double>(s.original_context))) : 1.0;
    WEFT_ASSIGN_OR_RETURN(double attn_factor, r.Number("attention_factor", default_attn, 0.0, 1e6));
    s.factor = static_cast<float>(factor);
    s.yarn_attn_factor = static_cast<float>(attn_factor);
    for (auto [key, dst] : {std::pair{"long_factor", &s.longrope_long_factors},
                            std::pair{"short_factor", &s.longrope_short_factors}}) {
      auto f = it->find(key);
      if (f == it->end() || !f->is_array() || f->empty()) return r.Error(key, "must be a non-empty array of numbers");
      for (const json& v : *f) {
        if (!v.is_number() || !(v.get<double>() > 0.0)) return r.Error(key, "must hold positive numbers only");
        dst->push_back(static_cast<float>(v.get<double>()));
      }
    }
    if (s.longrope_long_factors.size() != s.longrope_short_factors.size()) {
      return r.Error("long_factor", fmt::format("has {} values, short_factor {}", s.longrope_long_factors.size(),
                                                s.longrope_short_factors.size()));
    }
  } else {
    return UnimplementedError(fmt::format("{}: rope_scaling type '{}' is not supported (supported: linear, yarn, llama3, longrope)",
                                          source, *kind));
  }
  *out = s;
  return Status::Ok();
}

}  // namespace

StatusOr<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& source_name) {
  const std::string& src = source_name;
  json root = json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return InvalidArgumentError(fmt::format("{}: not valid JSON", src));
  if (!root.is_object()) {
    return InvalidArgumentError(fmt::format("{}: top level is a JSON {}, not an object", src, root.type_name()));
  }
  FieldReader r(root, src, "");

  WEFT_ASSIGN_OR_RETURN(std::optional<std::string> model_type, r.String("model_type"));
  if (!model_type) return r.Error("model_type", "is missing");
  std::optional<FamilyDefaults> family = LookUpFamily(*model_type);
  if (!family) {
    return UnimplementedError(fmt::format("{}: model_type '{}' is not supported (supported: llama, mistral, mixtral, "
                                          "qwen2, qwen2_moe, qwen3, qwen3_moe, olmoe, gemma2, gemma3_text, "
                                          "deepseek_v2, deepseek_v3, phi3)",
                                          src, *model_type));
  }
  const bool gemma = *model_type == "gemma2" || *model_type == "gemma3_text";

  // The MLP's activation: SwiGLU (silu) for the llama family, GeGLU (tanh-approximated
  // gelu) for Gemma, which names it hidden_activation.
  const char* want_act = gemma ? "gelu_pytorch_tanh" : "silu";
  for (const char* key : {"hidden_act", "hidden_activation"}) {
    WEFT_ASSIGN_OR_RETURN(std::optional<std::string> act, r.String(key));
    if (act && *act != want_act && !(gemma && std::string_view(key) == "hidden_act")) {
      return UnimplementedError(
          fmt::format("{}: {} '{}' is not supported for {} (only {})", src, key, *act, *model_type, want_act));
    }
  }
  WEFT_ASSIGN_OR_RETURN(bool mlp_bias, r.Bool("mlp_bias", false));
  if (mlp_bias) return UnimplementedError(fmt::format("{}: mlp_bias true is not supported", src));
  // Partial rotary (Phi-4-mini: 0.75): rope turns the first head_dim x factor dims of q
  // and k (in the family's pairing), the rest pass through.
  WEFT_ASSIGN_OR_RETURN(double partial_rotary, r.Number("partial_rotary_factor", 1.0, 1e-6, 1.0));

  ModelConfig c;
  c.arch = family->arch;
  WEFT_ASSIGN_OR_RETURN(c.n_vocab, r.Int("vocab_size", std::nullopt, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c.n_embd, r.Int("hidden_size", std::nullopt, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c.n_layer, r.Int("num_hidden_layers", std::nullopt, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c.n_head, r.Int("num_attention_heads", std::nullopt, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c.n_head_kv, r.Int("num_key_value_heads", c.n_head, 1, kMaxSize));
  if (c.n_head % c.n_head_kv != 0) {
    return r.Error("num_key_value_heads",
                   fmt::format("({}) does not divide num_attention_heads ({})", c.n_head_kv, c.n_head));
  }
  if (r.Find("head_dim") == nullptr && c.n_embd % c.n_head != 0) {
    return r.Error("num_attention_heads", fmt::format("({}) does not divide hidden_size ({}) and head_dim is not given",
                                                      c.n_head, c.n_embd));
  }
  WEFT_ASSIGN_OR_RETURN(c.head_dim, r.Int("head_dim", c.n_embd / c.n_head, 1, kMaxSize));
  if (c.head_dim % 2 != 0) return r.Error("head_dim", fmt::format("({}) must be even for RoPE", c.head_dim));
  WEFT_ASSIGN_OR_RETURN(c.n_ff, r.Int("intermediate_size", std::nullopt, 1, kMaxSize));
  WEFT_ASSIGN_OR_RETURN(c.context_length,
                        r.Int("max_position_embeddings", family->max_position_embeddings, 1, kMaxContext));
  WEFT_ASSIGN_OR_RETURN(double eps, r.Number("rms_norm_eps", 1e-6, 0.0, 1.0));
  c.norm_eps = static_cast<float>(eps);
  WEFT_ASSIGN_OR_RETURN(double theta, r.Number("rope_theta", 10000.0, 1e-6, 1e12));
  c.rope_theta = static_cast<float>(theta);
  c.rope_dim = static_cast<int64_t>(static_cast<double>(c.head_dim) * partial_rotary);
  if (c.rope_dim <= 0 || c.rope_dim % 2 != 0) {
    return r.Error("partial_rotary_factor", fmt::format("({}) x head_dim {} gives {} rotated dims, which is not a positive "
                                                        "even number",
                                                        partial_rotary, c.head_dim, c.rope_dim));
  }
  c.rope_style = family->rope_style;
  WEFT_RETURN_IF_ERROR(ParseRopeScaling(root, src, c.context_length, &c.rope_scaling));
  WEFT_ASSIGN_OR_RETURN(c.tied_embeddings, r.Bool("tie_word_embeddings", false));
  WEFT_ASSIGN_OR_RETURN(bool attention_bias, r.Bool("attention_bias", false));
  if (c.arch == "deepseek2" && attention_bias) {
    return r.Error("attention_bias", "is true: DeepSeek's latent attention with biases is not supported");
  }
  if (*model_type == "qwen2" || *model_type == "qwen2_moe") {
    // Qwen2Attention always has q/k/v biases and never an o_proj bias.
    c.attn_qkv_bias = true;
    c.attn_output_bias = false;
  } else {
    // llama, mistral and qwen3 put attention_bias on q, k, v and o alike.
    c.attn_qkv_bias = attention_bias;
    c.attn_output_bias = attention_bias;
  }
  c.qk_norm = *model_type == "qwen3" || *model_type == "qwen3_moe" || *model_type == "gemma3_text" ||
              *model_type == "olmoe";
  c.qk_norm_full = *model_type == "olmoe";
  WEFT_RETURN_IF_ERROR(ParseExpertFields(r, *model_type, &c));
  if (c.arch == "deepseek2") WEFT_RETURN_IF_ERROR(ParseDeepseekFields(r, root, &c));
  if (gemma) {
    WEFT_ASSIGN_OR_RETURN(c.tied_embeddings, r.Bool("tie_word_embeddings", true));
    WEFT_RETURN_IF_ERROR(ParseGemmaFields(r, root, *model_type, &c));
  }
  WEFT_ASSIGN_OR_RETURN(c.bos_token_id, r.TokenId("bos_token_id"));
  WEFT_ASSIGN_OR_RETURN(c.eos_token_id, r.TokenId("eos_token_id"));

  // Sliding-window attention (Mistral: every layer). Qwen2's per-layer variant
  // (max_window_layers) is not modelled: refused rather than silently different.
  if (gemma) return c;  // its windows are set above
  WEFT_ASSIGN_OR_RETURN(bool use_sliding, r.Bool("use_sliding_window", *model_type == "mistral" ||
                                                                           *model_type == "mixtral" ||
                                                                           *model_type == "phi3"));
  const nlohmann::json* window_field = r.Find("sliding_window");
  if (use_sliding && window_field != nullptr && !window_field->is_null()) {
    WEFT_ASSIGN_OR_RETURN(int64_t window, r.Int("sliding_window", std::nullopt, 0, kMaxContext));
    if (window > 0 && window < c.context_length) {
      if (*model_type == "qwen2" || *model_type == "qwen2_moe") {
        return InvalidArgumentError(fmt::format("{}: use_sliding_window with qwen2's max_window_layers is not "
                                                "supported; set use_sliding_window to false",
                                                src));
      }
      c.sliding_window = window;
    }
  }
  return c;
}

}  // namespace weft
