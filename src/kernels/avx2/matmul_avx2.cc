// AVX2 MatMul: the same structure as the AVX-512 one (see avx512/matmul_avx512.cc), with
// VPMADDUBSW + VPMADDWD for the int8 block dots (no VNNI). Q4_0 and Q8_0 rows go to the
// Panel16 kernel instead (MatMulRowsViaPanel, matmul_panel16_avx2.cc). VPMADDUBSW
// saturates at int16, so the signed weights (IQ4_NL's levels) use |w| x sign(a, w) and
// the unsigned quants stay below 2 * 63 * 127.
#include <immintrin.h>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/x86/quant_blocks.h"

namespace weft::kernels::avx2 {
namespace {

constexpr int kMR = 4;
constexpr int64_t kMChunk = 64;

inline float Hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <class Dec>
struct Legacy {
  template <int MR>
  static void Run(const MatMulArgs& A, const uint8_t* w, int64_t r0, float* out) {
    QuantActRow a[MR];
    for (int r = 0; r < MR; ++r) a[r] = A.xq_layout.Row(A.xq, r0 + r);
    __m256 acc[2][MR];
    float corr[MR];
    for (int r = 0; r < MR; ++r) {
      acc[0][r] = acc[1][r] = _mm256_setzero_ps();
      corr[r] = 0.0f;
    }
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nb = A.k / 32;
    auto block = [&](int64_t b, int slot) {
      float dw, cw;
      const __m256i q = LoadLegacy<Dec>(w + b * Dec::kBytes, &dw, &cw);
      const __m256i uq = Dec::kSigned ? _mm256_sign_epi8(q, q) : q;
      for (int r = 0; r < MR; ++r) {
        __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(a[r].q + 32 * b));
        if constexpr (Dec::kSigned) av = _mm256_sign_epi8(av, q);
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(uq, av), ones);
        acc[slot][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a[r].d[b]), acc[slot][r]);
        corr[r] += cw * a[r].ds[b];
      }
    };
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      block(b, 0);
      block(b + 1, 1);
    }
    if (b < nb) block(b, 0);
    for (int r = 0; r < MR; ++r) out[r] = Hsum256(_mm256_add_ps(acc[0][r], acc[1][r])) + corr[r];
  }
};

template <class Dec>
struct KQuant {
  template <int MR>
  static void Run(const MatMulArgs& A, const uint8_t* w, int64_t r0, float* out) {
    QuantActRow a[MR];
    for (int r = 0; r < MR; ++r) a[r] = A.xq_layout.Row(A.xq, r0 + r);
    __m256 acc[MR], cacc[MR];
    for (int r = 0; r < MR; ++r) acc[r] = cacc[r] = _mm256_setzero_ps();
    const int64_t nb = A.k / 256;
    alignas(32) __m256i q[8], sc[8];
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = w + b * Dec::kBytes;
      const KScales ks = Dec::Scales(blk);
      for (int c = 0; c < 8; ++c) {
        q[c] = Dec::Chunk(blk, c);
        // int16 lane i (values 32c + 2i, +1) is in sub-block 2c + i / 8.
        const __m128i idx = _mm_add_epi8(_mm_set1_epi8(static_cast<char>(2 * c)),
                                         _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        sc[c] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(ks.sc8, idx));
      }
      const __m256i c16 = _mm256_cvtepi8_epi16(ks.c8);
      for (int r = 0; r < MR; ++r) {
        const int8_t* aq = a[r].q + 256 * b;
        __m256i s = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
          const __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(aq + 32 * c));
          s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(q[c], av), sc[c]));
        }
        const float da = a[r].d[b];
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(ks.d * da), acc[r]);
        const __m256i cm = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(a[r].bsum + 16 * b)), c16);
        cacc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(cm), _mm256_set1_ps(ks.dcorr * da), cacc[r]);
      }
    }
    for (int r = 0; r < MR; ++r) out[r] = Hsum256(acc[r]) - Hsum256(cacc[r]);
  }
};

template <DType T>
inline __m256 LoadW8(const uint8_t* w, int64_t i) {
  if constexpr (T == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + i);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2 * i));
    if constexpr (T == DType::kF16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <DType T>
inline float LoadW1(const uint8_t* w, int64_t i) {
  if constexpr (T == DType::kF32) {
    float f;
    std::memcpy(&f, w + 4 * i, 4);
    return f;
  } else {
    uint16_t h;
    std::memcpy(&h, w + 2 * i, 2);
    if constexpr (T == DType::kF16) return _cvtsh_ss(h);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
}

template <DType T>
struct Float {
  template <int MR>
  static void Run(const MatMulArgs& A, const uint8_t* w, int64_t r0, float* out) {
    const float* x[MR];
    for (int r = 0; r < MR; ++r) x[r] = A.x + (r0 + r) * A.x_stride;
    __m256 acc[2][MR];
    for (int r = 0; r < MR; ++r) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
    const int64_t k = A.k;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
      const __m256 w0 = LoadW8<T>(w, i), w1 = LoadW8<T>(w, i + 8);
      for (int r = 0; r < MR; ++r) {
        acc[0][r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[r] + i), acc[0][r]);
        acc[1][r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[r] + i + 8), acc[1][r]);
      }
    }
    for (; i + 8 <= k; i += 8) {
      const __m256 wv = LoadW8<T>(w, i);
      for (int r = 0; r < MR; ++r) acc[0][r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[r] + i), acc[0][r]);
    }
    for (int r = 0; r < MR; ++r) {
      float s = Hsum256(_mm256_add_ps(acc[0][r], acc[1][r]));
      for (int64_t j = i; j < k; ++j) s += LoadW1<T>(w, j) * x[r][j];
      out[r] = s;
    }
  }
};

template <class Kern>
void Drive(const MatMulArgs& A, int64_t n0, int64_t n1) {
  float out[kMR];
  for (int64_t m0 = 0; m0 < A.m; m0 += kMChunk) {
    const int64_t m1 = A.m < m0 + kMChunk ? A.m : m0 + kMChunk;
    for (int64_t n = n0; n < n1; ++n) {
      const uint8_t* w = A.w + static_cast<size_t>(n) * A.w_row_bytes;
      int64_t r = m0;
      for (; r + kMR <= m1; r += kMR) {
        Kern::template Run<kMR>(A, w, r, out);
        for (int i = 0; i < kMR; ++i) A.y[(r + i) * A.y_stride + n] = out[i];
      }
      for (; r < m1; ++r) {
        Kern::template Run<1>(A, w, r, out);
        A.y[r * A.y_stride + n] = out[0];
      }
    }
  }
}

}  // namespace

int MatMulActBlock(DType type) {
  switch (type) {
    case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0:
    case DType::kIQ4_NL:
      return 32;
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
      return 256;
    default:
      return 0;
  }
}

void MatMulRows(const MatMulArgs& A, int64_t n0, int64_t n1) {
  switch (A.type) {
    case DType::kF32: return Drive<Float<DType::kF32>>(A, n0, n1);
    case DType::kF16: return Drive<Float<DType::kF16>>(A, n0, n1);
    case DType::kBF16: return Drive<Float<DType::kBF16>>(A, n0, n1);
    case DType::kQ4_0: return MatMulRowsViaPanel(A, n0, n1);
    case DType::kQ4_1: return Drive<Legacy<Q4_1Dec>>(A, n0, n1);
    case DType::kQ5_0: return Drive<Legacy<Q5_0Dec>>(A, n0, n1);
    case DType::kQ5_1: return Drive<Legacy<Q5_1Dec>>(A, n0, n1);
    case DType::kQ8_0: return MatMulRowsViaPanel(A, n0, n1);
    case DType::kIQ4_NL: return Drive<Legacy<IQ4_NLDec>>(A, n0, n1);
    case DType::kQ2_K: return Drive<KQuant<Q2_KDec>>(A, n0, n1);
    case DType::kQ3_K: return Drive<KQuant<Q3_KDec>>(A, n0, n1);
    case DType::kQ4_K: return Drive<KQuant<Q4_KDec>>(A, n0, n1);
    case DType::kQ5_K: return Drive<KQuant<Q5_KDec>>(A, n0, n1);
    case DType::kQ6_K: return Drive<KQuant<Q6_KDec>>(A, n0, n1);
    default: __builtin_trap();  // ops.cc checks the type first
  }
}

void QuantizeAct(const float* x, int64_t k, int block, QuantActRow out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < block; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + i)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    int sum = 0;
    for (int i = 0; i < block; i += 16) {
      const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i), id));  // nearest even
      const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8), id));
      // packs interleave 128-bit lanes: (q0lo q1lo q0hi q1hi) -> reorder to q0 q1.
      const __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
      const __m128i p8 = _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
      _mm_store_si128(reinterpret_cast<__m128i*>(out.q + b * block + i), p8);
      __m256i s = _mm256_add_epi32(q0, q1);
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      const int s16 = _mm_cvtsi128_si32(s4);
      out.bsum[(b * block + i) / 16] = static_cast<int16_t>(s16);
      sum += s16;
    }
    out.d[b] = d;
    out.ds[b] = d * static_cast<float>(sum);
  }
}

}  // namespace weft::kernels::avx2
