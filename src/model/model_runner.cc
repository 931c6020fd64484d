#include "model/model_runner.h"

#include <fmt/format.h>

#include <bit>

#include "kernels/kernel_table.h"
#include "kernels/kv_shift.h"

namespace weft {

ModelRunner::ModelRunner(std::shared_ptr<const Model> model, const RunnerOptions& options)
    : model_(std::move(model)), options_(options), pool_(options.threads) {}

StatusOr<std::unique_ptr<ModelRunner>> ModelRunner::Create(std::shared_ptr<const Model> model,
                                                           const RunnerOptions& options) {
  if (options.max_tokens_per_step <= 0 || options.max_logit_rows <= 0) {
    return InvalidArgumentError("max tokens per step and max logit rows must be positive");
  }
  const kernels::KernelTable* table = options.kernel_table;
  if (table == nullptr) {
    WEFT_ASSIGN_OR_RETURN(table, kernels::SelectKernelTable());
  }
  auto runner = std::unique_ptr<ModelRunner>(new ModelRunner(std::move(model), options));
  runner->ctx_.table = table;
  runner->ctx_.pool = &runner->pool_;
  runner->ctx_.scratch = &runner->scratch_;
  runner->act_ = runner->model_->NewActivations(options.max_tokens_per_step, options.max_logit_rows);
  return runner;
}

const char* ModelRunner::isa_name() const { return kernels::IsaName(ctx_.table->isa); }

KvCacheShape ModelRunner::KvShape(int64_t num_blocks, int block_size, kernels::KvTypes type) const {
  const KvLayout layout = model_->kv_layout();
  KvCacheShape s;
  s.n_layers = layout.n_layers;
  s.num_blocks = num_blocks;
  s.block_size = block_size;
  s.n_kv_heads = layout.n_kv_heads;
  s.head_dim = layout.head_dim;
  s.type = type;
  return s;
}

Status ModelRunner::Validate(const ForwardBatch& b, const KvCacheStorage& cache) const {
  const int64_t n = b.n_tokens();
  const int n_seqs = b.n_seqs();
  const KvCacheShape& kv = cache.shape();
  if (n <= 0 || n > options_.max_tokens_per_step) {
    return InvalidArgumentError(fmt::format("batch of {} tokens (this runner takes 1 to {})", n,
                                            options_.max_tokens_per_step));
  }
  if (b.positions.size() != b.tokens.size() || b.slot_mapping.size() != b.tokens.size()) {
    return InvalidArgumentError("positions and slot mapping must have one entry per token");
  }
  if (!b.tree_mask.empty() && b.tree_mask.size() != b.tokens.size()) {
    return InvalidArgumentError("tree masks: one per token, or none");
  }
  if (n_seqs <= 0 || b.query_start.size() != static_cast<size_t>(n_seqs) + 1 || b.query_start[0] != 0 ||
      b.query_start[static_cast<size_t>(n_seqs)] != n) {
    return InvalidArgumentError("query_start must run from 0 to the token count with one entry per sequence + 1");
  }
  if (!b.attn_mass.empty()) {
    if (b.attn_mass.size() != static_cast<size_t>(n_seqs)) {
      return InvalidArgumentError("attention mass: one pointer (or null) per sequence, or none");
    }
    if (!b.tree_mask.empty()) {
      return InvalidArgumentError("attention mass (--kv-policy h2o) with token trees (speculative decoding) is not "
                                  "supported");
    }
    WEFT_RETURN_IF_ERROR(SupportsAttentionMass());
  }
  if (b.max_blocks_per_seq <= 0 ||
      b.block_table.size() != static_cast<size_t>(n_seqs) * static_cast<size_t>(b.max_blocks_per_seq)) {
    return InvalidArgumentError("block table must be n_seqs x max_blocks_per_seq");
  }
  const KvLayout layout = model_->kv_layout();
  if (kv.n_layers != layout.n_layers || kv.n_kv_heads != layout.n_kv_heads || kv.head_dim != layout.head_dim) {
    return InvalidArgumentError("KV cache shape does not match the model");
  }
  const int64_t n_slots = kv.num_blocks * kv.block_size;
  for (int s = 0; s < n_seqs; ++s) {
    const int32_t q0 = b.query_start[static_cast<size_t>(s)], q1 = b.query_start[static_cast<size_t>(s) + 1];
    const int32_t len = b.seq_len[static_cast<size_t>(s)];
    if (q1 < q0 || len < q1 - q0 || len > static_cast<int64_t>(b.max_blocks_per_seq) * kv.block_size) {
      return InvalidArgumentError(fmt::format("sequence {}: {} new tokens and KV length {} do not fit its block table",
                                              s, q1 - q0, len));
    }
    if (len > config().context_length && !options_.allow_past_context) {
      return OutOfRangeError(fmt::format("sequence {}: length {} is past the model's context of {} tokens", s, len,
                                         config().context_length));
    }
    const int32_t n_blocks = (len + kv.block_size - 1) / kv.block_size;
    for (int32_t i = 0; i < n_blocks; ++i) {
      const int32_t block = b.block_table[static_cast<size_t>(s) * b.max_blocks_per_seq + i];
      if (block < 0 || block >= kv.num_blocks) {
        return InvalidArgumentError(fmt::format("sequence {}: block {} is not in the cache", s, block));
      }
    }
    for (int32_t t = q0; t < q1; ++t) {
      const uint64_t tree = b.tree_mask.empty() ? 0 : b.tree_mask[static_cast<size_t>(t)];
      if (tree != 0) {  // a token tree's node: itself, ancestors before it (kernels/ops.h)
        const int32_t i = t - q0;
        if (q1 - q0 > 64 || ((tree >> i) & 1) == 0 || (i < 63 && (tree >> i >> 1) != 0) || config().sliding_window > 0) {
          return InvalidArgumentError(fmt::format("token {}: tree mask {:#x} is not a node's (row {} of {})", t, tree, i, q1 - q0));
        }
      }
      // A tree node sits at the step's first position + its depth.
      const int32_t want = len - (q1 - q0) + (tree != 0 ? std::popcount(tree) - 1 : t - q0);
      if (b.positions[static_cast<size_t>(t)] != want) {
        return InvalidArgumentError(
            fmt::format("token {}: position {} but its sequence places it at {}", t, b.positions[static_cast<size_t>(t)], want));
      }
      const int64_t slot = b.slot_mapping[static_cast<size_t>(t)];
      if (slot >= n_slots) return InvalidArgumentError(fmt::format("token {}: KV slot {} is past the cache", t, slot));
    }
  }
  if (b.kv_copy_src.size() != b.kv_copy_dst.size()) return InvalidArgumentError("KV copies: as many sources as destinations");
  for (size_t i = 0; i < b.kv_copy_src.size(); ++i) {
    if (b.kv_copy_src[i] < 0 || b.kv_copy_src[i] >= n_slots || b.kv_copy_dst[i] < 0 || b.kv_copy_dst[i] >= n_slots) {
      return InvalidArgumentError(fmt::format("KV copy {} -> {} is not inside the cache ({} slots)", b.kv_copy_src[i],
                                              b.kv_copy_dst[i], n_slots));
    }
  }
  for (int32_t id : b.tokens) {
    if (id < 0 || id >= config().n_vocab) {
      return InvalidArgumentError(fmt::format("token id {} is outside the vocabulary of {}", id, config().n_vocab));
    }
  }
  if (b.logit_rows.size() > static_cast<size_t>(options_.max_logit_rows)) {
    return InvalidArgumentError(fmt::format("{} logit rows (at most {})", b.logit_rows.size(), options_.max_logit_rows));
  }
  for (int32_t r : b.logit_rows) {
    if (r < 0 || r >= n) return InvalidArgumentError(fmt::format("logit row {} is not a token of the batch", r));
  }
  return Status::Ok();
}

Status ModelRunner::SupportsKvShift() const {
  if (model_->tp_size() > 1 || model_->pp_size() > 1) {
    return FailedPreconditionError(
        "sinks + window (--kv-window) is not available with tensor or pipeline parallelism (--tp, --pp)");
  }
  for (int64_t l = 0; l < config().n_layer; ++l) {
    if (!model_->KvRope(l).has_value()) {
      return FailedPreconditionError(fmt::format(
          "sinks + window (--kv-window) needs cached K that can be re-rotated; the {} architecture's cannot "
          "(latent attention or no RoPE)",
          model_->architecture()));
    }
  }
  return Status::Ok();
}

Status ModelRunner::SupportsAttentionMass() const {
  if (model_->tp_size() > 1 || model_->pp_size() > 1) {
    return FailedPreconditionError(
        "--kv-policy h2o is not available with tensor or pipeline parallelism (--tp, --pp): each rank sees only "
        "its own heads' or layers' attention, so the ranks would evict different blocks; use --kv-policy window "
        "or sinks there");
  }
  return Status::Ok();
}

Status ModelRunner::ShiftKPositions(const KvCacheStorage& cache, std::span<const KvShift> shifts) {
  if (shifts.empty()) return Status::Ok();
  WEFT_RETURN_IF_ERROR(SupportsKvShift());
  for (int64_t l = 0; l < cache.shape().n_layers; ++l) {
    const kernels::RopeParams rope = *model_->KvRope(l);
    const kernels::KvCacheView view = cache.Layer(l);
    kernels::RotateCachedK(ctx_, view, shifts, rope);
  }
  return Status::Ok();
}

Status ModelRunner::Execute(const ForwardBatch& batch, const KvCacheStorage& cache, float* logits) {
  WEFT_RETURN_IF_ERROR(Validate(batch, cache));
  model_->Forward(ctx_, batch, cache, *act_, logits);
  return Status::Ok();
}

}  // namespace weft
