// The llama-family forward pass over a flat ragged batch (pre-norm decoder):
//   x = embed(tokens)
//   per layer:  h = rmsnorm(x) ; q,k,v = h Wq,Wk,Wv (+bias: qwen2) ; q,k = rmsnorm per
//               head (qwen3) ; rope(q, k) ; cache <- k, v ; a = attention(q, cache)
//               (over the layer's sliding window when it has one: Mistral)
//               x += a Wo ; h = rmsnorm(x) ; x += (silu(h Wgate) * h Wup) Wdown
//   logits = rmsnorm(x[rows]) Wout
// Shapes: T tokens of the batch, R = logit rows; see DenseDecoderActivations.
#include "model/dense_decoder.h"

#include <algorithm>
#include <cmath>

namespace weft {
namespace {

// Per-step scratch; shapes in tokens T (<= max tokens) and logit rows R.
struct DenseDecoderActivations : ModelActivations {
  std::vector<float> x;       // [T, n_embd] the residual stream
  std::vector<float> xn;      // [T, n_embd] normalised input of a sub-layer
  std::vector<float> q;       // [T, n_head * head_dim]
  std::vector<float> k;       // [T, n_head_kv * head_dim]
  std::vector<float> v;       // [T, n_head_kv * head_dim]
  std::vector<float> attn;    // [T, n_head * head_dim]
  std::vector<float> proj;    // [T, n_embd] sub-layer output before the residual add
  std::vector<float> gate;    // [T, n_ff]
  std::vector<float> up;      // [T, n_ff]
  std::vector<float> last;    // [R, n_embd] rows that need logits
};

// y[t, :] += bias for each of the t rows.
void AddBias(const kernels::KernelContext& ctx, float* y, const float* bias, int64_t rows, int64_t dim) {
  if (bias == nullptr) return;
  for (int64_t r = 0; r < rows; ++r) kernels::AddInPlace(ctx, y + r * dim, bias, dim);
}

kernels::RopeParams RopeFor(const ModelConfig& c, const float* freq_factors) {
  kernels::RopeParams p;
  p.rope_dim = static_cast<int>(c.rope_dim);
  p.theta = c.rope_theta;
  p.style = c.rope_style == RopeStyle::kNeox ? kernels::RopeStyle::kNeox : kernels::RopeStyle::kInterleaved;
  switch (c.rope_scaling.type) {
    case RopeScalingType::kNone: p.scaling = kernels::RopeScaling::kNone; break;
    case RopeScalingType::kLinear: p.scaling = kernels::RopeScaling::kLinear; break;
    case RopeScalingType::kYarn: p.scaling = kernels::RopeScaling::kYarn; break;
    // Llama 3.1: per-pair divisors only (LlamaWeights::rope_freq_factors).
    case RopeScalingType::kLlama3: p.scaling = kernels::RopeScaling::kNone; break;
  }
  p.freq_factors = freq_factors;
  p.factor = c.rope_scaling.factor;
  p.original_context = static_cast<int>(c.rope_scaling.original_context);
  p.beta_fast = c.rope_scaling.yarn_beta_fast;
  p.beta_slow = c.rope_scaling.yarn_beta_slow;
  p.attn_factor = c.rope_scaling.yarn_attn_factor;
  return p;
}

void Forward(const kernels::KernelContext& ctx, const LlamaWeights& w, const ForwardBatch& b,
             const KvCacheStorage& cache, DenseDecoderActivations& a, float* logits) {
  const ModelConfig& c = w.config();
  const int64_t T = b.n_tokens();
  const int64_t d = c.n_embd;
  const int64_t q_dim = c.n_head * c.head_dim;
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  const int n_head = static_cast<int>(c.n_head), n_kv = static_cast<int>(c.n_head_kv);
  const int hd = static_cast<int>(c.head_dim);
  const kernels::RopeParams rope = RopeFor(c, w.rope_freq_factors());

  kernels::AttentionBatch att;
  att.q = a.q.data();
  att.n_tokens = T;
  att.n_heads = n_head;
  att.n_seqs = b.n_seqs();
  att.query_start = b.query_start.data();
  att.seq_len = b.seq_len.data();
  att.block_table = b.block_table.data();
  att.max_blocks_per_seq = b.max_blocks_per_seq;
  att.scale = 1.0f / std::sqrt(static_cast<float>(hd));

  kernels::EmbeddingLookup(ctx, w.token_embd(), b.tokens.data(), T, a.x.data());
  for (size_t l = 0; l < w.layers().size(); ++l) {
    const LlamaLayerWeights& L = w.layers()[l];
    att.window = static_cast<int32_t>(c.LayerWindow(static_cast<int64_t>(l)));
    const kernels::KvCacheView kv = cache.Layer(static_cast<int64_t>(l));
    // Attention block.
    kernels::RmsNorm(ctx, a.x.data(), L.attn_norm, c.norm_eps, T, d, a.xn.data());
    const kernels::MatMulOutput qkv[] = {{L.wq, a.q.data()}, {L.wk, a.k.data()}, {L.wv, a.v.data()}};
    kernels::MatMulMany(ctx, a.xn.data(), T, qkv);
    AddBias(ctx, a.q.data(), L.bq, T, q_dim);
    AddBias(ctx, a.k.data(), L.bk, T, kv_dim);
    AddBias(ctx, a.v.data(), L.bv, T, kv_dim);
    if (L.q_norm != nullptr) kernels::RmsNorm(ctx, a.q.data(), L.q_norm, c.norm_eps, T * n_head, hd, a.q.data());
    if (L.k_norm != nullptr) kernels::RmsNorm(ctx, a.k.data(), L.k_norm, c.norm_eps, T * n_kv, hd, a.k.data());
    kernels::Rope(ctx, a.q.data(), T, n_head, hd, b.positions.data(), rope);
    kernels::Rope(ctx, a.k.data(), T, n_kv, hd, b.positions.data(), rope);
    kernels::WriteKv(ctx, a.k.data(), a.v.data(), T, b.slot_mapping.data(), kv);
    kernels::Attention(ctx, att, kv, a.attn.data());
    kernels::MatMul(ctx, a.attn.data(), T, *L.wo, a.proj.data());
    AddBias(ctx, a.proj.data(), L.bo, T, d);
    kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
    // Feed-forward block.
    kernels::RmsNorm(ctx, a.x.data(), L.ffn_norm, c.norm_eps, T, d, a.xn.data());
    const kernels::MatMulOutput gate_up[] = {{L.w_gate, a.gate.data()}, {L.w_up, a.up.data()}};
    kernels::MatMulMany(ctx, a.xn.data(), T, gate_up);
    kernels::SiluMul(ctx, a.gate.data(), a.up.data(), a.gate.data(), T * c.n_ff);
    kernels::MatMul(ctx, a.gate.data(), T, *L.w_down, a.proj.data());
    kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
  }
  // Only the rows that need logits go through the final norm and the output matrix.
  const auto R = static_cast<int64_t>(b.logit_rows.size());
  if (R == 0) return;
  for (int64_t r = 0; r < R; ++r) {
    const float* src = a.x.data() + static_cast<int64_t>(b.logit_rows[static_cast<size_t>(r)]) * d;
    std::copy(src, src + d, a.last.data() + r * d);
  }
  kernels::RmsNorm(ctx, a.last.data(), w.output_norm(), c.norm_eps, R, d, a.last.data());
  kernels::MatMul(ctx, a.last.data(), R, w.output(), logits);
}

class DenseDecoderModel final : public Model {
 public:
  DenseDecoderModel(std::string_view arch, std::shared_ptr<const LlamaWeights> weights)
      : Model(weights->file_ptr()), arch_(arch), w_(std::move(weights)) {}

  std::string_view architecture() const override { return arch_; }

  std::unique_ptr<ModelActivations> NewActivations(int64_t max_tokens, int64_t max_logit_rows) const override {
    const ModelConfig& c = config();
    const auto t = static_cast<size_t>(max_tokens);
    const auto q_dim = static_cast<size_t>(c.n_head * c.head_dim);
    const auto kv_dim = static_cast<size_t>(c.n_head_kv * c.head_dim);
    auto a = std::make_unique<DenseDecoderActivations>();
    a->x.resize(t * static_cast<size_t>(c.n_embd));
    a->xn.resize(a->x.size());
    a->proj.resize(a->x.size());
    a->q.resize(t * q_dim);
    a->attn.resize(t * q_dim);
    a->k.resize(t * kv_dim);
    a->v.resize(t * kv_dim);
    a->gate.resize(t * static_cast<size_t>(c.n_ff));
    a->up.resize(a->gate.size());
    a->last.resize(static_cast<size_t>(max_logit_rows * c.n_embd));
    return a;
  }

  void Forward(const kernels::KernelContext& ctx, const ForwardBatch& batch, const KvCacheStorage& cache,
               ModelActivations& act, float* logits) const override {
    weft::Forward(ctx, *w_, batch, cache, static_cast<DenseDecoderActivations&>(act), logits);
  }

  std::vector<const TensorView*> LayerMatrices() const override {
    std::vector<const TensorView*> m;
    for (const LlamaLayerWeights& l : w_->layers()) {
      for (const TensorView* t : {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down}) m.push_back(t);
    }
    return m;
  }
  const TensorView& OutputMatrix() const override { return w_->output(); }
  int num_repacked() const override { return w_->num_repacked(); }
  int num_panel_packed() const override { return w_->num_panel_packed(); }

 private:
  std::string arch_;
  std::shared_ptr<const LlamaWeights> w_;
};

}  // namespace

StatusOr<std::shared_ptr<const Model>> BindDenseDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        const BindOptions& options) {
  WEFT_ASSIGN_OR_RETURN(auto weights, LlamaWeights::Bind(std::move(file), options));
  return std::shared_ptr<const Model>(std::make_shared<DenseDecoderModel>(arch, std::move(weights)));
}

}  // namespace weft
