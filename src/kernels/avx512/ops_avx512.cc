// AVX-512 element-wise ops, RoPE, KV conversion, and the kernel table (attention is in
// attention_avx512.cc).
// GCC 12 reports the _mm512_undefined_* inside its own AVX-512 intrinsics as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/vec_math.h"

namespace weft::kernels::avx512 {
namespace {

void RmsNormRow(const float* x, const float* w, float eps, int64_t dim, float* out) {
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  for (int64_t i = 0; i < dim; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(TailMask(dim - i), x + i);
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    s0 = _mm512_fmadd_pd(lo, lo, s0);
    s1 = _mm512_fmadd_pd(hi, hi, s1);
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
  const __m512 scale = _mm512_set1_ps(1.0f / __builtin_sqrtf(static_cast<float>(sum / static_cast<double>(dim)) + eps));
  for (int64_t i = 0; i < dim; i += 16) {
    const __mmask16 m = TailMask(dim - i);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
  }
}

void AddRow(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}

void SiluMulRow(const float* g, const float* u, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), gv));
    const __m512 silu = _mm512_div_ps(gv, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

void ScaleRow(float* x, float s, int64_t n) {
  const __m512 sv = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv));
  }
}

// s[i] = exp(s[i] - mx); returns the sum.
float ExpSubSum(float* s, int64_t n, float mx) {
  const __m512 mv = _mm512_set1_ps(mx);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), mv)));
    _mm512_mask_storeu_ps(s + i, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

void SoftmaxRow(float* x, int64_t n) {
  __m512 mv = _mm512_set1_ps(-__builtin_inff());
  for (int64_t i = 0; i < n; i += 16) {
    mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(_mm512_set1_ps(-__builtin_inff()), TailMask(n - i), x + i));
  }
  const float sum = ExpSubSum(x, n, _mm512_reduce_max_ps(mv));
  ScaleRow(x, 1.0f / sum, n);
}

void RopeToken(float* x, int n_heads, int head_dim, int rope_dim, RopeStyle style, const float* c, const float* s) {
  const int half = rope_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    if (style == RopeStyle::kNeox) {
      for (int i = 0; i < half; i += 16) {
        const __mmask16 m = TailMask(half - i);
        const __m512 x0 = _mm512_maskz_loadu_ps(m, v + i), x1 = _mm512_maskz_loadu_ps(m, v + half + i);
        const __m512 cv = _mm512_maskz_loadu_ps(m, c + i), sv = _mm512_maskz_loadu_ps(m, s + i);
        _mm512_mask_storeu_ps(v + i, m, _mm512_sub_ps(_mm512_mul_ps(x0, cv), _mm512_mul_ps(x1, sv)));
        _mm512_mask_storeu_ps(v + half + i, m, _mm512_add_ps(_mm512_mul_ps(x0, sv), _mm512_mul_ps(x1, cv)));
      }
    } else {
      for (int i = 0; i < half; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * c[i] - x1 * s[i];
        v[2 * i + 1] = x0 * s[i] + x1 * c[i];
      }
    }
  }
}

// Round to nearest even on the integer bits (like FloatToBf16; VCVTNEPS2BF16 would
// flush subnormals), NaN kept quiet.
inline __m256i ToBf16(__m512 v) {
  const __m512i x = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40)));
  return _mm512_cvtepi32_epi16(r);
}

void ConvertKvRow(const float* src, void* dst, KvType type, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, src + i);
    if (type == KvType::kF32) {
      _mm512_mask_storeu_ps(static_cast<float*>(dst) + i, m, v);
    } else {
      const __m256i h = type == KvType::kF16 ? _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
                                            : ToBf16(v);
      _mm256_mask_storeu_epi16(static_cast<uint16_t*>(dst) + i, m, h);
    }
  }
}

// Dequantises a row: F16 / BF16 / F32 vectorised, other types through the reference.
void DequantizeRowImpl(DType type, const void* src, float* dst, int64_t n) {
  if (type == DType::kF16 || type == DType::kBF16 || type == DType::kF32) {
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = TailMask(n - i);
      _mm512_mask_storeu_ps(dst + i, m, LoadKv(src, type, static_cast<int>(i), m));
    }
    return;
  }
  DequantizeRow(type, src, dst, n);
}

// 16 positions at a time, one FMA per dimension (K is dimension-major: a row per dimension).
void AttentionScores(const float* q, const float* kt, int64_t stride, int64_t n, int d, float scale, float* out) {
  const __m512 sv = _mm512_set1_ps(scale);
  for (int64_t t = 0; t < n; t += 16) {
    const __mmask16 m = TailMask(n - t);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < d; ++i) {
      acc = _mm512_fmadd_ps(_mm512_set1_ps(q[i]), _mm512_maskz_loadu_ps(m, kt + i * stride + t), acc);
    }
    _mm512_mask_storeu_ps(out + t, m, _mm512_mul_ps(acc, sv));
  }
}

KernelTable MakeTable() {
  KernelTable t;
  t.isa = Isa::kAvx512;
  t.matmul_act_block = MatMulActBlock;
  t.quantize_act = QuantizeAct;
  t.matmul = MatMulRows;
  t.matmul_panel = MatMulPanel16;
  t.panel_types = kAllPanelTypes;
  t.dequantize_row = DequantizeRowImpl;
  t.rms_norm = RmsNormRow;
  t.add = AddRow;
  t.silu_mul = SiluMulRow;
  t.softmax = SoftmaxRow;
  t.scale = ScaleRow;
  t.rope = RopeToken;
  t.convert_kv_row = ConvertKvRow;
  t.attention = AttentionTiles;
  t.attention_takes_pieces = true;
  t.attention_scores = AttentionScores;
  return t;
}

}  // namespace

const KernelTable& Table() {
  static const KernelTable table = MakeTable();
  return table;
}

}  // namespace weft::kernels::avx512
