#include "model/llama_weights.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/log.h"
#include "kernels/kernel_table.h"
#include "loader/weight_check.h"
#include "loader/rope_freq_factors.h"

namespace weft {

const TensorView* LlamaWeights::Pack(const TensorView* t) {
  if (t == nullptr || !kernels::PanelTypeSetHas(panel_types_, t->type) || !t->RowsAreBlockAligned()) return t;
  packed_.push_back(std::make_unique<kernels::PackedTensor>(kernels::PackTensor(*t)));
  file_->ReleaseMappedPages(*t);  // the packed copy replaces the file's bytes in memory
  return &packed_.back()->view;
}

const TensorView* LlamaWeights::Matrix(const TensorView* t) {
  if (t == nullptr) return t;
  if (t->RowsAreBlockAligned()) return Pack(t);
  // Blocks run across rows: dequantise the whole tensor (blocks are contiguous) to F32.
  const TensorView* copy = F32Copy(t);
  file_->ReleaseMappedPages(*t);
  WEFT_LOG_DEBUG("{}: rows of {} elements are not whole {} blocks; dequantised to F32", t->name, t->ne[0],
                 DTypeName(t->type));
  return copy;
}

const TensorView* LlamaWeights::F32Copy(const TensorView* t) {
  std::vector<float> values(static_cast<size_t>(t->NumElements()));
  DequantizeTensor(*t, values.data());
  auto view = std::make_unique<TensorView>(*t);
  view->type = DType::kF32;
  view->data = reinterpret_cast<const uint8_t*>(values.data());
  view->nbytes = values.size() * sizeof(float);
  float_buffers_.push_back(std::move(values));
  repacked_views_.push_back(std::move(view));
  return repacked_views_.back().get();
}

const TensorView* LlamaWeights::Splittable(const TensorView* t) {
  if (t == nullptr || t->RowsAreBlockAligned()) return t;
  return F32Copy(t);
}

const TensorView* LlamaWeights::RowPart(const TensorView* t) {
  if (t == nullptr || tp_size_ == 1) return Matrix(t);
  t = Splittable(t);
  const int64_t n = t->ne[1] / tp_size_;
  const size_t row_bytes = t->nbytes / static_cast<size_t>(t->ne[1]);
  auto part = std::make_unique<TensorView>(*t);
  part->name = fmt::format("{}[rows {}..{}]", t->name, n * tp_rank_, n * (tp_rank_ + 1));
  part->ne[1] = n;
  part->data = t->data + row_bytes * static_cast<size_t>(n * tp_rank_);
  part->nbytes = row_bytes * static_cast<size_t>(n);
  expert_slices_.push_back(std::move(part));
  return Matrix(expert_slices_.back().get());
}

const TensorView* LlamaWeights::ColumnPart(const TensorView* t) {
  if (t == nullptr || tp_size_ == 1) return Matrix(t);
  t = Splittable(t);
  const DTypeInfo& info = GetDTypeInfo(t->type);
  const int64_t k = t->ne[0] / tp_size_;
  const size_t row_bytes = t->nbytes / static_cast<size_t>(t->ne[1]);
  const size_t part_bytes = static_cast<size_t>(k / info.block_size) * static_cast<size_t>(info.block_bytes);
  const size_t offset = part_bytes * static_cast<size_t>(tp_rank_);
  std::vector<uint8_t> bytes(part_bytes * static_cast<size_t>(t->ne[1]));
  for (int64_t r = 0; r < t->ne[1]; ++r) {
    std::memcpy(bytes.data() + part_bytes * static_cast<size_t>(r), t->data + row_bytes * static_cast<size_t>(r) + offset,
                part_bytes);
  }
  auto part = std::make_unique<TensorView>(*t);
  part->name = fmt::format("{}[cols {}..{}]", t->name, k * tp_rank_, k * (tp_rank_ + 1));
  part->ne[0] = k;
  part->data = bytes.data();
  part->nbytes = bytes.size();
  file_->ReleaseMappedPages(*t);  // read whole to copy this rank's columns out
  column_parts_.push_back(std::move(bytes));
  expert_slices_.push_back(std::move(part));
  return Matrix(expert_slices_.back().get());
}

const float* LlamaWeights::BiasPart(const TensorView* t) {
  const float* all = Floats(t);
  if (all == nullptr || tp_size_ == 1) return all;
  return all + (t->NumElements() / tp_size_) * tp_rank_;
}

const float* LlamaWeights::Floats(const TensorView* t) {
  if (t == nullptr) return nullptr;
  if (t->type == DType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(t->data);
  }
  std::vector<float> values(static_cast<size_t>(t->NumElements()));
  DequantizeTensor(*t, values.data());
  float_buffers_.push_back(std::move(values));
  return float_buffers_.back().data();
}

const TensorView* LlamaWeights::ExpertMatrix(const std::string& prefix, const char* role, int64_t e) {
  const TensorView* all = file_->FindTensor(fmt::format("{}{}_exps.weight", prefix, role));
  if (all == nullptr) {
    const TensorView* t = file_->FindTensor(fmt::format("{}{}.{}.weight", prefix, role, e));
    return experts_on_disk_ ? t : Matrix(t);
  }
  // Experts are the outermost dimension: expert e's [ne1, ne0] matrix is contiguous.
  const size_t bytes = all->nbytes / static_cast<size_t>(all->ne[2]);
  auto slice = std::make_unique<TensorView>(*all);
  slice->name = fmt::format("{}[{}]", all->name, e);
  slice->n_dims = 2;
  slice->ne[2] = 1;
  slice->data = all->data + bytes * static_cast<size_t>(e);
  slice->nbytes = bytes;
  expert_slices_.push_back(std::move(slice));
  return experts_on_disk_ ? expert_slices_.back().get() : Matrix(expert_slices_.back().get());
}

// Tensor parallelism: heads, KV heads (whole GQA groups) and FFN columns divide evenly,
// and each rank's input columns of o_proj and down are whole quantisation blocks.
static Status CheckTensorParallelSplit(const ModelConfig& c, const std::vector<TensorView>& tensors, int tp,
                                const std::string& path) {
  if (c.is_moe()) {
    return UnimplementedError(fmt::format("{}: tensor parallelism (--tp) runs dense models; this one is a mixture of "
                                          "experts", path));
  }
  if (c.qk_norm_full) return UnimplementedError(fmt::format("{}: --tp does not split whole-projection q/k norms", path));
  if (c.is_mla()) return UnimplementedError(fmt::format("{}: --tp does not split latent attention (DeepSeek)", path));
  auto refuse = [&](const std::string& what, int64_t n) {
    return InvalidArgumentError(fmt::format("{}: --tp {} must divide the {} ({}); give a --tp that does", path, tp,
                                            what, n));
  };
  if (c.n_head % tp != 0) return refuse("attention heads", c.n_head);
  if (c.n_head_kv % tp != 0) return refuse("KV heads", c.n_head_kv);
  if (c.n_ff % tp != 0) return refuse("feed-forward width", c.n_ff);
  for (const TensorView& t : tensors) {
    const bool row_parallel = t.name.ends_with("attn_output.weight") || t.name.ends_with("ffn_down.weight");
    if (!row_parallel || !t.RowsAreBlockAligned()) continue;
    const int64_t part = t.ne[0] / tp;
    if (part % GetDTypeInfo(t.type).block_size != 0) {
      return InvalidArgumentError(fmt::format("{}: --tp {} would cut {}'s rows of {} {} values inside a block of {}",
                                              path, tp, t.name, t.ne[0], DTypeName(t.type),
                                              GetDTypeInfo(t.type).block_size));
    }
  }
  return Status::Ok();
}

const TensorView* LlamaWeights::RowSlice(const TensorView* t, int64_t first, int64_t count) {
  const size_t row_bytes = t->nbytes / static_cast<size_t>(t->NumRows());
  auto slice = std::make_unique<TensorView>(*t);
  slice->name = fmt::format("{}[rows {}..{})", t->name, first, first + count);
  slice->n_dims = 2;
  slice->ne = {t->ne[0], count, 1, 1};
  slice->data = t->data + row_bytes * static_cast<size_t>(first);
  slice->nbytes = row_bytes * static_cast<size_t>(count);
  expert_slices_.push_back(std::move(slice));
  return expert_slices_.back().get();
}

Status LlamaWeights::BindVocabParallel(const ModelConfig& c, const TensorView* embd, const TensorView* out,
                                       const BindOptions& options, bool first_stage, bool last_stage) {
  const int64_t V = embd->ne[1];
  const LayerRange v = VocabSlice(V, options.tp_size, options.tp_rank);
  if (v.count == 0) {
    return InvalidArgumentError(fmt::format("{}: --tp {} leaves rank {} no rows of the {}-entry vocabulary (the output "
                                            "head is cut on 64-row bounds); give a smaller --tp",
                                            file_->path(), options.tp_size, options.tp_rank, V));
  }
  embd_part_first_ = v.first;
  embd_is_part_ = first_stage;
  // Not this stage's: the file's whole view, never read (so never resident).
  token_embd_ = embd;
  output_ = c.tied_embeddings ? embd : out;
  const TensorView* embd_part = first_stage || (last_stage && c.tied_embeddings)
                                    ? RowSlice(Splittable(embd), v.first, v.count)
                                    : nullptr;
  if (c.tied_embeddings) {
    const TensorView* packed = embd_part != nullptr ? Matrix(embd_part) : nullptr;
    if (first_stage) token_embd_ = packed;
    if (last_stage) output_ = packed;
  } else {
    if (first_stage) token_embd_ = embd_part;
    if (last_stage) output_ = Matrix(RowSlice(Splittable(out), v.first, v.count));
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<const LlamaWeights>> LlamaWeights::Bind(std::shared_ptr<const ModelFile> file,
                                                                  const BindOptions& options) {
  const ModelConfig& c = file->config();
  WEFT_RETURN_IF_ERROR(CheckLlamaWeights(c, file->tensors(), file->path()));
  for (const auto& t : file->tensors()) {
    if (!GetDTypeInfo(t.type).dequantizable) {
      return UnimplementedError(fmt::format("{}: tensor '{}' has type {}, which weft cannot compute with",
                                            file->path(), t.name, DTypeName(t.type)));
    }
  }
  auto w = std::shared_ptr<LlamaWeights>(new LlamaWeights());
  w->file_ = file;
  w->panel_types_ = options.panel_types;
  w->experts_on_disk_ = c.is_moe() && options.expert_cache_bytes > 0;
  w->tp_size_ = options.tp_size;
  w->tp_rank_ = options.tp_rank;
  if (options.tp_size > 1) WEFT_RETURN_IF_ERROR(CheckTensorParallelSplit(c, file->tensors(), options.tp_size, file->path()));
  auto find = [&](const std::string& name) { return file->FindTensor(name); };
  // Pipeline parallelism: this stage's layers only; the embedding is bound (packed, read)
  // on the first stage, the output head on the last. Elsewhere they stay the file's
  // views, never read, so not resident (cost models still see their shapes).
  const LayerRange range = options.pp_size > 1 ? PipelineStageLayers(c.n_layer, options.pp_size, options.pp_stage)
                                               : LayerRange{0, c.n_layer};
  const bool first_stage = options.pp_stage == 0, last_stage = options.pp_stage == options.pp_size - 1;
  w->first_layer_ = range.first;
  // A tied embedding is packed (it is the output matrix too); an untied one stays as is.
  // Under --tp both are vocabulary-parallel (Megatron): this rank binds only its rows
  // VocabSlice(...) of the embedding (on the first stage) and of the output head (on the
  // last); with a tied embedding one packed slice serves both.
  if (options.tp_size > 1) {
    WEFT_RETURN_IF_ERROR(w->BindVocabParallel(c, find("token_embd.weight"), find("output.weight"), options,
                                              first_stage, last_stage));
  } else {
    const bool bind_embd = c.tied_embeddings ? (first_stage || last_stage) : false;
    w->token_embd_ = bind_embd ? w->Matrix(find("token_embd.weight")) : find("token_embd.weight");
    w->output_ = c.tied_embeddings ? w->token_embd_
                                   : (last_stage ? w->Matrix(find("output.weight")) : find("output.weight"));
  }
  w->output_norm_ = w->Floats(find("output_norm.weight"));
  if (const TensorView* f = find("rope_freqs.weight")) {
    if (f->NumElements() != c.rope_dim / 2) {
      return InvalidArgumentError(fmt::format("{}: tensor 'rope_freqs.weight' has {} values; rope_dim {} needs {}",
                                              file->path(), f->NumElements(), c.rope_dim, c.rope_dim / 2));
    }
    w->rope_freq_factors_ = w->Floats(f);
  } else if (c.rope_scaling.type == RopeScalingType::kLlama3) {
    w->float_buffers_.push_back(Llama3RopeFreqFactors(c.rope_scaling, static_cast<int>(c.rope_dim), c.rope_theta));
    w->rope_freq_factors_ = w->float_buffers_.back().data();
  } else if (c.rope_scaling.type == RopeScalingType::kLongRope) {
    const bool use_long = LongRopeUsesLongFactors(c.rope_scaling, c.context_length);
    const char* tensor = use_long ? "rope_factors_long.weight" : "rope_factors_short.weight";
    const std::vector<float>& given =
        use_long ? c.rope_scaling.longrope_long_factors : c.rope_scaling.longrope_short_factors;
    const TensorView* f = find(tensor);
    const int64_t n = f != nullptr ? f->NumElements() : static_cast<int64_t>(given.size());
    if (n != c.rope_dim / 2) {
      return InvalidArgumentError(fmt::format("{}: LongRoPE {} factors: {} values; rope_dim {} needs {}", file->path(),
                                              use_long ? "long" : "short", n, c.rope_dim, c.rope_dim / 2));
    }
    if (f != nullptr) {
      w->rope_freq_factors_ = w->Floats(f);
    } else {
      w->float_buffers_.push_back(given);
      w->rope_freq_factors_ = w->float_buffers_.back().data();
    }
  }
  w->layers_.resize(static_cast<size_t>(range.count));
  for (int64_t i = range.first; i < range.first + range.count; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    LlamaLayerWeights& l = w->layers_[static_cast<size_t>(i - range.first)];
    l.attn_norm = w->Floats(find(p + "attn_norm.weight"));
    l.wq = w->RowPart(find(p + "attn_q.weight"));
    l.wq_a = w->Matrix(find(p + "attn_q_a.weight"));
    l.q_a_norm = w->Floats(find(p + "attn_q_a_norm.weight"));
    l.wq_b = w->Matrix(find(p + "attn_q_b.weight"));
    l.wkv_a = w->Matrix(find(p + "attn_kv_a_mqa.weight"));
    l.kv_a_norm = w->Floats(find(p + "attn_kv_a_norm.weight"));
    l.wkv_b = find(p + "attn_kv_b.weight");
    l.wk = w->RowPart(find(p + "attn_k.weight"));
    l.wv = w->RowPart(find(p + "attn_v.weight"));
    l.wo = w->ColumnPart(find(p + "attn_output.weight"));
    l.bq = w->BiasPart(find(p + "attn_q.bias"));
    l.bk = w->BiasPart(find(p + "attn_k.bias"));
    l.bv = w->BiasPart(find(p + "attn_v.bias"));
    // Added once, after the all-reduce's rank order puts rank 0's part first.
    l.bo = options.tp_rank == 0 ? w->Floats(find(p + "attn_output.bias")) : nullptr;
    l.q_norm = w->Floats(find(p + "attn_q_norm.weight"));
    l.k_norm = w->Floats(find(p + "attn_k_norm.weight"));
    l.post_attn_norm = w->Floats(find(p + "post_attention_norm.weight"));
    l.ffn_norm = w->Floats(find(p + "ffn_norm.weight"));
    l.post_ffn_norm = w->Floats(find(p + "post_ffw_norm.weight"));
    // Fused by rows (Phi-3): q | k | v, and gate | up.
    const int64_t q_rows = c.n_head * c.head_dim, kv_rows = c.n_head_kv * c.head_dim;
    const TensorView* qkv = find(p + "attn_qkv.weight");
    const TensorView* up = find(p + "ffn_up.weight");
    for (const TensorView* t : {qkv, up}) {
      if (t != nullptr && !t->RowsAreBlockAligned()) {
        return UnimplementedError(fmt::format("{}: fused tensor '{}' has rows that are not whole {} blocks",
                                              file->path(), t->name, DTypeName(t->type)));
      }
    }
    if (qkv != nullptr && l.wq == nullptr) {
      l.wq = w->RowPart(w->RowSlice(qkv, 0, q_rows));
      l.wk = w->RowPart(w->RowSlice(qkv, q_rows, kv_rows));
      l.wv = w->RowPart(w->RowSlice(qkv, q_rows + kv_rows, kv_rows));
    }
    const TensorView* gate = find(p + "ffn_gate.weight");
    if (gate == nullptr && up != nullptr && !c.LayerIsMoe(i)) {
      l.w_gate = w->RowPart(w->RowSlice(up, 0, c.n_ff));
      l.w_up = w->RowPart(w->RowSlice(up, c.n_ff, c.n_ff));
    } else {
      l.w_gate = w->RowPart(gate);
      l.w_up = w->RowPart(up);
    }
    l.w_down = w->ColumnPart(find(p + "ffn_down.weight"));
    if (c.LayerIsMoe(i)) {
      l.router = w->Matrix(find(p + "ffn_gate_inp.weight"));
      l.expert_selection_bias = w->Floats(find(p + "exp_probs_b.bias"));
      l.experts.resize(static_cast<size_t>(c.n_expert));
      for (int64_t e = 0; e < c.n_expert; ++e) {
        ExpertWeights& x = l.experts[static_cast<size_t>(e)];
        x.w_gate = w->ExpertMatrix(p, "ffn_gate", e);
        x.w_up = w->ExpertMatrix(p, "ffn_up", e);
        x.w_down = w->ExpertMatrix(p, "ffn_down", e);
        for (const TensorView* t : {x.w_gate, x.w_up, x.w_down}) {
          if (w->experts_on_disk_ && !t->RowsAreBlockAligned()) {
            return InvalidArgumentError(fmt::format("{}: expert tensor '{}' has rows that are not whole {} blocks; "
                                                    "experts on disk (--expert-cache-mem) need whole blocks",
                                                    file->path(), t->name, DTypeName(t->type)));
          }
        }
      }
      l.shared_expert.w_gate = w->Matrix(find(p + "ffn_gate_shexp.weight"));
      l.shared_expert.w_up = w->Matrix(find(p + "ffn_up_shexp.weight"));
      l.shared_expert.w_down = w->Matrix(find(p + "ffn_down_shexp.weight"));
      if (c.shared_expert_gated) l.shared_expert_gate = w->Floats(find(p + "ffn_gate_inp_shexp.weight"));
    }
  }
  return std::shared_ptr<const LlamaWeights>(std::move(w));
}

std::shared_ptr<const LlamaWeights> LlamaWeights::LayerSubset(std::shared_ptr<const LlamaWeights> full,
                                                              std::span<const int64_t> keep) {
  auto w = std::shared_ptr<LlamaWeights>(new LlamaWeights());
  w->file_ = full->file_;
  w->token_embd_ = full->token_embd_;
  w->embd_part_first_ = full->embd_part_first_;
  w->embd_is_part_ = full->embd_is_part_;
  w->output_ = full->output_;
  w->output_norm_ = full->output_norm_;
  w->rope_freq_factors_ = full->rope_freq_factors_;
  w->panel_types_ = full->panel_types_;
  w->experts_on_disk_ = full->experts_on_disk_;
  w->tp_size_ = full->tp_size_;
  w->tp_rank_ = full->tp_rank_;
  w->first_layer_ = full->first_layer_;
  for (const int64_t l : keep) w->layers_.push_back(full->layers_.at(static_cast<size_t>(l)));
  w->owner_ = std::move(full);
  return w;
}

}  // namespace weft
