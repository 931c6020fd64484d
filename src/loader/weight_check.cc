#include "loader/weight_check.h"

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <unordered_map>

namespace weft {
namespace {

std::string ShapeOf(std::initializer_list<int64_t> dims) {
  std::string s = "[";
  bool first = true;
  for (int64_t d : dims) {
    if (!first) s += ", ";
    s += std::to_string(d);
    first = false;
  }
  return s + "]";
}

class Checker {
 public:
  Checker(const std::vector<TensorView>& tensors, std::string_view source) : source_(source) {
    for (const TensorView& t : tensors) {
      if (!by_name_.emplace(t.name, &t).second && duplicate_.empty()) duplicate_ = t.name;
    }
  }

  Status Duplicates() const {
    if (duplicate_.empty()) return Status::Ok();
    return DataLossError(fmt::format("{}: tensor '{}' appears more than once", source_, duplicate_));
  }

  bool Has(const std::string& name) const { return by_name_.count(name) != 0; }

  Status Expect(const std::string& name, std::initializer_list<int64_t> dims) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      return NotFoundError(fmt::format("{}: tensor '{}' is missing (expected shape {})", source_, name, ShapeOf(dims)));
    }
    const TensorView& t = *it->second;
    bool ok = t.n_dims == static_cast<int>(dims.size());
    int i = 0;
    for (int64_t d : dims) {
      if (!ok) break;
      ok = t.ne[static_cast<size_t>(i++)] == d;
    }
    if (!ok) {
      return DataLossError(fmt::format("{}: tensor '{}' has shape {}, expected {}", source_, name,
                                       t.ShapeString(), ShapeOf(dims)));
    }
    return Status::Ok();
  }

 private:
  std::string_view source_;
  std::unordered_map<std::string, const TensorView*> by_name_;
  std::string duplicate_;
};

// A layer's experts: the router, then each of gate/up/down either as one 3-D tensor of
// all experts (llama.cpp's ffn_*_exps) or as one matrix per expert (ffn_*.E, as the HF
// loader and older GGUF files name them); the shared expert and its gate when the config
// has one.
Status CheckExperts(const Checker& check, const ModelConfig& c, const std::string& p) {
  const int64_t ff = c.ExpertFf();
  WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_gate_inp.weight", {c.n_embd, c.n_expert}));
  const struct {
    const char* name;
    int64_t in, out;
  } mats[] = {{"ffn_gate", c.n_embd, ff}, {"ffn_up", c.n_embd, ff}, {"ffn_down", ff, c.n_embd}};
  for (const auto& m : mats) {
    const std::string all = p + m.name + "_exps.weight";
    if (check.Has(all)) {
      WEFT_RETURN_IF_ERROR(check.Expect(all, {m.in, m.out, c.n_expert}));
      continue;
    }
    for (int64_t e = 0; e < c.n_expert; ++e) {
      WEFT_RETURN_IF_ERROR(check.Expect(fmt::format("{}{}.{}.weight", p, m.name, e), {m.in, m.out}));
    }
  }
  if (check.Has(p + "exp_probs_b.bias")) WEFT_RETURN_IF_ERROR(check.Expect(p + "exp_probs_b.bias", {c.n_expert}));
  if (c.n_ff_shared_expert > 0) {
    const int64_t sff = c.n_ff_shared_expert;
    if (c.shared_expert_gated) WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_gate_inp_shexp.weight", {c.n_embd}));
    WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_gate_shexp.weight", {c.n_embd, sff}));
    WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_up_shexp.weight", {c.n_embd, sff}));
    WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_down_shexp.weight", {sff, c.n_embd}));
  }
  return Status::Ok();
}

// Multi-head latent attention (DeepSeek-V2/V3): q directly or through its low-rank
// bottleneck, the joint K/V latent with the shared rope key, its up-projection to each
// head's k_nope and v, the output projection.
Status CheckLatentAttention(const Checker& check, const ModelConfig& c, const std::string& p) {
  const int64_t qk = c.qk_nope_dim + c.rope_dim;
  if (c.q_lora_rank > 0) {
    WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_q_a.weight", {c.n_embd, c.q_lora_rank}));
    WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_q_a_norm.weight", {c.q_lora_rank}));
    WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_q_b.weight", {c.q_lora_rank, c.n_head * qk}));
  } else {
    WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_q.weight", {c.n_embd, c.n_head * qk}));
  }
  WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_kv_a_mqa.weight", {c.n_embd, c.kv_lora_rank + c.rope_dim}));
  WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_kv_a_norm.weight", {c.kv_lora_rank}));
  WEFT_RETURN_IF_ERROR(
      check.Expect(p + "attn_kv_b.weight", {c.kv_lora_rank, c.n_head * (c.qk_nope_dim + c.v_head_dim)}));
  return check.Expect(p + "attn_output.weight", {c.n_head * c.v_head_dim, c.n_embd});
}

}  // namespace

Status CheckLlamaWeights(const ModelConfig& c, const std::vector<TensorView>& tensors, std::string_view source) {
  Checker check(tensors, source);
  WEFT_RETURN_IF_ERROR(check.Duplicates());
  const int64_t q_rows = c.n_head * c.head_dim;
  const int64_t kv_rows = c.n_head_kv * c.head_dim;
  WEFT_RETURN_IF_ERROR(check.Expect("token_embd.weight", {c.n_embd, c.n_vocab}));
  WEFT_RETURN_IF_ERROR(check.Expect("output_norm.weight", {c.n_embd}));
  if (!c.tied_embeddings || check.Has("output.weight")) {
    WEFT_RETURN_IF_ERROR(check.Expect("output.weight", {c.n_embd, c.n_vocab}));
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_norm.weight", {c.n_embd}));
    if (c.is_mla()) {
      WEFT_RETURN_IF_ERROR(CheckLatentAttention(check, c, p));
    } else if (check.Has(p + "attn_qkv.weight")) {  // q, k, v fused by rows (Phi-3)
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_qkv.weight", {c.n_embd, q_rows + 2 * kv_rows}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_output.weight", {q_rows, c.n_embd}));
    } else {
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_q.weight", {c.n_embd, q_rows}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_k.weight", {c.n_embd, kv_rows}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_v.weight", {c.n_embd, kv_rows}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_output.weight", {q_rows, c.n_embd}));
    }
    WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_norm.weight", {c.n_embd}));
    if (c.LayerIsMoe(l)) {
      WEFT_RETURN_IF_ERROR(CheckExperts(check, c, p));
    } else if (!check.Has(p + "ffn_gate.weight") && check.Has(p + "ffn_up.weight")) {
      // gate and up fused by rows, gate first (Phi-3)
      WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_up.weight", {c.n_embd, 2 * c.n_ff}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_down.weight", {c.n_ff, c.n_embd}));
    } else {
      WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_gate.weight", {c.n_embd, c.n_ff}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_up.weight", {c.n_embd, c.n_ff}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "ffn_down.weight", {c.n_ff, c.n_embd}));
    }
    if (c.attn_qkv_bias) {
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_q.bias", {q_rows}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_k.bias", {kv_rows}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_v.bias", {kv_rows}));
    }
    if (c.attn_output_bias) WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_output.bias", {c.n_embd}));
    if (c.qk_norm) {
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_q_norm.weight", {c.qk_norm_full ? q_rows : c.head_dim}));
      WEFT_RETURN_IF_ERROR(check.Expect(p + "attn_k_norm.weight", {c.qk_norm_full ? kv_rows : c.head_dim}));
    }
  }
  return Status::Ok();
}

}  // namespace weft
