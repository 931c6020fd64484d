// The llama-family forward pass over a flat ragged batch (pre-norm decoder):
//   x = embed(tokens)
//   per layer:  h = rmsnorm(x) ; q,k,v = h Wq,Wk,Wv (+bias: qwen2) ; q,k = rmsnorm per
//               head (qwen3) ; rope(q, k) ; cache <- k, v ; a = attention(q, cache)
//               (over the layer's sliding window when it has one: Mistral)
//               x += a Wo ; h = rmsnorm(x) ; x += (silu(h Wgate) * h Wup) Wdown
//               (or, in a mixture of experts: x += the experts' weighted sum, model/moe_block.h)
//   logits = rmsnorm(x[rows]) Wout
// Shapes: T tokens of the batch, R = logit rows; see DecoderActivations.
#include "model/dense_decoder.h"

#include <fmt/format.h>

#include <vector>

#include "base/check.h"
#include "model/decoder_model.h"
#include "model/layer_blocks.h"
#include "model/moe_block.h"
#include "model/tp_decoder.h"

namespace weft {

void DenseDecoderForward(const kernels::KernelContext& ctx, const LlamaWeights& w, const ModelConfig& c,
                         const ForwardBatch& b, const KvCacheStorage& cache, DecoderActivations& a, float* logits,
                         dist::Communicator* tp) {
  DenseDecoderStageForward(ctx, w, c, b, cache, a, logits, tp, /*embed=*/true, /*output=*/true);
}

void DenseDecoderStageForward(const kernels::KernelContext& ctx, const LlamaWeights& w, const ModelConfig& c,
                              const ForwardBatch& b, const KvCacheStorage& cache, DecoderActivations& a,
                              float* logits, dist::Communicator* tp, bool embed, bool output) {
  const int64_t T = b.n_tokens();
  const int64_t d = c.n_embd;
  const kernels::RopeParams rope = RopeParamsFor(c, c.rope_theta, w.rope_freq_factors());
  kernels::AttentionBatch att = AttentionBatchFor(c, b, a.q.data());
  if (embed && w.embedding_is_vocab_part()) {
    // --tp: this rank's vocabulary rows, zeros for the others'; the all-reduce completes
    // every row exactly (one rank adds the row, the others zeros).
    WEFT_CHECK(tp != nullptr, "a vocabulary-parallel embedding needs its tensor-parallel group");
    kernels::EmbeddingLookupPart(ctx, w.token_embd(), w.embedding_first_row(), c.n_vocab, b.tokens.data(), T,
                                 a.x.data());
    tp->AllReduceSum(a.x.data(), T * d);
  } else if (embed) {
    kernels::EmbeddingLookup(ctx, w.token_embd(), b.tokens.data(), T, a.x.data());
  }
  for (size_t l = 0; l < w.layers().size(); ++l) {
    const LlamaLayerWeights& L = w.layers()[l];
    // The model's layer index (a pipeline stage holds layers from first_layer() on).
    att.window = static_cast<int32_t>(c.LayerWindow(w.first_layer() + static_cast<int64_t>(l)));
    kernels::RmsNorm(ctx, a.x.data(), L.attn_norm, c.norm_eps, T, d, a.xn.data());
    AttentionSubLayer(ctx, L, c, b, cache.Layer(static_cast<int64_t>(l)), att, rope, a);
    if (tp != nullptr) tp->AllReduceSum(a.proj.data(), T * d);  // this rank's heads' share of Wo
    kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
    kernels::RmsNorm(ctx, a.x.data(), L.ffn_norm, c.norm_eps, T, d, a.xn.data());
    FeedForward(ctx, L, c, static_cast<int64_t>(l), T, a);  // SwiGLU, or the layer's experts (model/moe_block.h)
    if (tp != nullptr) tp->AllReduceSum(a.proj.data(), T * d);  // this rank's FFN columns' share of Wdown
    kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
  }
  // Only the rows that need logits go through the final norm and the output matrix.
  if (output) OutputLogits(ctx, w, c, b, a, logits);
}

namespace {

class DenseDecoderModel final : public DecoderModel {
 public:
  using DecoderModel::DecoderModel;
  void Forward(const kernels::KernelContext& ctx, const ForwardBatch& batch, const KvCacheStorage& cache,
               ModelActivations& act, float* logits) const override {
    DenseDecoderForward(ctx, weights(), config(), batch, cache, static_cast<DecoderActivations&>(act), logits, nullptr);
  }
  StatusOr<std::shared_ptr<const Model>> WithoutLayers(std::span<const int64_t> skip) const override;
  std::optional<kernels::RopeParams> KvRope(int64_t layer) const override {
    (void)layer;  // one RoPE for every layer
    if (config().rope_dim <= 0) return std::nullopt;
    return RopeParamsFor(config(), config().rope_theta, weights().rope_freq_factors());
  }
};

// The layers keep their own per-layer settings only where none depends on the index: a
// window pattern (l + 1) % p or dense lead layers would move with the renumbering, and
// a mixture of experts' routing counters are per layer index; those are refused.
StatusOr<std::shared_ptr<const Model>> DenseDecoderModel::WithoutLayers(std::span<const int64_t> skip) const {
  const ModelConfig& c = config();
  if (c.is_moe() || c.sliding_window_pattern > 1) {
    return UnimplementedError(fmt::format("skipping layers of this {} model is not supported (a mixture of experts "
                                          "or a per-layer window pattern numbers its layers)",
                                          std::string(architecture())));
  }
  std::vector<bool> skipped(static_cast<size_t>(c.n_layer), false);
  for (const int64_t l : skip) {
    if (l < 0 || l >= c.n_layer) {
      return InvalidArgumentError(fmt::format("layer {} to skip is not in [0, {})", l, c.n_layer));
    }
    skipped[static_cast<size_t>(l)] = true;
  }
  std::vector<int64_t> keep;
  for (int64_t l = 0; l < c.n_layer; ++l) {
    if (!skipped[static_cast<size_t>(l)]) keep.push_back(l);
  }
  if (keep.empty()) return InvalidArgumentError(fmt::format("skipping all {} layers leaves no model", c.n_layer));
  ModelConfig sub = c;
  sub.n_layer = static_cast<int64_t>(keep.size());
  return std::shared_ptr<const Model>(std::make_shared<DenseDecoderModel>(
      architecture(), LlamaWeights::LayerSubset(weights_ptr(), keep), std::move(sub)));
}

}  // namespace

StatusOr<std::shared_ptr<const Model>> BindDenseDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        const BindOptions& options) {
  ModelConfig config = file->config();
  return BindDenseDecoder(arch, std::move(file), std::move(config), options);
}

StatusOr<std::shared_ptr<const Model>> BindDenseDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        ModelConfig config, const BindOptions& options) {
  if (options.tp_size > 1 || options.pp_size > 1) {
    WEFT_ASSIGN_OR_RETURN(dist::Communicator * comm, dist::Communicator::World());
    return BindTensorParallelDecoder(arch, std::move(file), std::move(config), options, *comm);
  }
  WEFT_ASSIGN_OR_RETURN(auto weights, LlamaWeights::Bind(std::move(file), options));
  return std::shared_ptr<const Model>(std::make_shared<DenseDecoderModel>(arch, std::move(weights), std::move(config), options));
}

}  // namespace weft
