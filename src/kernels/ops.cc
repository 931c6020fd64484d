// Public ops: argument checks, thread-pool splitting, then the selected table's kernels.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <span>

#include "base/check.h"
#include "base/thread_pool.h"
#include "kernels/attention_mass.h"
#include "kernels/attention_split.h"
#include "kernels/kernel_table.h"
#include "kernels/panel_layout.h"

namespace weft::kernels {
namespace {

const KernelTable& T(const KernelContext& ctx) {
  WEFT_CHECK(ctx.table != nullptr, "KernelContext without a kernel table");
  return *ctx.table;
}

template <typename Fn>
void For(const KernelContext& ctx, int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (ctx.pool == nullptr || n <= grain) {
    fn(int64_t{0}, n);
  } else {
    // A temporary: ParallelFor cannot take an lvalue callable (it forms Fn* from Fn&).
    ctx.pool->ParallelFor(0, n, grain, [&fn](int64_t b, int64_t e) { fn(b, e); });
  }
}

bool MatMulSupports(DType t) {
  switch (t) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ4_0: case DType::kQ4_1:
    case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0: case DType::kQ2_K: case DType::kQ3_K:
    case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K: case DType::kIQ4_NL:
      return true;
    default:
      return false;
  }
}

// Element-wise ops split into chunks of this many floats (a multiple of 64 bytes).
constexpr int64_t kElemGrain = 1 << 14;

// Rows per chunk for a row-wise op whose rows are `row_elems` floats of element-wise
// work: a dispatch to the pool costs a few microseconds, so a chunk is kElemGrain floats
// whatever the width (a verification pass of 5 tokens at width 64 stays on one thread).
int64_t RowGrain(int64_t row_elems) { return std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, row_elems)); }

// One sin/cos pair costs about this many element-wise float steps.
constexpr int64_t kTrigPairCost = 32;

// Every KvType has kernels; a quantised cache's scale groups must tile head_dim.
void CheckKvType(const KvCacheView& c) {
  for (KvType t : {c.k_type, c.v_type}) {
    WEFT_CHECK(!KvTypeQuantized(t) || c.head_dim % c.QuantGroup() == 0, "KV cache type {}: head_dim {} not in groups",
               KvTypeName(t), c.head_dim);
    WEFT_CHECK(c.head_dim % KvCodesPerByte(t) == 0, "KV cache type {}: head_dim {} must be even", KvTypeName(t),
               c.head_dim);
  }
}

}  // namespace

uint8_t* ScratchBytes(const KernelContext& ctx, size_t bytes) {
  if (ctx.scratch != nullptr) return ctx.scratch->Get(bytes);
  thread_local Scratch fallback;
  return fallback.Get(bytes);
}

namespace {

// Checks w and fills the weight and output parts of a MatMulArgs.
MatMulArgs WeightArgs(const TensorView& w, float* y, int64_t y_stride) {
  WEFT_CHECK(MatMulSupports(w.type), "MatMul: weight {} has unsupported type {}", w.name, DTypeName(w.type));
  WEFT_CHECK(w.RowsAreBlockAligned(), "MatMul: {} {} rows are not whole {} blocks (dequantise it at load)", w.name,
             w.ShapeString(), DTypeName(w.type));
  const int64_t k = w.ne[0];
  const int64_t n = w.NumRows();
  const bool panel = w.layout == TensorLayout::kPanel16;
  WEFT_CHECK(!panel || PanelLayoutSupports(w.type), "MatMul: {} is Panel16 but of type {}", w.name, DTypeName(w.type));
  MatMulArgs a;
  a.k = k;
  a.type = w.type;
  a.w = w.data;
  a.w_row_bytes = BytesForElements(w.type, k);
  a.w_group_bytes = panel ? PanelGroupBytes(w.type, k) : 0;
  a.w_scales_offset = panel ? PanelScalesOffset(w.type, k) : 0;
  const size_t need = panel ? a.w_group_bytes * static_cast<size_t>(PanelGroups(n)) : a.w_row_bytes * static_cast<size_t>(n);
  WEFT_CHECK(w.data != nullptr && w.nbytes >= need, "MatMul: {} has too few bytes", w.name);
  a.y = y;
  a.y_stride = y_stride ? y_stride : n;
  WEFT_CHECK(a.y_stride >= n, "MatMul: {} output row stride too small", w.name);
  return a;
}

// Columns [n0, n1) of one weight (n0 a multiple of 16).
void MatMulColumns(const KernelTable& t, const TensorView& w, const MatMulArgs& a, int64_t n0, int64_t n1) {
  if (w.layout != TensorLayout::kPanel16) return t.matmul(a, n0, n1);
  if (PanelTypeSetHas(t.panel_types, w.type)) return t.matmul_panel(a, n0, n1);
  // No Panel16 kernel in this table for this type: the rows back in the file's layout, then `matmul`.
  thread_local std::vector<uint8_t> rows;
  rows.resize(a.w_row_bytes * static_cast<size_t>(n1 - n0));
  UnpackPanelRows(w.type, w.data, a.k, n0, n1, rows.data());
  MatMulArgs sub = a;
  sub.w = rows.data();
  sub.y = a.y + n0;
  t.matmul(sub, 0, n1 - n0);
}

}  // namespace

void MatMulMany(const KernelContext& ctx, const float* x, int64_t m, std::span<const MatMulOutput> outs,
                int64_t x_stride) {
  const KernelTable& t = T(ctx);
  if (outs.empty()) return;
  if (ctx.observer != nullptr) {
    for (const MatMulOutput& o : outs) ctx.observer->OnMatMul(*o.w, x, m, x_stride == 0 ? o.w->ne[0] : x_stride);
  }
  constexpr size_t kMaxOuts = 4;
  WEFT_CHECK(outs.size() <= kMaxOuts, "MatMulMany: at most {} weights", kMaxOuts);
  const int64_t k = outs[0].w->ne[0];
  const int block = t.matmul_act_block(outs[0].w->type);
  MatMulArgs args[kMaxOuts];
  int64_t unit_end[kMaxOuts];  // prefix sums of 16-column units
  int64_t units = 0;
  size_t max_row_bytes = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const TensorView& w = *outs[i].w;
    WEFT_CHECK(w.ne[0] == k, "MatMulMany: {} and {} differ in input length", w.name, outs[0].w->name);
    if (t.matmul_act_block(w.type) != block) {  // activation formats differ: one weight at a time
      for (const MatMulOutput& o : outs) MatMulMany(ctx, x, m, std::span<const MatMulOutput>(&o, 1), x_stride);
      return;
    }
    args[i] = WeightArgs(w, outs[i].y, outs[i].y_stride);
    units += PanelGroups(w.NumRows());
    unit_end[i] = units;
    max_row_bytes = std::max(max_row_bytes, args[i].w_row_bytes);
  }
  if (m <= 0) return;
  x_stride = x_stride ? x_stride : k;
  WEFT_CHECK(x_stride >= k, "MatMul: input row stride too small");
  QuantActLayout xq_layout;
  uint8_t* xq = nullptr;
  if (block != 0) {  // the activations quantised once for every weight
    WEFT_CHECK(k % block == 0, "MatMul: k={} is not a multiple of the activation block {}", k, block);
    xq_layout = QuantActLayout::For(block, k);
    xq = ScratchBytes(ctx, xq_layout.row_bytes * static_cast<size_t>(m));
    For(ctx, m, RowGrain(k), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) t.quantize_act(x + r * x_stride, k, block, xq_layout.Row(xq, r));
    });
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    args[i].x = x;
    args[i].x_stride = x_stride;
    args[i].m = m;
    args[i].xq = xq;
    args[i].xq_layout = xq_layout;
  }
  // Work in units of 16 columns across all the weights, so that one dispatch covers
  // them. At least ~64 KiB of weight-row work per chunk (times m); the pool makes up to
  // 4 chunks per thread, which balances threads that get descheduled.
  const int64_t grain_rows = std::max<int64_t>(4, static_cast<int64_t>((size_t{64} << 10) / max_row_bytes) / m);
  For(ctx, units, std::max<int64_t>(1, grain_rows / kPanelRows), [&](int64_t u0, int64_t u1) {
    int64_t start = 0;
    for (size_t i = 0; i < outs.size(); start = unit_end[i], ++i) {
      const int64_t b = std::max(u0, start), e = std::min(u1, unit_end[i]);
      if (b >= e) continue;
      const int64_t n = outs[i].w->NumRows();
      MatMulColumns(t, *outs[i].w, args[i], (b - start) * kPanelRows, std::min(n, (e - start) * kPanelRows));
    }
  });
}

void MatMul(const KernelContext& ctx, const float* x, int64_t m, const TensorView& w, float* y, int64_t x_stride,
            int64_t y_stride) {
  const MatMulOutput out{&w, y, y_stride};
  MatMulMany(ctx, x, m, std::span<const MatMulOutput>(&out, 1), x_stride);
}

namespace {

// out[i, :] = table row ids[i] - first when that is one of table's rows, else zeros.
void LookupRows(const KernelContext& ctx, const TensorView& table, int64_t first, const int32_t* ids, int64_t n,
                float* out) {
  const KernelTable& t = T(ctx);
  WEFT_CHECK(table.RowsAreBlockAligned(), "EmbeddingLookup: {} rows are not whole blocks", table.name);
  const int64_t k = table.ne[0];
  const int64_t rows = table.NumRows();
  const size_t row_bytes = BytesForElements(table.type, k);
  const bool panel = table.layout == TensorLayout::kPanel16;
  For(ctx, n, RowGrain(k), [&](int64_t b, int64_t e) {
    thread_local std::vector<uint8_t> row;
    for (int64_t i = b; i < e; ++i) {
      const int64_t r = ids[i] - first;
      if (r < 0 || r >= rows) {
        std::fill(out + i * k, out + (i + 1) * k, 0.0f);
        continue;
      }
      const uint8_t* src = table.data + row_bytes * r;
      if (panel) {
        row.resize(row_bytes);
        UnpackPanelRows(table.type, table.data, k, r, r + 1, row.data());
        src = row.data();
      }
      t.dequantize_row(table.type, src, out + i * k, k);
    }
  });
}

}  // namespace

void EmbeddingLookup(const KernelContext& ctx, const TensorView& table, const int32_t* ids, int64_t n, float* out) {
  const int64_t rows = table.NumRows();
  for (int64_t i = 0; i < n; ++i) WEFT_CHECK(ids[i] >= 0 && ids[i] < rows, "EmbeddingLookup: id {} out of range", ids[i]);
  LookupRows(ctx, table, 0, ids, n, out);
}

void EmbeddingLookupPart(const KernelContext& ctx, const TensorView& table, int64_t first, int64_t n_vocab,
                         const int32_t* ids, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    WEFT_CHECK(ids[i] >= 0 && ids[i] < n_vocab, "EmbeddingLookup: id {} out of range", ids[i]);
  }
  LookupRows(ctx, table, first, ids, n, out);
}

void RmsNorm(const KernelContext& ctx, const float* x, const float* weight, float eps, int64_t rows, int64_t dim,
             float* out) {
  const KernelTable& t = T(ctx);
  For(ctx, rows, RowGrain(dim), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) t.rms_norm(x + r * dim, weight, eps, dim, out + r * dim);
  });
}

void Add(const KernelContext& ctx, const float* a, const float* b, float* out, int64_t n) {
  const KernelTable& t = T(ctx);
  For(ctx, n, kElemGrain, [&](int64_t s, int64_t e) { t.add(a + s, b + s, out + s, e - s); });
}

void AddInPlace(const KernelContext& ctx, float* a, const float* b, int64_t n) { Add(ctx, a, b, a, n); }

void SiluMul(const KernelContext& ctx, const float* gate, const float* up, float* out, int64_t n) {
  const KernelTable& t = T(ctx);
  For(ctx, n, kElemGrain, [&](int64_t s, int64_t e) { t.silu_mul(gate + s, up + s, out + s, e - s); });
}

void GeluTanhMul(const KernelContext& ctx, const float* gate, const float* up, float* out, int64_t n) {
  For(ctx, n, kElemGrain, [&](int64_t s, int64_t e) {
    constexpr float kC = 0.7978845608028654f;  // sqrt(2 / pi)
    for (int64_t i = s; i < e; ++i) {
      const float g = gate[i];
      out[i] = 0.5f * g * (1.0f + std::tanh(kC * (g + 0.044715f * g * g * g))) * up[i];
    }
  });
}

void SoftCapInPlace(const KernelContext& ctx, float* x, float cap, int64_t n) {
  For(ctx, n, kElemGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) x[i] = cap * std::tanh(x[i] / cap);
  });
}

void Softmax(const KernelContext& ctx, float* x, int64_t rows, int64_t n) {
  const KernelTable& t = T(ctx);
  For(ctx, rows, RowGrain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) t.softmax(x + r * n, n);
  });
}

void Scale(const KernelContext& ctx, float* x, float s, int64_t n) {
  const KernelTable& t = T(ctx);
  For(ctx, n, kElemGrain, [&](int64_t b, int64_t e) { t.scale(x + b, s, e - b); });
}

void Rope(const KernelContext& ctx, float* x, int64_t n_tokens, int n_heads, int head_dim, const int32_t* positions,
          const RopeParams& p) {
  const KernelTable& t = T(ctx);
  const int rd = p.rope_dim;
  WEFT_CHECK(rd > 0 && rd % 2 == 0 && rd <= head_dim, "Rope: rope_dim {} vs head_dim {}", rd, head_dim);
  if (n_tokens <= 0) return;
  const int half = rd / 2;
  // Frequency parameters, in float like the reference implementation (llama.cpp) so
  // that angles round the same way.
  float freq_scale = 1.0f, ext_factor = 0.0f, mscale = p.attn_factor, low = 0.0f, high = 0.0f;
  if (p.scaling != RopeScaling::kNone) {
    WEFT_CHECK(p.factor > 0.0f, "Rope: scaling factor must be positive");
    freq_scale = 1.0f / p.factor;
  }
  if (p.scaling == RopeScaling::kYarn) {
    WEFT_CHECK(p.original_context > 0, "Rope: YaRN needs original_context");
    ext_factor = 1.0f;
    auto corr_dim = [&](float beta) {
      return static_cast<float>(rd) * std::log(static_cast<float>(p.original_context) / (beta * 2.0f * std::numbers::pi_v<float>)) /
             (2.0f * std::log(p.theta));
    };
    low = std::max(0.0f, std::floor(corr_dim(p.beta_fast)));
    high = std::min(static_cast<float>(rd - 1), std::ceil(corr_dim(p.beta_slow)));
    mscale *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
  }
  const float theta_scale = std::pow(p.theta, -2.0f / static_cast<float>(rd));
  float* cs = reinterpret_cast<float*>(ScratchBytes(ctx, sizeof(float) * 2 * half * static_cast<size_t>(n_tokens)));
  For(ctx, n_tokens, RowGrain(kTrigPairCost * half), [&](int64_t b, int64_t e) {
    for (int64_t tok = b; tok < e; ++tok) {
      float* c = cs + tok * 2 * half;
      float* s = c + half;
      float theta_extrap = static_cast<float>(positions[tok]);
      for (int i = 0; i < half; ++i) {
        const float extrap = p.freq_factors != nullptr ? theta_extrap / p.freq_factors[i] : theta_extrap;
        const float theta_interp = freq_scale * extrap;
        float theta = theta_interp;
        if (ext_factor != 0.0f) {
          const float y = (static_cast<float>(i) - low) / std::max(0.001f, high - low);
          const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, y))) * ext_factor;
          theta = theta_interp * (1.0f - ramp) + extrap * ramp;
        }
        c[i] = std::cos(theta) * mscale;
        s[i] = std::sin(theta) * mscale;
        theta_extrap *= theta_scale;
      }
    }
  });
  For(ctx, n_tokens, RowGrain(static_cast<int64_t>(n_heads) * head_dim), [&](int64_t b, int64_t e) {
    for (int64_t tok = b; tok < e; ++tok) {
      const float* c = cs + tok * 2 * half;
      t.rope(x + tok * n_heads * head_dim, n_heads, head_dim, rd, p.style, c, c + half);
    }
  });
}

void WriteKv(const KernelContext& ctx, const float* k, const float* v, int64_t n_tokens, const int64_t* slot_mapping,
             const KvCacheView& cache) {
  const KernelTable& t = T(ctx);
  CheckKvType(cache);
  const int64_t row = static_cast<int64_t>(cache.n_kv_heads) * cache.head_dim;
  const int64_t slots = cache.num_blocks * cache.block_size;
  for (int64_t i = 0; i < n_tokens; ++i) {
    WEFT_CHECK(slot_mapping[i] < slots, "WriteKv: slot {} out of range ({} slots)", slot_mapping[i], slots);
  }
  WEFT_CHECK(cache.head_dim > 0 && cache.head_dim <= kMaxKvHeadDim, "WriteKv: head_dim {} out of range",
             cache.head_dim);
  const int64_t k_dim_bytes = cache.KDimBytes();
  const int groups = cache.head_dim / cache.QuantGroup();
  For(ctx, n_tokens, RowGrain(2 * row), [&](int64_t b, int64_t e) {
    alignas(64) uint8_t k_row[kMaxKvHeadDim * 4];  // one K row converted, before it is spread
    uint16_t k_scales[kMaxKvHeadDim], v_scales[kMaxKvHeadDim];
    for (int64_t i = b; i < e; ++i) {
      const int64_t slot = slot_mapping[i];
      if (slot < 0) continue;
      for (int h = 0; h < cache.n_kv_heads; ++h) {
        const int64_t src = i * row + static_cast<int64_t>(h) * cache.head_dim;
        // K goes dimension-major: code unit j of the row (a value, or kQ4's pair) lands
        // k_dim_bytes * j apart; a quantised K's scales likewise, KScaleGroupBytes apart.
        uint8_t* kd = static_cast<uint8_t*>(cache.k) + cache.KOffset(slot, h);
        const int64_t keb = cache.KElemBytes();
        if (cache.KQuantized()) {
          QuantizeKvRow(cache.k_type, k + src, cache.head_dim, k_row, k_scales, 1);
          uint8_t* ks = kd + cache.KScaleFromCode(slot);
          for (int g = 0; g < groups; ++g) std::memcpy(ks + g * cache.KScaleGroupBytes(), &k_scales[g], 2);
        } else {
          t.convert_kv_row(k + src, k_row, cache.k_type, cache.head_dim);
        }
        const int64_t units = KvRowCodeBytes(cache.k_type, cache.head_dim) / keb;
        for (int64_t j = 0; j < units; ++j) std::memcpy(kd + j * k_dim_bytes, k_row + j * keb, keb);
        // V rows are stored as they are: codes, then (quantised) the row's scales.
        uint8_t* vd = static_cast<uint8_t*>(cache.v) + cache.VOffset(slot, h);
        if (cache.VQuantized()) {
          QuantizeKvRow(cache.v_type, v + src, cache.head_dim, vd, v_scales, 1);
          std::memcpy(vd + cache.VScaleFromCode(slot), v_scales, 2 * groups);
        } else {
          t.convert_kv_row(v + src, vd, cache.v_type, cache.head_dim);
        }
      }
    }
  });
}

void Attention(const KernelContext& ctx, const AttentionBatch& batch, const KvCacheView& cache, float* out) {
  const KernelTable& t = T(ctx);
  CheckKvType(cache);
  WEFT_CHECK(cache.n_kv_heads > 0 && batch.n_heads % cache.n_kv_heads == 0, "Attention: {} heads vs {} kv heads",
             batch.n_heads, cache.n_kv_heads);
  WEFT_CHECK(cache.head_dim > 0 && cache.head_dim <= kMaxKvHeadDim && cache.block_size > 0 && cache.block_size <= 1024,
             "Attention: head_dim {} / block_size {} out of range", cache.head_dim, cache.block_size);
  WEFT_CHECK(batch.n_seqs >= 0 && batch.query_start[0] == 0 && batch.query_start[batch.n_seqs] == batch.n_tokens,
             "Attention: query_start must run from 0 to n_tokens");
  for (int s = 0; s < batch.n_seqs; ++s) {
    const int32_t q_len = batch.query_start[s + 1] - batch.query_start[s];
    const int32_t len = batch.seq_len[s];
    WEFT_CHECK(q_len >= 0 && len >= q_len, "Attention: sequence {} has {} queries but {} KV tokens", s, q_len, len);
    const int32_t nblk = (len + cache.block_size - 1) / cache.block_size;
    WEFT_CHECK(nblk <= batch.max_blocks_per_seq, "Attention: sequence {} needs {} blocks", s, nblk);
    for (int32_t j = 0; j < nblk; ++j) {
      const int32_t id = batch.block_table[static_cast<int64_t>(s) * batch.max_blocks_per_seq + j];
      WEFT_CHECK(id >= 0 && id < cache.num_blocks, "Attention: block id {} out of range", id);
    }
    if (batch.tree_mask == nullptr) continue;
    for (int32_t i = 0; i < q_len; ++i) {  // tree rows: themselves, nothing after them
      const uint64_t m = batch.tree_mask[batch.query_start[s] + i];
      if (m == 0) continue;
      WEFT_CHECK(q_len <= 64 && batch.window == 0 && ((m >> i) & 1) != 0 && (i == 63 || (m >> i >> 1) == 0),
                 "Attention: sequence {} row {}: tree mask {:#x} (q_len {}) must set bit {} and none above it, "
                 "q_len <= 64, no window", s, i, m, q_len, i);
    }
  }
  WEFT_CHECK(batch.window >= 0 && batch.softcap >= 0.0f, "Attention: window {} / softcap {} must not be negative",
             batch.window, batch.softcap);
  const AttentionPlan plan = PlanAttention(ctx, batch, cache);
  For(ctx, static_cast<int64_t>(plan.tiles.size()), 1,
      [&](int64_t b, int64_t e) { t.attention(batch, cache, out, plan.tiles.data() + b, e - b); });
  // Folding a few queries' chunk states is cheaper than waking the pool for it.
  ReduceSplitAttention(batch, cache, plan.split, out);
  // Heavy hitters (kv/kv_budget.h): a pass of its own, after the output is final.
  if (batch.attn_mass != nullptr) AccumulateAttentionMass(ctx, batch, cache);
}

}  // namespace weft::kernels
