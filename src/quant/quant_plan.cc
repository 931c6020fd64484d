#include "quant/quant_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "quant/quant_rows.h"

namespace weft::quant {
namespace {

// llama_ftype ids (llama.h).
enum Ftype : uint32_t {
  kAllF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 7, kQ5_0 = 8, kQ5_1 = 9, kQ2_K = 10,
  kQ3_K_S = 11, kQ3_K_M = 12, kQ3_K_L = 13, kQ4_K_S = 14, kQ4_K_M = 15, kQ5_K_S = 16, kQ5_K_M = 17,
  kQ6_K = 18, kIQ4_NL = 25, kBF16 = 32,
};

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }
bool EndsWith(const std::string& s, std::string_view end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

int LayerOf(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

struct ModelFacts {
  std::string arch;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int n_expert = 1;
  bool has_output = false;
  int n_attention_wv = 0;
  int n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
  // llama.cpp's LLM_TYPE_70B for the llama family (80 layers); its attn_v gets more bits.
  bool is_70b() const { return arch == "llama" && n_layer == 80; }
};

using Metadata = std::map<std::string, GgufValue>;

int64_t IntOr(const Metadata& md, const std::string& key, int64_t fallback) {
  const auto it = md.find(key);
  if (it == md.end()) return fallback;
  const GgufValue* v = &it->second;
  if (const auto* i = std::get_if<int64_t>(&v->value)) return *i;
  if (const auto* a = std::get_if<GgufArray>(&v->value); a && !a->ints.empty()) return a->ints[0];  // per-layer
  return fallback;
}

// The mix rules' running state (llama-quantize's quantize_state_impl counters).
struct MixState {
  int i_attention_wv = 0, i_ffn_down = 0, i_ffn_gate = 0, i_ffn_up = 0;
};

bool UseMoreBits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

StatusOr<DType> ChooseMixType(const ModelFacts& m, MixState& st, uint32_t ftype, DType type, const std::string& name,
                              int64_t ne0, const PlanOptions& opt) {
  const bool falcon = m.arch == "falcon";
  // The layer a per-layer rule looks at: the running counter, or for MoE models the
  // number in the name (experts are not consecutive).
  auto layer = [&](int counter) -> StatusOr<int> {
    if (m.n_expert <= 1) return counter;
    const int l = LayerOf(name);
    if (l < 0 || l >= m.n_layer) return InvalidArgumentError(fmt::format("tensor '{}': no valid layer number", name));
    return l;
  };
  if (name == "output.weight" || (!m.has_output && name == "token_embd.weight")) {
    if (opt.output_type) {
      type = *opt.output_type;
    } else if (falcon || ne0 % GetDTypeInfo(type).block_size != 0) {
      type = DType::kQ8_0;
    } else if (type != DType::kQ8_0) {
      type = DType::kQ6_K;
    }
  } else if (name == "token_embd.weight") {
    if (opt.token_embedding_type) type = *opt.token_embedding_type;
  } else if (Contains(name, "attn_v.weight")) {
    const int i = st.i_attention_wv, n = m.n_attention_wv;
    if (ftype == kQ2_K) type = m.n_gqa() >= 4 ? DType::kQ4_K : DType::kQ3_K;
    else if (ftype == kQ3_K_M) type = i < 2 ? DType::kQ5_K : DType::kQ4_K;
    else if (ftype == kQ3_K_L) type = DType::kQ5_K;
    else if (ftype == kIQ4_NL && m.n_gqa() >= 4) type = DType::kQ5_K;
    else if ((ftype == kQ4_K_M || ftype == kQ5_K_M) && UseMoreBits(i, n)) type = DType::kQ6_K;
    else if (ftype == kQ4_K_S && i < 4) type = DType::kQ5_K;
    if (m.is_70b() && (type == DType::kQ3_K || type == DType::kQ4_K)) type = DType::kQ5_K;
    if (m.n_expert == 8) type = DType::kQ8_0;
    ++st.i_attention_wv;
  } else if (Contains(name, "attn_k.weight")) {
    if (m.n_expert == 8) type = DType::kQ8_0;
  } else if (Contains(name, "attn_q.weight")) {
    // no rule for the types weft writes
  } else if (Contains(name, "ffn_down")) {
    WEFT_ASSIGN_OR_RETURN(const int i, layer(st.i_ffn_down));
    const int n = m.n_layer;
    if (ftype == kQ2_K) {
      type = DType::kQ3_K;
    } else if (ftype == kQ3_K_M) {
      type = i < n / 16 ? DType::kQ5_K : (!falcon || UseMoreBits(i, n)) ? DType::kQ4_K : DType::kQ3_K;
    } else if (ftype == kQ3_K_L) {
      type = falcon ? DType::kQ4_K : DType::kQ5_K;
    } else if (ftype == kQ4_K_M) {
      if (falcon) {
        type = i < n / 16 ? DType::kQ6_K : UseMoreBits(i, n) ? DType::kQ5_K : DType::kQ4_K;
      } else if (UseMoreBits(i, n)) {
        type = DType::kQ6_K;
      }
    } else if (i < n / 8 && ftype == kIQ4_NL && !opt.has_imatrix) {
      type = DType::kQ5_K;
    } else if (ftype == kQ5_K_M && UseMoreBits(i, n)) {
      type = DType::kQ6_K;
    } else if (ftype == kQ4_K_S && !falcon && i < n / 8) {
      type = DType::kQ5_K;
    } else if ((ftype == kQ4_0 || ftype == kQ5_0) && opt.has_imatrix && i < n / 8) {
      type = ftype == kQ4_0 ? DType::kQ4_1 : DType::kQ5_1;
    }
    ++st.i_ffn_down;
  } else if (Contains(name, "attn_output.weight")) {
    if (!falcon) {
      if (m.n_expert == 8) {
        if (ftype == kQ2_K || ftype == kQ3_K_S || ftype == kQ3_K_M || ftype == kQ4_K_S || ftype == kQ4_K_M ||
            ftype == kIQ4_NL) {
          type = DType::kQ5_K;
        }
      } else if (ftype == kQ2_K) {
        type = DType::kQ3_K;
      } else if (ftype == kQ3_K_M) {
        type = DType::kQ4_K;
      } else if (ftype == kQ3_K_L) {
        type = DType::kQ5_K;
      }
    } else if (ftype == kQ3_K_L) {
      type = DType::kQ4_K;
    }
  } else if (Contains(name, "attn_qkv.weight")) {
    if (ftype == kQ3_K_M || ftype == kQ3_K_L) type = DType::kQ4_K;
    else if (ftype == kQ4_K_M) type = DType::kQ5_K;
    else if (ftype == kQ5_K_M) type = DType::kQ6_K;
  } else if (Contains(name, "ffn_gate")) {
    WEFT_ASSIGN_OR_RETURN(const int i, layer(st.i_ffn_gate));
    (void)i;
    ++st.i_ffn_gate;
  } else if (Contains(name, "ffn_up")) {
    WEFT_ASSIGN_OR_RETURN(const int i, layer(st.i_ffn_up));
    (void)i;
    ++st.i_ffn_up;
  }
  // Rows that are not a whole number of blocks: llama-quantize's fallbacks.
  if (ne0 % GetDTypeInfo(type).block_size != 0) {
    switch (type) {
      case DType::kQ2_K: case DType::kQ3_K: type = DType::kIQ4_NL; break;
      case DType::kQ4_K: type = DType::kQ5_0; break;
      case DType::kQ5_K: type = DType::kQ5_1; break;
      case DType::kQ6_K: type = DType::kQ8_0; break;
      default:
        return InvalidArgumentError(fmt::format("tensor '{}': rows of {} are not a multiple of {}'s block of {}", name,
                                                ne0, DTypeName(type), GetDTypeInfo(type).block_size));
    }
    if (ne0 % GetDTypeInfo(type).block_size != 0) type = DType::kF16;
  }
  return type;
}

bool IsQuantizedType(DType t) { return GetDTypeInfo(t).block_size > 1; }

// Whether llama-quantize would consider the tensor at all.
bool IsQuantizable(const TensorView& t, const PlanOptions& opt) {
  const std::string& name = t.name;
  if (!EndsWith(name, "weight") || t.n_dims < 2) return false;
  if (Contains(name, "_norm.weight")) return false;
  if (opt.leave_output && name == "output.weight") return false;
  for (std::string_view skip : {"ffn_gate_inp.weight", "ssm_conv1d.weight", "time_mix_first.weight",
                                "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight",
                                "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight"}) {
    if (Contains(name, skip)) return false;
  }
  return name != "position_embd.weight" && name != "token_types.weight";
}

}  // namespace

const std::vector<QuantMix>& AllQuantMixes() {
  static const std::vector<QuantMix> kMixes = {
      {"Q4_0", kQ4_0, DType::kQ4_0, "4.5 bits per weight, symmetric blocks of 32"},
      {"Q4_1", kQ4_1, DType::kQ4_1, "5.0 bpw, blocks of 32 with a min"},
      {"Q5_0", kQ5_0, DType::kQ5_0, "5.5 bpw, symmetric blocks of 32"},
      {"Q5_1", kQ5_1, DType::kQ5_1, "6.0 bpw, blocks of 32 with a min"},
      {"Q8_0", kQ8_0, DType::kQ8_0, "8.5 bpw"},
      {"Q2_K", kQ2_K, DType::kQ2_K, "Q2_K with Q3_K/Q4_K for attn_v, ffn_down, attn_output"},
      {"Q3_K_S", kQ3_K_S, DType::kQ3_K, "Q3_K throughout"},
      {"Q3_K_M", kQ3_K_M, DType::kQ3_K, "Q3_K with Q4_K/Q5_K for attn_v, attn_output, ffn_down"},
      {"Q3_K_L", kQ3_K_L, DType::kQ3_K, "Q3_K with Q5_K for attn_v, attn_output, ffn_down"},
      {"Q4_K_S", kQ4_K_S, DType::kQ4_K, "Q4_K, Q5_K for the first attn_v and ffn_down"},
      {"Q4_K_M", kQ4_K_M, DType::kQ4_K, "Q4_K with Q6_K for half of attn_v and ffn_down"},
      {"Q5_K_S", kQ5_K_S, DType::kQ5_K, "Q5_K throughout"},
      {"Q5_K_M", kQ5_K_M, DType::kQ5_K, "Q5_K with Q6_K for half of attn_v and ffn_down"},
      {"Q6_K", kQ6_K, DType::kQ6_K, "Q6_K throughout"},
      {"IQ4_NL", kIQ4_NL, DType::kIQ4_NL, "4.5 bpw, blocks of 32 on a non-linear 16-level grid"},
      {"F16", kF16, DType::kF16, "IEEE half"},
      {"BF16", kBF16, DType::kBF16, "bfloat16"},
      {"F32", kAllF32, DType::kF32, "float32"},
  };
  return kMixes;
}

const QuantMix* FindQuantMix(std::string_view name) {
  if (IEquals(name, "Q3_K")) name = "Q3_K_M";
  if (IEquals(name, "Q4_K")) name = "Q4_K_M";
  if (IEquals(name, "Q5_K")) name = "Q5_K_M";
  for (const QuantMix& m : AllQuantMixes()) {
    if (IEquals(m.name, name)) return &m;
  }
  return nullptr;
}

StatusOr<TensorTypeOverride> ParseTensorTypeOverride(const std::string& text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return InvalidArgumentError(fmt::format("--tensor-type '{}': expected PATTERN=TYPE, e.g. attn_v=q8_0", text));
  }
  const std::string pattern = text.substr(0, eq);
  const std::optional<DType> type = DTypeFromName(text.substr(eq + 1));
  if (!type || !CanQuantizeTo(*type)) {
    return InvalidArgumentError(fmt::format("--tensor-type '{}': '{}' is not a type weft can write", text,
                                            text.substr(eq + 1)));
  }
  try {
    return TensorTypeOverride{pattern, std::regex(pattern), *type};
  } catch (const std::regex_error& e) {
    return InvalidArgumentError(fmt::format("--tensor-type '{}': bad regular expression: {}", text, e.what()));
  }
}

StatusOr<std::vector<PlannedTensor>> PlanQuantization(const Metadata& file, const std::vector<TensorView>& tensors,
                                                      const QuantMix& mix, const PlanOptions& options) {
  const auto arch_it = file.find("general.architecture");
  const std::string* arch_p = arch_it == file.end() ? nullptr : std::get_if<std::string>(&arch_it->second.value);
  if (arch_p == nullptr) return InvalidArgumentError("general.architecture is missing or not a string");
  const std::string arch = *arch_p;
  ModelFacts m;
  m.arch = arch;
  m.n_layer = static_cast<int>(IntOr(file, arch + ".block_count", 0));
  m.n_head = static_cast<int>(IntOr(file, arch + ".attention.head_count", 0));
  m.n_head_kv = static_cast<int>(IntOr(file, arch + ".attention.head_count_kv", m.n_head));
  m.n_expert = std::max<int>(1, static_cast<int>(IntOr(file, arch + ".expert_count", 1)));

  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // llama-quantize's order: by layer number (global tensors, layer -1, first), then name.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int la = LayerOf(tensors[a].name), lb = LayerOf(tensors[b].name);
    if (la != lb) return la < lb;
    return tensors[a].name < tensors[b].name;
  });
  for (const TensorView& t : tensors) {
    if (Contains(t.name, "attn_v.weight") || Contains(t.name, "attn_qkv.weight") || Contains(t.name, "attn_kv_b.weight")) {
      ++m.n_attention_wv;
    } else if (t.name == "output.weight") {
      m.has_output = true;
    }
  }

  MixState state;
  std::vector<PlannedTensor> plan;
  plan.reserve(order.size());
  for (size_t idx : order) {
    const TensorView& t = tensors[idx];
    PlannedTensor p{idx, t.name, t.type, t.type, false};
    if (IsQuantizable(t, options)) {
      DType type = mix.default_type;
      if (!options.pure && IsQuantizedType(mix.default_type)) {
        WEFT_ASSIGN_OR_RETURN(type, ChooseMixType(m, state, mix.ftype, type, t.name, t.ne[0], options));
      }
      if (options.token_embedding_type && t.name == "token_embd.weight") type = *options.token_embedding_type;
      if (options.output_type && t.name == "output.weight") type = *options.output_type;
      for (const TensorTypeOverride& o : options.overrides) {
        if (std::regex_search(t.name, o.re)) {
          type = o.type;
          break;
        }
      }
      if (!CanQuantizeTo(type)) {
        return InvalidArgumentError(fmt::format("tensor '{}': weft cannot write {}", t.name, DTypeName(type)));
      }
      if (t.ne[0] % GetDTypeInfo(type).block_size != 0) {
        return InvalidArgumentError(fmt::format("tensor '{}': rows of {} are not a multiple of {}'s block of {}",
                                                t.name, t.ne[0], DTypeName(type), GetDTypeInfo(type).block_size));
      }
      p.dst_type = type;
      p.convert = type != t.type;
    } else if (options.one_dim_to_f32 && t.n_dims == 1 && (t.type == DType::kF16 || t.type == DType::kBF16)) {
      p.dst_type = DType::kF32;
      p.convert = true;
    }
    plan.push_back(std::move(p));
  }
  return plan;
}

}  // namespace weft::quant
