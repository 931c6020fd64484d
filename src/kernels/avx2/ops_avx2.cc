// AVX2 element-wise ops, RoPE, KV conversion, paged attention, and the table.
#include <immintrin.h>

#include <cstring>

#include "kernels/attention_online.h"
#include "kernels/avx2/avx2_kernels.h"

namespace weft::kernels::avx2 {
namespace {

// All-ones in the lanes i < left.
inline __m256i TailMask(int64_t left) {
  const int l = left >= 8 ? 8 : static_cast<int>(left);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(l), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256 Load(const float* p, int64_t left) {
  return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, TailMask(left));
}
inline void Store(float* p, int64_t left, __m256 v) {
  if (left >= 8) {
    _mm256_storeu_ps(p, v);
  } else {
    _mm256_maskstore_ps(p, TailMask(left), v);
  }
}

// exp(x) = 2^n * P(r), r = x - n ln2, P the degree-7 Taylor polynomial; x clamped to the
// normal range.
inline __m256 Exp(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)), _mm256_set1_ps(-87.3365478515625f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // n in [-126, 128); 2^n built in two halves so that n = 128 (x near the top) is fine.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

inline float Hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float Hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void RmsNormRow(const float* x, const float* w, float eps, int64_t dim, float* out) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (int64_t i = 0; i < dim; i += 8) {
    const __m256 v = Load(x + i, dim - i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    s0 = _mm256_fmadd_pd(lo, lo, s0);
    s1 = _mm256_fmadd_pd(hi, hi, s1);
  }
  const __m256d s = _mm256_add_pd(s0, s1);
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  h = _mm_add_sd(h, _mm_unpackhi_pd(h, h));
  const double sum = _mm_cvtsd_f64(h);
  const __m256 scale = _mm256_set1_ps(1.0f / __builtin_sqrtf(static_cast<float>(sum / static_cast<double>(dim)) + eps));
  for (int64_t i = 0; i < dim; i += 8) {
    Store(out + i, dim - i, _mm256_mul_ps(_mm256_mul_ps(Load(x + i, dim - i), scale), Load(w + i, dim - i)));
  }
}

void AddRow(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) Store(out + i, n - i, _mm256_add_ps(Load(a + i, n - i), Load(b + i, n - i)));
}

void SiluMulRow(const float* g, const float* u, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 gv = Load(g + i, n - i);
    const __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, Exp(_mm256_sub_ps(_mm256_setzero_ps(), gv))));
    Store(out + i, n - i, _mm256_mul_ps(silu, Load(u + i, n - i)));
  }
}

void ScaleRow(float* x, float s, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  for (int64_t i = 0; i < n; i += 8) Store(x + i, n - i, _mm256_mul_ps(Load(x + i, n - i), sv));
}

float ExpSubSum(float* s, int64_t n, float mx) {
  const __m256 mv = _mm256_set1_ps(mx);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 e = _mm256_and_ps(Exp(_mm256_sub_ps(Load(s + i, n - i), mv)), _mm256_castsi256_ps(TailMask(n - i)));
    Store(s + i, n - i, e);
    sum = _mm256_add_ps(sum, e);
  }
  return Hsum(sum);
}

void SoftmaxRow(float* x, int64_t n) {
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  __m256 mv = ninf;
  for (int64_t i = 0; i < n; i += 8) mv = _mm256_max_ps(mv, _mm256_blendv_ps(ninf, Load(x + i, n - i),
                                                                            _mm256_castsi256_ps(TailMask(n - i))));
  const float sum = ExpSubSum(x, n, Hmax(mv));
  ScaleRow(x, 1.0f / sum, n);
}

void RopeToken(float* x, int n_heads, int head_dim, int rope_dim, RopeStyle style, const float* c, const float* s) {
  const int half = rope_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    if (style == RopeStyle::kNeox) {
      for (int i = 0; i < half; i += 8) {
        const int64_t left = half - i;
        const __m256 x0 = Load(v + i, left), x1 = Load(v + half + i, left);
        const __m256 cv = Load(c + i, left), sv = Load(s + i, left);
        Store(v + i, left, _mm256_sub_ps(_mm256_mul_ps(x0, cv), _mm256_mul_ps(x1, sv)));
        Store(v + half + i, left, _mm256_add_ps(_mm256_mul_ps(x0, sv), _mm256_mul_ps(x1, cv)));
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

inline uint16_t ToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

void ConvertKvRow(const float* src, void* dst, DType type, int64_t n) {
  if (type == DType::kF32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  auto* d = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  if (type == DType::kF16) {
    for (; i + 8 <= n; i += 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; ++i) d[i] = static_cast<uint16_t>(_cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    for (; i < n; ++i) d[i] = ToBf16(src[i]);
  }
}

inline __m256 LoadKv8(const void* p, DType type, int64_t i) {
  if (type == DType::kF32) return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
  if (type == DType::kF16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

inline float LoadKv1(const void* p, DType type, int64_t i) {
  if (type == DType::kF32) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  if (type == DType::kF16) return _cvtsh_ss(h);
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct AttnPrims {
  static float Dot(const float* q, const void* k, DType type, int d) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), LoadKv8(k, type, i), acc);
    float s = Hsum(acc);
    for (; i < d; ++i) s += q[i] * LoadKv1(k, type, i);
    return s;
  }
  static void Axpy(float p, const void* v, DType type, float* acc, int d) {
    const __m256 pv = _mm256_set1_ps(p);
    int i = 0;
    for (; i + 8 <= d; i += 8) {
      _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(pv, LoadKv8(v, type, i), _mm256_loadu_ps(acc + i)));
    }
    for (; i < d; ++i) acc[i] += p * LoadKv1(v, type, i);
  }
  static void ScaleRow(float* acc, float s, int d) { avx2::ScaleRow(acc, s, d); }
  static float ExpSub(float* s, int n, float m) { return ExpSubSum(s, n, m); }
};

void AttentionPairs(const AttentionBatch& b, const KvCacheView& c, float* out, int64_t p0, int64_t p1) {
  OnlineAttention<AttnPrims>(b, c, out, p0, p1);
}

void DequantizeRowImpl(DType type, const void* src, float* dst, int64_t n) {
  if (type == DType::kF16 || type == DType::kBF16 || type == DType::kF32) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, LoadKv8(src, type, i));
    for (; i < n; ++i) dst[i] = LoadKv1(src, type, i);
    return;
  }
  DequantizeRow(type, src, dst, n);
}

KernelTable MakeTable() {
  KernelTable t;
  t.isa = Isa::kAvx2;
  t.matmul_act_block = MatMulActBlock;
  t.quantize_act = QuantizeAct;
  t.matmul = MatMulRows;
  t.dequantize_row = DequantizeRowImpl;
  t.rms_norm = RmsNormRow;
  t.add = AddRow;
  t.silu_mul = SiluMulRow;
  t.softmax = SoftmaxRow;
  t.scale = ScaleRow;
  t.rope = RopeToken;
  t.convert_kv_row = ConvertKvRow;
  t.attention = AttentionPairs;
  return t;
}

}  // namespace

const KernelTable& Table() {
  static const KernelTable table = MakeTable();
  return table;
}

}  // namespace weft::kernels::avx2
