// LlamaWeights: a decoder's weights bound by role (per layer, GGUF tensor names), ready
// for the kernels: the llama layout and the optional tensors other families add (biases,
// q/k norms, post-norms). Most tensors are the ModelFile's zero-copy views. A few are repacked once at
// bind time, into buffers this object owns:
//  * matrices whose rows are not whole quantisation blocks (blocks running across rows,
//    as in an old Q8_0 stories260K file) are dequantised to F32, since row-wise matmul
//    kernels need whole blocks per row;
//  * norm weights and biases that are not F32 (or not 4-byte aligned) become F32 arrays;
//  * Q4_0 / Q8_0 matrices are repacked into the Panel16 layout (kernels/panel_layout.h),
//    which the matmul kernels stream at memory speed, into memory this object owns
//    (so decode reads anonymous, huge-page-backed memory rather than the mapped file).
//    A tied embedding is packed once and serves both the lookup and the output matmul.
//    Only the types in BindOptions::panel_types are packed (WEFT_WEIGHT_LAYOUT=rows: none).
// With BindOptions::tp_size > 1 (tensor parallelism, model/tp_decoder.h) only this rank's
// part of q/k/v, gate/up (its rows: its heads, its FFN columns) and of o_proj/down (its
// input columns) is bound and resident; the config's head counts and n_ff still describe
// the whole model (the caller divides them). The attention output bias is rank 0's alone.
// With BindOptions::pp_size > 1 (pipeline parallelism) only the stage's layers are bound,
// the embedding on the first stage and the output head on the last (see Bind).
// Ownership: holds a shared_ptr to the ModelFile, so the views stay valid. Immutable
// after binding; safe to share across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/panel_layout.h"
#include "loader/model_file.h"
#include "model/bind_options.h"
#include "tensor/tensor_view.h"
#include "weft/status.h"

namespace weft {

// One expert's gated MLP (or the shared expert's): ne {n_embd, ff}, {n_embd, ff}, {ff, n_embd}.
struct ExpertWeights {
  const TensorView* w_gate = nullptr;
  const TensorView* w_up = nullptr;
  const TensorView* w_down = nullptr;
  // Bytes of the three matrices, as bound.
  int64_t Bytes() const { return static_cast<int64_t>(w_gate->nbytes + w_up->nbytes + w_down->nbytes); }
};

struct LlamaLayerWeights {
  const float* attn_norm = nullptr;     // [n_embd]
  const TensorView* wq = nullptr;       // ne {n_embd, n_head*head_dim}
  const TensorView* wk = nullptr;       // ne {n_embd, n_head_kv*head_dim}
  const TensorView* wv = nullptr;       // ne {n_embd, n_head_kv*head_dim}
  const TensorView* wo = nullptr;       // ne {n_head*head_dim, n_embd}
  const float* bq = nullptr;            // [n_head*head_dim] (qwen2), else null
  const float* bk = nullptr;            // [n_head_kv*head_dim]
  const float* bv = nullptr;
  const float* bo = nullptr;            // [n_embd] when attn_output_bias
  const float* q_norm = nullptr;        // [head_dim] (qwen3), else null
  const float* k_norm = nullptr;
  const float* post_attn_norm = nullptr;  // [n_embd] on the attention output (Gemma), else null
  const float* ffn_norm = nullptr;      // [n_embd]
  const float* post_ffn_norm = nullptr;   // [n_embd] on the FFN output (Gemma), else null
  // Multi-head latent attention (DeepSeek; config is_mla()) instead of wq/wk/wv, with
  // qk = qk_nope_dim + rope_dim:
  const TensorView* wq_a = nullptr;     // ne {n_embd, q_lora_rank}, or null: wq is ne {n_embd, n_head*qk}
  const float* q_a_norm = nullptr;      // [q_lora_rank]
  const TensorView* wq_b = nullptr;     // ne {q_lora_rank, n_head*qk}
  const TensorView* wkv_a = nullptr;    // ne {n_embd, kv_lora_rank + rope_dim}: the latent, then the rope key
  const float* kv_a_norm = nullptr;     // [kv_lora_rank]
  const TensorView* wkv_b = nullptr;    // ne {kv_lora_rank, n_head*(qk_nope_dim + v_head_dim)}: the file's
                                        // view, as stored (the architecture re-lays it out per head)
  const TensorView* w_gate = nullptr;   // ne {n_embd, n_ff}
  const TensorView* w_up = nullptr;     // ne {n_embd, n_ff}
  const TensorView* w_down = nullptr;   // ne {n_ff, n_embd}
  // Mixture of experts (config LayerIsMoe; the dense w_gate/w_up/w_down are then null).
  const TensorView* router = nullptr;   // ne {n_embd, n_expert}: the router's logits
  const float* expert_selection_bias = nullptr;  // [n_expert] added to the scores to choose (DeepSeek-V3), or null
  std::vector<ExpertWeights> experts;   // [n_expert], each of ExpertFf() width; views into
                                        // the file when the experts stay on disk
  ExpertWeights shared_expert;          // of n_ff_shared_expert width (Qwen2-MoE, DeepSeek), else null
  const float* shared_expert_gate = nullptr;  // [n_embd]: sigmoid(x . g) scales the shared expert (Qwen2-MoE), or null
};

class LlamaWeights {
 public:
  // Checks every tensor's presence and shape against the config (CheckLlamaWeights).
  static StatusOr<std::shared_ptr<const LlamaWeights>> Bind(std::shared_ptr<const ModelFile> file,
                                                            const BindOptions& options = {});

  const ModelConfig& config() const { return file_->config(); }
  const ModelFile& file() const { return *file_; }
  const std::shared_ptr<const ModelFile>& file_ptr() const { return file_; }
  const TensorView& token_embd() const { return *token_embd_; }  // ne {n_embd, n_vocab}
  // Under --tp the embedding bound is this rank's vocabulary rows only: token_embd() holds
  // rows [embedding_first_row(), + its rows) (model/bind_options.h VocabSlice), and a
  // lookup is EmbeddingLookupPart + an all-reduce over the tensor-parallel ranks.
  bool embedding_is_vocab_part() const { return embd_is_part_; }
  int64_t embedding_first_row() const { return embd_part_first_; }
  const TensorView& output() const { return *output_; }  // token_embd when tied; under --tp this rank's vocabulary rows
  const float* output_norm() const { return output_norm_; }      // [n_embd]
  // The layers bound: all of them, or with BindOptions::pp_size > 1 the stage's, which
  // are the model's layers [first_layer(), first_layer() + layers().size()).
  const std::vector<LlamaLayerWeights>& layers() const { return layers_; }
  int64_t first_layer() const { return first_layer_; }
  // [rope_dim / 2] RoPE frequency divisors (Llama 3.1 scaling: the file's
  // rope_freqs.weight, else computed from a "llama3" rope_scaling), or null.
  const float* rope_freq_factors() const { return rope_freq_factors_; }
  // Tensors repacked at bind time (for `weft info`-style reporting and tests).
  int num_repacked() const {
    return static_cast<int>(repacked_views_.size() + float_buffers_.size() + packed_.size());
  }
  int num_panel_packed() const { return static_cast<int>(packed_.size()); }

  // The same weights with only layers `keep` (increasing indices into layers()), for a
  // self-speculative draft (spec/draft_model_proposer.h): every tensor is `full`'s,
  // which the result keeps alive; nothing is copied.
  static std::shared_ptr<const LlamaWeights> LayerSubset(std::shared_ptr<const LlamaWeights> full,
                                                         std::span<const int64_t> keep);

 private:
  LlamaWeights() = default;
  const TensorView* Matrix(const TensorView* t);
  // The whole tensor dequantised to F32, in a buffer this object owns.
  const TensorView* F32Copy(const TensorView* t);
  // Tensor parallelism (BindOptions::tp_size > 1): this rank's part of a matrix ne {k, n}
  // bound as Matrix. Rows: output rows [rank * n / tp, (rank + 1) * n / tp), a zero-copy
  // view (q/k/v, gate/up: column-parallel). Columns: input columns [rank * k / tp, ...)
  // of every row, copied (o_proj, down: row-parallel); the part must be whole blocks.
  const TensorView* RowPart(const TensorView* t);
  const TensorView* ColumnPart(const TensorView* t);
  // A whole F32 copy of t when its blocks run across rows (so that it can be cut), else t.
  const TensorView* Splittable(const TensorView* t);
  // This rank's part of a bias of n floats (n / tp of them).
  const float* BiasPart(const TensorView* t);
  const TensorView* Pack(const TensorView* t);
  // --tp: binds this rank's vocabulary rows of the embedding (first stage) and output head
  // (last stage), see Bind.
  Status BindVocabParallel(const ModelConfig& c, const TensorView* embd, const TensorView* out,
                           const BindOptions& options, bool first_stage, bool last_stage);
  const float* Floats(const TensorView* t);
  // Expert e of the layer's 3-D ffn_<role>_exps tensor (a zero-copy slice), or the
  // per-expert matrix ffn_<role>.e; then bound as Matrix, unless the experts stay on
  // disk (BindOptions::expert_cache_bytes): then the file's view itself.
  const TensorView* ExpertMatrix(const std::string& prefix, const char* role, int64_t e);
  // Rows [first, first + count) of a matrix with whole blocks per row (a zero-copy view):
  // the parts of fused q/k/v and gate/up tensors (Phi-3).
  const TensorView* RowSlice(const TensorView* t, int64_t first, int64_t count);

  std::shared_ptr<const ModelFile> file_;
  const TensorView* token_embd_ = nullptr;
  const TensorView* output_ = nullptr;
  int64_t embd_part_first_ = 0;
  bool embd_is_part_ = false;
  const float* output_norm_ = nullptr;
  const float* rope_freq_factors_ = nullptr;
  std::vector<LlamaLayerWeights> layers_;
  std::vector<std::unique_ptr<TensorView>> repacked_views_;
  std::vector<std::unique_ptr<TensorView>> expert_slices_;  // views into ffn_*_exps and fused tensors
  std::vector<std::vector<float>> float_buffers_;
  std::vector<std::unique_ptr<kernels::PackedTensor>> packed_;
  kernels::PanelTypeSet panel_types_ = 0;
  bool experts_on_disk_ = false;
  int tp_size_ = 1;
  int tp_rank_ = 0;
  int64_t first_layer_ = 0;
  std::vector<std::vector<uint8_t>> column_parts_;  // ColumnPart's copies (before packing)
  std::shared_ptr<const LlamaWeights> owner_;  // LayerSubset: the full weights it views
};

}  // namespace weft
