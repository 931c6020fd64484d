#include "model/latent_attention.h"

#include <fmt/format.h>

#include <cstring>

#include "base/half.h"
#include "kernels/kv_copy.h"

namespace weft {

StatusOr<std::unique_ptr<LatentAttentionWeights>> MakeLatentAttentionWeights(const ModelConfig& c,
                                                                            const TensorView& wkv_b) {
  const int64_t H = c.n_head, nope = c.qk_nope_dim, vd = c.v_head_dim, kvr = c.kv_lora_rank;
  if (wkv_b.ne[0] != kvr || wkv_b.ne[1] != H * (nope + vd)) {
    return DataLossError(fmt::format("tensor '{}' has shape {}, expected [{}, {}]", wkv_b.name, wkv_b.ShapeString(),
                                     kvr, H * (nope + vd)));
  }
  std::vector<float> w(static_cast<size_t>(wkv_b.NumElements()));  // row r (output) of kvr inputs
  DequantizeTensor(wkv_b, w.data());
  const bool f32 = wkv_b.type == DType::kF32;
  const size_t elem = f32 ? 4 : 2;
  auto lw = std::make_unique<LatentAttentionWeights>();
  const int64_t per_head = nope * kvr + vd * kvr;
  lw->storage.resize(static_cast<size_t>(H * per_head) * elem);
  auto put = [&](int64_t index, float v) {
    if (f32) {
      std::memcpy(lw->storage.data() + static_cast<size_t>(index) * 4, &v, 4);
    } else {
      const uint16_t h = FloatToFp16(v);
      std::memcpy(lw->storage.data() + static_cast<size_t>(index) * 2, &h, 2);
    }
  };
  auto view = [&](const std::string& name, int64_t offset, int64_t in, int64_t out) {
    TensorView t;
    t.name = name;
    t.type = f32 ? DType::kF32 : DType::kF16;
    t.n_dims = 2;
    t.ne = {in, out, 1, 1};
    t.data = lw->storage.data() + static_cast<size_t>(offset) * elem;
    t.nbytes = static_cast<size_t>(in * out) * elem;
    return t;
  };
  for (int64_t h = 0; h < H; ++h) {
    const int64_t base = h * per_head;
    const float* k_rows = w.data() + h * (nope + vd) * kvr;  // nope rows of kvr: W_UK_h
    const float* v_rows = k_rows + nope * kvr;                // vd rows of kvr: W_UV_h
    // W_UK_h^T: kvr rows of nope (row j = column j of W_UK_h).
    for (int64_t j = 0; j < kvr; ++j) {
      for (int64_t i = 0; i < nope; ++i) put(base + j * nope + i, k_rows[i * kvr + j]);
    }
    for (int64_t i = 0; i < vd * kvr; ++i) put(base + nope * kvr + i, v_rows[i]);
    lw->uk_t.push_back(view(fmt::format("{}[head {}: k^T]", wkv_b.name, h), base, nope, kvr));
    lw->uv.push_back(view(fmt::format("{}[head {}: v]", wkv_b.name, h), base + nope * kvr, kvr, vd));
  }
  return lw;
}

void LatentAttentionSubLayer(const kernels::KernelContext& ctx, const LlamaLayerWeights& L,
                             const LatentAttentionWeights& lw, const ModelConfig& c, const ForwardBatch& b,
                             const kernels::KvCacheView& kv, const kernels::AttentionBatch& att,
                             const kernels::RopeParams& rope, DecoderActivations& a) {
  const int64_t T = b.n_tokens();
  const int H = static_cast<int>(c.n_head);
  const int64_t nope = c.qk_nope_dim, R = c.rope_dim, kvr = c.kv_lora_rank, vd = c.v_head_dim;
  const int64_t qk = nope + R, D = c.head_dim;  // D = R + kvr (the bound config's)
  float* q = a.mla_q.data();    // [T, H, qk]
  float* kva = a.mla_kv.data();  // [T, kvr + R]
  if (L.wq_a != nullptr) {
    const kernels::MatMulOutput outs[] = {{L.wq_a, a.mla_q_a.data()}, {L.wkv_a, kva}};
    kernels::MatMulMany(ctx, a.xn.data(), T, outs);
    kernels::RmsNorm(ctx, a.mla_q_a.data(), L.q_a_norm, c.norm_eps, T, c.q_lora_rank, a.mla_q_a.data());
    kernels::MatMul(ctx, a.mla_q_a.data(), T, *L.wq_b, q);
  } else {
    const kernels::MatMulOutput outs[] = {{L.wq, q}, {L.wkv_a, kva}};
    kernels::MatMulMany(ctx, a.xn.data(), T, outs);
  }
  // The latent row of each token: [rope key | normed latent].
  float* k = a.k.data();  // [T, D]
  for (int64_t t = 0; t < T; ++t) {
    const float* src = kva + t * (kvr + R);
    std::memcpy(k + t * D, src + kvr, static_cast<size_t>(R) * sizeof(float));
    kernels::RmsNorm(ctx, src, L.kv_a_norm, c.norm_eps, 1, kvr, k + t * D + R);
  }
  // Absorbed queries: [q_pe | q_nope W_UK_h^T] per head.
  float* ql = a.q.data();  // [T, H, D]
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < H; ++h) {
      std::memcpy(ql + (t * H + h) * D, q + (t * H + h) * qk + nope, static_cast<size_t>(R) * sizeof(float));
    }
  }
  for (int h = 0; h < H; ++h) {
    kernels::MatMul(ctx, q + h * qk, T, lw.uk_t[static_cast<size_t>(h)], ql + h * D + R, H * qk, H * D);
  }
  kernels::Rope(ctx, ql, T, H, static_cast<int>(D), b.positions.data(), rope);
  kernels::Rope(ctx, k, T, 1, static_cast<int>(D), b.positions.data(), rope);
  kernels::WriteKv(ctx, k, k, T, b.slot_mapping.data(), kv);
  // Token trees: each node's contiguous view of its ancestors (sched/scheduler.h).
  if (!b.kv_copy_src.empty()) {
    kernels::CopyKvSlots(kv, b.kv_copy_src.data(), b.kv_copy_dst.data(), static_cast<int64_t>(b.kv_copy_src.size()));
  }
  kernels::Attention(ctx, att, kv, a.attn.data());  // [T, H, D]
  float* ov = a.mla_v.data();  // [T, H, vd]
  for (int h = 0; h < H; ++h) {
    kernels::MatMul(ctx, a.attn.data() + h * D + R, T, lw.uv[static_cast<size_t>(h)], ov + h * vd, H * D, H * vd);
  }
  kernels::MatMul(ctx, ov, T, *L.wo, a.proj.data());
}

}  // namespace weft
