// AVX-512 MatMul. Quantised weights: activations are quantised to int8 per block (see
// QuantActLayout) and blocks are dotted with VPDPBUSD (u8 weights x s8 activations).
// Float weights (F32 / F16 / BF16) are widened to f32 and multiplied with FMA.
//
// Tiling: for each chunk of 64 activation rows, for each weight row in the caller's
// range, kMR activation rows at a time: a weight row (<= a few KB) is decoded once per
// kMR rows and stays in L1 across the chunk. Every (row, column) result is computed by
// the same instruction sequence whatever kMR group it falls in, so results do not
// depend on the batch composition.
// GCC 12 reports the _mm512_undefined_* inside its own AVX-512 intrinsics as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/x86/quant_blocks.h"

namespace weft::kernels::avx512 {
namespace {

constexpr int kMR = 4;
constexpr int64_t kMChunk = 64;

inline float Hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- legacy quants (blocks of 32) ------------------------------------------------------

// Two blocks per zmm: lanes 0-7 belong to block b, lanes 8-15 to block b + 1.
inline __m512 PairLanes(__m128 two) {
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                               _mm512_castps128_ps512(two));
}
// The f16 at p and at p1 (0 when p1 is null) as floats in lanes 0 and 1.
inline __m128 F16Pair(const uint8_t* p, const uint8_t* p1) {
  uint16_t h0, h1 = 0;
  std::memcpy(&h0, p, 2);
  if (p1 != nullptr) std::memcpy(&h1, p1, 2);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(h0 | (static_cast<uint32_t>(h1) << 16))));
}
inline __m128 LoadTwo(const float* p) { return _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p))); }

template <class Dec>
struct Legacy {
  template <int MR>
  static void Run(const MatMulArgs& A, const uint8_t* w, int64_t r0, float* out) {
    QuantActRow a[MR];
    for (int r = 0; r < MR; ++r) a[r] = A.xq_layout.Row(A.xq, r0 + r);
    __m512 acc[MR], cacc[MR];
    for (int r = 0; r < MR; ++r) acc[r] = cacc[r] = _mm512_setzero_ps();
    const int64_t nb = A.k / 32;
    // Blocks b and b + 1 (when `two`; otherwise b alone, upper lanes zero).
    auto pair = [&](int64_t b, bool two) {
      const uint8_t* b0 = w + b * Dec::kBytes;
      const uint8_t* b1 = b0 + Dec::kBytes;
      const __m256i q0 = Dec::Quants(b0);
      const __m256i q1 = two ? Dec::Quants(b1) : _mm256_setzero_si256();
      __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
      // Both blocks' f16 scales converted at once.
      const __m512 dwv = PairLanes(F16Pair(b0, two ? b1 : nullptr));
      __m512 cwv;  // each lane adds cw * ds / 8: eight lanes make one block's correction
      if constexpr (Dec::kSigned) {  // u8 = q + 128, so subtract 128 * sum(a)
        q = _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
        cwv = _mm512_mul_ps(dwv, _mm512_set1_ps(-128.0f * 0.125f));
      } else if constexpr (Dec::kMinAt >= 0) {
        cwv = _mm512_mul_ps(PairLanes(F16Pair(b0 + Dec::kMinAt, two ? b1 + Dec::kMinAt : nullptr)),
                            _mm512_set1_ps(0.125f));
      } else {
        cwv = _mm512_mul_ps(dwv, _mm512_set1_ps(Dec::kCwPerDw * 0.125f));
      }
      for (int r = 0; r < MR; ++r) {
        const __m512i av = _mm512_loadu_si512(a[r].q + 32 * b);  // the row's q is padded to 64 bytes
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, av);
        const __m128 d2 = two ? LoadTwo(a[r].d + b) : _mm_load_ss(a[r].d + b);
        const __m128 ds2 = two ? LoadTwo(a[r].ds + b) : _mm_load_ss(a[r].ds + b);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dwv, PairLanes(d2)), acc[r]);
        cacc[r] = _mm512_fmadd_ps(cwv, PairLanes(ds2), cacc[r]);
      }
    };
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) pair(b, true);
    if (b < nb) pair(b, false);
    for (int r = 0; r < MR; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) + _mm512_reduce_add_ps(cacc[r]);
  }
};

// ---- K-quants (super-blocks of 256) ----------------------------------------------------

template <class Dec>
struct KQuant {
  template <int MR>
  static void Run(const MatMulArgs& A, const uint8_t* w, int64_t r0, float* out) {
    QuantActRow a[MR];
    for (int r = 0; r < MR; ++r) a[r] = A.xq_layout.Row(A.xq, r0 + r);
    __m512 acc[MR];
    __m256 cacc[MR];
    for (int r = 0; r < MR; ++r) {
      acc[r] = _mm512_setzero_ps();
      cacc[r] = _mm256_setzero_ps();
    }
    const int64_t nb = A.k / 256;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = w + b * Dec::kBytes;
      const KScales ks = Dec::Scales(blk);
      const __m512i s32 = _mm512_cvtepi8_epi32(ks.sc8);
      const __m256i c16 = _mm256_cvtepi8_epi16(ks.c8);
      __m512i q[4], sc[4];
      for (int g = 0; g < 4; ++g) {
        q[g] = _mm512_inserti64x4(_mm512_castsi256_si512(Dec::Chunk(blk, 2 * g)), Dec::Chunk(blk, 2 * g + 1), 1);
        // int32 lane i covers values 64g + 4i .. +3: sub-block 4g + i / 4.
        const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(4 * g),
                                             _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                                                 11, 12, 13, 14, 15), 2));
        sc[g] = _mm512_permutexvar_epi32(idx, s32);
      }
      for (int r = 0; r < MR; ++r) {
        const int8_t* aq = a[r].q + 256 * b;
        __m512i s = _mm512_setzero_si512();
        for (int g = 0; g < 4; ++g) {
          const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[g], _mm512_load_si512(aq + 64 * g));
          s = _mm512_add_epi32(s, _mm512_mullo_epi32(p, sc[g]));
        }
        const float da = a[r].d[b];
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(ks.d * da), acc[r]);
        const __m256i cm = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(a[r].bsum + 16 * b)), c16);
        cacc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(cm), _mm256_set1_ps(ks.dcorr * da), cacc[r]);
      }
    }
    for (int r = 0; r < MR; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) - Hsum256(cacc[r]);
  }
};

// ---- float weights -----------------------------------------------------------------------

template <DType T>
inline __m512 LoadW(const uint8_t* w, int64_t i, __mmask16 m) {
  if constexpr (T == DType::kF32) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(w) + i);
  } else if constexpr (T == DType::kF16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(w) + i));
  } else {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(w) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
}

// NR weight rows x MR activation rows per call: each x load feeds NR FMAs and each
// weight load MR, which keeps the FMA units (not the loads) the limit for prefill.
template <DType T>
struct Float {
  static constexpr int kNR = 2;
  template <int MR, int NR>
  static void RunN(const MatMulArgs& A, const uint8_t* const* w, int64_t r0, float (*out)[kMR]) {
    const float* x[MR];
    for (int r = 0; r < MR; ++r) x[r] = A.x + (r0 + r) * A.x_stride;
    __m512 acc[NR][2][MR];
    for (int j = 0; j < NR; ++j) {
      for (int r = 0; r < MR; ++r) acc[j][0][r] = acc[j][1][r] = _mm512_setzero_ps();
    }
    const int64_t k = A.k;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
      __m512 w0[NR], w1[NR];
      for (int j = 0; j < NR; ++j) {
        w0[j] = LoadW<T>(w[j], i, 0xFFFF);
        w1[j] = LoadW<T>(w[j], i + 16, 0xFFFF);
      }
      for (int r = 0; r < MR; ++r) {
        const __m512 x0 = _mm512_loadu_ps(x[r] + i), x1 = _mm512_loadu_ps(x[r] + i + 16);
        for (int j = 0; j < NR; ++j) {
          acc[j][0][r] = _mm512_fmadd_ps(w0[j], x0, acc[j][0][r]);
          acc[j][1][r] = _mm512_fmadd_ps(w1[j], x1, acc[j][1][r]);
        }
      }
    }
    for (; i < k; i += 16) {
      const __mmask16 m = k - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (k - i)) - 1);
      for (int r = 0; r < MR; ++r) {
        const __m512 xv = _mm512_maskz_loadu_ps(m, x[r] + i);
        for (int j = 0; j < NR; ++j) acc[j][0][r] = _mm512_fmadd_ps(LoadW<T>(w[j], i, m), xv, acc[j][0][r]);
      }
    }
    for (int j = 0; j < NR; ++j) {
      for (int r = 0; r < MR; ++r) out[j][r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j][0][r], acc[j][1][r]));
    }
  }
};

// Float kernels: kNR weight rows at a time (then single rows), kMR activation rows.
template <class Kern>
void DriveFloat(const MatMulArgs& A, int64_t n0, int64_t n1) {
  constexpr int NR = Kern::kNR;
  float out[NR][kMR];
  for (int64_t m0 = 0; m0 < A.m; m0 += kMChunk) {
    const int64_t m1 = A.m < m0 + kMChunk ? A.m : m0 + kMChunk;
    auto rows = [&]<int nr>(int64_t n) {
      const uint8_t* w[nr];
      for (int j = 0; j < nr; ++j) w[j] = A.w + static_cast<size_t>(n + j) * A.w_row_bytes;
      int64_t r = m0;
      for (; r + kMR <= m1; r += kMR) {
        Kern::template RunN<kMR, nr>(A, w, r, out);
        for (int j = 0; j < nr; ++j) {
          for (int i = 0; i < kMR; ++i) A.y[(r + i) * A.y_stride + n + j] = out[j][i];
        }
      }
      for (; r < m1; ++r) {
        Kern::template RunN<1, nr>(A, w, r, out);
        for (int j = 0; j < nr; ++j) A.y[r * A.y_stride + n + j] = out[j][0];
      }
    };
    int64_t n = n0;
    // Decode (m < kMR) is bound by memory: one weight stream at a time reads faster.
    if (A.m >= kMR) {
      for (; n + NR <= n1; n += NR) rows.template operator()<NR>(n);
    }
    for (; n < n1; ++n) rows.template operator()<1>(n);
  }
}

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
      return 32;
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
      return 256;
    default:
      return 0;
  }
}

void MatMulRows(const MatMulArgs& A, int64_t n0, int64_t n1) {
  switch (A.type) {
    case DType::kF32: return DriveFloat<Float<DType::kF32>>(A, n0, n1);
    case DType::kF16: return DriveFloat<Float<DType::kF16>>(A, n0, n1);
    case DType::kBF16: return DriveFloat<Float<DType::kBF16>>(A, n0, n1);
    case DType::kQ4_0: return Drive<Legacy<Q4_0Dec>>(A, n0, n1);
    case DType::kQ4_1: return Drive<Legacy<Q4_1Dec>>(A, n0, n1);
    case DType::kQ5_0: return Drive<Legacy<Q5_0Dec>>(A, n0, n1);
    case DType::kQ5_1: return Drive<Legacy<Q5_1Dec>>(A, n0, n1);
    case DType::kQ8_0: return Drive<Legacy<Q8_0Dec>>(A, n0, n1);
    case DType::kQ2_K: return Drive<KQuant<Q2_KDec>>(A, n0, n1);
    case DType::kQ3_K: return Drive<KQuant<Q3_KDec>>(A, n0, n1);
    case DType::kQ4_K: return Drive<KQuant<Q4_KDec>>(A, n0, n1);
    case DType::kQ5_K: return Drive<KQuant<Q5_KDec>>(A, n0, n1);
    case DType::kQ6_K: return Drive<KQuant<Q6_KDec>>(A, n0, n1);
    default: __builtin_trap();  // ops.cc checks the type first
  }
}

void QuantizeAct(const float* x, int64_t k, int block, QuantActRow out) {
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    __m512 mx = _mm512_setzero_ps();
    for (int i = 0; i < block; i += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(xb + i)));
    const float amax = _mm512_reduce_max_ps(mx);
    const float d = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    int sum = 0;
    for (int i = 0; i < block; i += 16) {
      const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + i), id));  // nearest even
      _mm_store_si128(reinterpret_cast<__m128i*>(out.q + b * block + i), _mm512_cvtsepi32_epi8(q));
      const int s16 = _mm512_reduce_add_epi32(q);
      out.bsum[(b * block + i) / 16] = static_cast<int16_t>(s16);
      sum += s16;
    }
    out.d[b] = d;
    out.ds[b] = d * static_cast<float>(sum);
  }
}

}  // namespace weft::kernels::avx512
