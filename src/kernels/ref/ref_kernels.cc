// Scalar reference kernels: plain loops, the truth the SIMD tables are tested against.
// MatMul dequantises a weight row with DequantizeRow and dots in double with f32
// activations (no activation quantisation).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "kernels/kernel_table.h"

namespace weft::kernels::ref {
namespace {

int MatMulActBlock(DType) { return 0; }

void MatMulRows(const MatMulArgs& a, int64_t n0, int64_t n1) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(a.k));
  for (int64_t n = n0; n < n1; ++n) {
    DequantizeRow(a.type, a.w + static_cast<size_t>(n) * a.w_row_bytes, row.data(), a.k);
    for (int64_t r = 0; r < a.m; ++r) {
      const float* x = a.x + r * a.x_stride;
      double acc = 0.0;
      for (int64_t i = 0; i < a.k; ++i) acc += static_cast<double>(row[i]) * x[i];
      a.y[r * a.y_stride + n] = static_cast<float>(acc);
    }
  }
}

void RmsNormRow(const float* x, const float* w, float eps, int64_t dim, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < dim; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(dim)) + eps);
  for (int64_t i = 0; i < dim; ++i) out[i] = (x[i] * scale) * w[i];
}

void AddRow(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void SiluMulRow(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void SoftmaxRow(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void ScaleRow(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void RopeToken(float* x, int n_heads, int head_dim, int rope_dim, RopeStyle style, const float* c, const float* s) {
  const int half = rope_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const int i0 = style == RopeStyle::kInterleaved ? 2 * i : i;
      const int i1 = style == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
      const float x0 = v[i0], x1 = v[i1];
      v[i0] = x0 * c[i] - x1 * s[i];
      v[i1] = x0 * s[i] + x1 * c[i];
    }
  }
}

void ConvertKvRow(const float* src, void* dst, KvType type, int64_t n) {
  if (type == KvType::kF32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = type == KvType::kF16 ? FloatToFp16(src[i]) : FloatToBf16(src[i]);
}

// Value i of a row at p of a float type.
float KvAt(const uint8_t* p, KvType type, int i) {
  switch (type) {
    case KvType::kF32: { float f; std::memcpy(&f, p + 4 * i, 4); return f; }
    case KvType::kF16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); return Fp16ToFloat(h); }
    default: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); return Bf16ToFloat(h); }
  }
}

// A quantised element: value i of the codes at p whose bytes lie stride apart, its f16
// scale at scale (kv_type.h).
float KvQuantAt(const uint8_t* p, int i, int64_t stride, const uint8_t* scale, KvType type) {
  uint16_t h;
  std::memcpy(&h, scale, 2);
  return KvDequant(type, KvCodeAt(type, p, i, stride), h);
}

// One query (token tok of sequence seq, head `head`) in double: two passes over the KV
// positions it sees (scores, then the softmax-weighted sum of V).
void AttendOne(const AttentionBatch& b, const KvCacheView& c, int seq, int64_t tok, int head, float* out) {
  const int d = c.head_dim;
  const int group = b.n_heads / c.n_kv_heads;
  thread_local std::vector<double> score;
  const int64_t q_len = b.query_start[seq + 1] - b.query_start[seq];
  const int64_t n_kv = b.seq_len[seq] - q_len + (tok - b.query_start[seq]) + 1;
  const float* q = b.q + (tok * b.n_heads + head) * d;
  auto slot_of = [&](int64_t pos) {
    const int32_t blk = b.block_table[static_cast<int64_t>(seq) * b.max_blocks_per_seq + pos / c.block_size];
    return static_cast<int64_t>(blk) * c.block_size + pos % c.block_size;
  };
  // K value i of position t (dimension-major in the cache) and V row of position t.
  const bool k_quant = c.KQuantized(), v_quant = c.VQuantized();
  auto k_at = [&](int64_t t, int i) {
    const int64_t slot = slot_of(t);
    const uint8_t* p = static_cast<const uint8_t*>(c.k) + c.KOffset(slot, head / group);
    if (k_quant) return KvQuantAt(p, i, c.KDimBytes(), p + c.KScaleFromCode(slot) + i / c.QuantGroup() * c.KScaleGroupBytes(), c.k_type);
    return KvAt(p + i * c.KDimBytes(), c.k_type, 0);
  };
  auto v_at = [&](int64_t t, int i) {
    const int64_t slot = slot_of(t);
    const uint8_t* p = static_cast<const uint8_t*>(c.v) + c.VOffset(slot, head / group);
    if (v_quant) return KvQuantAt(p, i, 1, p + c.VScaleFromCode(slot) + 2 * (i / c.QuantGroup()), c.v_type);
    return KvAt(p, c.v_type, i);
  };
  const int64_t lo = b.window > 0 ? std::max<int64_t>(0, n_kv - b.window) : 0;  // sliding window
  // A tree row (ops.h) sees the positions before this step's and, of this step's, its
  // ancestors and itself.
  const uint64_t tree = b.tree_mask != nullptr ? b.tree_mask[tok] : 0;
  const int64_t step_start = b.seq_len[seq] - q_len;
  auto visible = [&](int64_t t) { return tree == 0 || t < step_start || ((tree >> (t - step_start)) & 1) != 0; };
  score.assign(static_cast<size_t>(n_kv), 0.0);
  double mx = -INFINITY;
  for (int64_t t = lo; t < n_kv; ++t) {
    if (!visible(t)) continue;
    double dot = 0.0;
    for (int i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * k_at(t, i);
    score[t] = dot * b.scale;
    if (b.softcap > 0.0f) score[t] = b.softcap * std::tanh(score[t] / b.softcap);
    mx = std::fmax(mx, score[t]);
  }
  double sum = 0.0;
  for (int64_t t = lo; t < n_kv; ++t) sum += (score[t] = visible(t) ? std::exp(score[t] - mx) : 0.0);
  float* o = out + (tok * b.n_heads + head) * d;
  for (int i = 0; i < d; ++i) {
    double acc = 0.0;
    for (int64_t t = lo; t < n_kv; ++t) acc += score[t] * v_at(t, i);
    o[i] = static_cast<float>(acc / sum);
  }
}

// Every query of every tile on its own (the reference has no use for the sharing).
void AttentionTiles(const AttentionBatch& b, const KvCacheView& c, float* out, const AttentionTile* tiles,
                    int64_t n_tiles) {
  for (int64_t ti = 0; ti < n_tiles; ++ti) {
    const AttentionTile& tile = tiles[ti];
    for (int32_t tok = tile.tok_begin; tok < tile.tok_end; ++tok) {
      for (int head = tile.head_begin; head < tile.head_end; ++head) AttendOne(b, c, tile.seq, tok, head, out);
    }
  }
}

// Scores in double, rounded once (the scalar reference of KernelTable::attention_scores).
void AttentionScores(const float* q, const float* kt, int64_t stride, int64_t n, int d, float scale, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    double dot = 0.0;
    for (int i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * kt[i * stride + t];
    out[t] = static_cast<float>(dot * scale);
  }
}

KernelTable MakeTable() {
  KernelTable t;
  t.isa = Isa::kScalar;
  t.matmul_act_block = MatMulActBlock;
  t.quantize_act = QuantizeActRow;
  t.matmul = MatMulRows;
  t.dequantize_row = DequantizeRow;
  t.rms_norm = RmsNormRow;
  t.add = AddRow;
  t.silu_mul = SiluMulRow;
  t.softmax = SoftmaxRow;
  t.scale = ScaleRow;
  t.rope = RopeToken;
  t.convert_kv_row = ConvertKvRow;
  t.attention = AttentionTiles;
  t.attention_scores = AttentionScores;
  return t;
}

}  // namespace

void QuantizeActRow(const float* x, int64_t k, int block, QuantActRow out) {
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    float amax = 0.0f;
    for (int i = 0; i < block; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int i = 0; i < block; i += 16) {
      int s16 = 0;
      for (int j = i; j < i + 16; ++j) {
        const int q = static_cast<int>(std::nearbyint(xb[j] * id));  // ties to even
        out.q[b * block + j] = static_cast<int8_t>(q);
        s16 += q;
      }
      out.bsum[(b * block + i) / 16] = static_cast<int16_t>(s16);
      sum += s16;
    }
    out.d[b] = d;
    out.ds[b] = d * static_cast<float>(sum);
  }
}

const KernelTable& Table() {
  static const KernelTable table = MakeTable();
  return table;
}

}  // namespace weft::kernels::ref
