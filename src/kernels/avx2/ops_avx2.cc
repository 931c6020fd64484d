// AVX2 element-wise ops, RoPE, KV conversion, and the kernel table (attention is in
// attention_avx2.cc).
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/vec_math.h"

namespace weft::kernels::avx2 {
namespace {

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

void ConvertKvRow(const float* src, void* dst, KvType type, int64_t n) {
  if (type == KvType::kF32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  auto* d = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  if (type == KvType::kF16) {
    for (; i + 8 <= n; i += 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; ++i) d[i] = static_cast<uint16_t>(_cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    for (; i < n; ++i) d[i] = ToBf16(src[i]);
  }
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

// 8 positions at a time, one FMA per dimension (K is dimension-major: a row per dimension).
void AttentionScores(const float* q, const float* kt, int64_t stride, int64_t n, int d, float scale, float* out) {
  const __m256 sv = _mm256_set1_ps(scale);
  for (int64_t t = 0; t < n; t += 8) {
    const int64_t left = n - t;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < d; ++i) acc = _mm256_fmadd_ps(_mm256_set1_ps(q[i]), Load(kt + i * stride + t, left), acc);
    Store(out + t, left, _mm256_mul_ps(acc, sv));
  }
}

KernelTable MakeTable() {
  KernelTable t;
  t.isa = Isa::kAvx2;
  t.matmul_act_block = MatMulActBlock;
  t.quantize_act = QuantizeAct;
  t.matmul = MatMulRows;
  t.matmul_panel = MatMulPanel16;
  t.panel_types = kPanelTypes;
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

}  // namespace weft::kernels::avx2
