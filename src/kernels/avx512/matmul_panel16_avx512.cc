// AVX-512 MatMul on Panel16 weights (kernels/panel_layout.h): Q4_0 and Q8_0 repacked so
// that a block of 16 output columns is 4 (Q4_0) or 8 (Q8_0) plain 64-byte vectors, int32
// lane p = column p. Each vector meets the row's 4 activation bytes broadcast in a
// VPDPBUSD, so the weights are read once, in order, with no shuffles: decode runs at
// memory speed, prefill reuses each block (from L1) for every activation row.
//
// Arithmetic per (row, column) and block b, in this order (the same as the row-layout
// panel kernel in matmul_avx512.cc, so that both layouts give bit-identical results):
//   s = off * sum(a_b) + sum(u_b * a_b)   (int32, exact; u = the unsigned weight values)
//   acc = fma(float(s) * dw_b, da_b, acc)   (acc from 0, b = 0, 1, ...)
// Nothing depends on m, on the row grouping, on the column split or on the k chunking.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/avx512/avx512_kernels.h"

namespace weft::kernels::avx512 {
namespace {

constexpr int kMR = 4;   // activation rows per micro-kernel call
constexpr int kNR = 2;   // groups of 16 columns per pass (prefill)
constexpr int kNRDecode = 4;  // ... when m < kMR: more independent streams and chains
constexpr int kKC = 16;  // blocks per k chunk when m is large (the chunk's weights stay in L1)

struct Q4_0Panel {
  static constexpr int kOff = -8, kVectors = 4;
};
struct Q8_0Panel {
  static constexpr int kOff = -128, kVectors = 8;
};

inline __m512i Bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

struct Rows {
  const int8_t* q;
  const float* d;
  const int32_t* corr;
};

// Rows r0 .. r0 + MR, NR groups starting at `quants[j]` / `scales[j]`, blocks
// [kb0, kb0 + nbk). acc: [MR][NR] accumulators in and out. prefetch_blocks > 0: fetch
// the quants that many blocks ahead into L2 (the next k chunk, while the other row
// groups work from L1), so that memory is read all along instead of in bursts.
template <class P, int MR, int NR>
inline void Micro(const Rows* rows, const uint8_t* const* quants, const uint8_t* const* scales, int64_t kb0,
                  int64_t nbk, __m512 (*acc)[NR], int64_t prefetch_blocks = 0) {
  __m512 facc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) facc[i][j] = acc[i][j];
  }
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = kb0; b < kb0 + nbk; ++b) {
    if (prefetch_blocks > 0) {  // past the group's quants: its scales or the next group, harmless
      for (int j = 0; j < NR; ++j) {
        for (int v = 0; v < P::kVectors; ++v) {
          _mm_prefetch(reinterpret_cast<const char*>(quants[j] + ((b + prefetch_blocks) * P::kVectors + v) * 64),
                       _MM_HINT_T1);
        }
      }
    }
    // Two int32 partial sums per (row, group), so that the VPDPBUSD latency chains are
    // half as long (integer sums: the split does not change the result).
    __m512i ia[MR][NR], ib[MR][NR];
    for (int i = 0; i < MR; ++i) {
      const __m512i c = _mm512_set1_epi32(rows[i].corr[b]);
      for (int j = 0; j < NR; ++j) {
        ia[i][j] = c;
        ib[i][j] = _mm512_setzero_si512();
      }
    }
    if constexpr (P::kVectors == 4) {  // Q4_0: vector t holds values 4t.. (low nibbles) and 16 + 4t.. (high)
      for (int t = 0; t < 4; ++t) {
        __m512i lo[NR], hi[NR];
        for (int j = 0; j < NR; ++j) {
          const __m512i v = _mm512_loadu_si512(quants[j] + (b * 4 + t) * 64);
          lo[j] = _mm512_and_si512(v, m4);
          hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        for (int i = 0; i < MR; ++i) {
          const __m512i a_lo = Bcast4(rows[i].q + 32 * b + 4 * t);
          const __m512i a_hi = Bcast4(rows[i].q + 32 * b + 16 + 4 * t);
          for (int j = 0; j < NR; ++j) {
            ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], lo[j], a_lo);
            ib[i][j] = _mm512_dpbusd_epi32(ib[i][j], hi[j], a_hi);
          }
        }
      }
    } else {  // Q8_0: vector t holds values 4t .. 4t + 3
      for (int t = 0; t < 8; t += 2) {
        __m512i w0[NR], w1[NR];
        for (int j = 0; j < NR; ++j) {
          w0[j] = _mm512_loadu_si512(quants[j] + (b * 8 + t) * 64);
          w1[j] = _mm512_loadu_si512(quants[j] + (b * 8 + t + 1) * 64);
        }
        for (int i = 0; i < MR; ++i) {
          const __m512i a0 = Bcast4(rows[i].q + 32 * b + 4 * t);
          const __m512i a1 = Bcast4(rows[i].q + 32 * b + 4 * t + 4);
          for (int j = 0; j < NR; ++j) {
            ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], w0[j], a0);
            ib[i][j] = _mm512_dpbusd_epi32(ib[i][j], w1[j], a1);
          }
        }
      }
    }
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) ia[i][j] = _mm512_add_epi32(ia[i][j], ib[i][j]);
    }
    __m512 dw[NR];
    for (int j = 0; j < NR; ++j) {
      dw[j] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales[j] + 32 * b)));
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 da = _mm512_set1_ps(rows[i].d[b]);
      for (int j = 0; j < NR; ++j) {
        facc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ia[i][j]), dw[j]), da, facc[i][j]);
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) acc[i][j] = facc[i][j];
  }
}

struct alignas(64) Lane16 {
  float f[16];
};
struct Scratch16 {
  std::vector<Rows> rows;
  std::vector<int32_t> corr;  // [m][nb]
  std::vector<Lane16> acc;    // [m][NR], read as __m512
};

template <class P, int NR>
void Columns(const MatMulArgs& A, Scratch16& S, int64_t n, int64_t cols) {
  const int64_t nb = A.k / 32;
  const uint8_t* quants[NR];
  const uint8_t* scales[NR];
  for (int j = 0; j < NR; ++j) {
    quants[j] = A.w + static_cast<size_t>(n / 16 + j) * A.w_group_bytes;
    scales[j] = quants[j] + A.w_scales_offset;
  }
  auto* acc = reinterpret_cast<__m512(*)[NR]>(S.acc.data());
  for (int64_t r = 0; r < A.m; ++r) {
    for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  // Few rows: all blocks in one pass. Many: k chunks whose weights stay in L1 while
  // every row group uses them.
  const int64_t kc = A.m <= kMR ? nb : kKC;
  for (int64_t kb0 = 0; kb0 < nb; kb0 += kc) {
    const int64_t nbk = std::min(kc, nb - kb0);
    int64_t r = 0;
    if (kc < nb && r + kMR <= A.m) {  // the first row group fetches the next chunk
      Micro<P, kMR, NR>(&S.rows[r], quants, scales, kb0, nbk, acc + r, kc);
      r += kMR;
    }
    for (; r + kMR <= A.m; r += kMR) Micro<P, kMR, NR>(&S.rows[r], quants, scales, kb0, nbk, acc + r);
    for (; r < A.m; ++r) Micro<P, 1, NR>(&S.rows[r], quants, scales, kb0, nbk, acc + r);
  }
  for (int64_t r = 0; r < A.m; ++r) {
    float* y = A.y + r * A.y_stride + n;
    for (int j = 0; j < NR; ++j) {
      const int64_t left = cols - 16 * j;
      const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
      _mm512_mask_storeu_ps(y + 16 * j, mk, acc[r][j]);
    }
  }
}

template <class P>
void DrivePanel16(const MatMulArgs& A, int64_t n0, int64_t n1) {
  thread_local Scratch16 S;
  const int64_t nb = A.k / 32;
  const auto m = static_cast<size_t>(A.m);
  if (S.rows.size() < m) S.rows.resize(m);
  if (S.corr.size() < m * static_cast<size_t>(nb)) S.corr.resize(m * static_cast<size_t>(nb));
  if (S.acc.size() < m * kNRDecode) S.acc.resize(m * kNRDecode);
  for (int64_t r = 0; r < A.m; ++r) {
    const QuantActRow row = A.xq_layout.Row(A.xq, r);
    int32_t* corr = S.corr.data() + r * nb;
    for (int64_t b = 0; b < nb; ++b) corr[b] = P::kOff * (row.bsum[2 * b] + row.bsum[2 * b + 1]);
    S.rows[static_cast<size_t>(r)] = {row.q, row.d, corr};
  }
  int64_t n = n0;
  if (A.m < kMR) {
    for (; n + 16 * (kNRDecode - 1) < n1; n += 16 * kNRDecode) Columns<P, kNRDecode>(A, S, n, std::min<int64_t>(16 * kNRDecode, n1 - n));
  }
  for (; n < n1; n += 16 * kNR) {
    const int64_t cols = std::min<int64_t>(16 * kNR, n1 - n);
    if (cols > 16) {
      Columns<P, 2>(A, S, n, cols);
    } else {
      Columns<P, 1>(A, S, n, cols);
    }
  }
}

}  // namespace

void MatMulPanel16(const MatMulArgs& A, int64_t n0, int64_t n1) {
  switch (A.type) {
    case DType::kQ4_0: return DrivePanel16<Q4_0Panel>(A, n0, n1);
    case DType::kQ8_0: return DrivePanel16<Q8_0Panel>(A, n0, n1);
    case DType::kF16: case DType::kBF16: return MatMulPanel16Float(A, n0, n1);
    default: __builtin_trap();  // ops.cc checks the type first
  }
}

}  // namespace weft::kernels::avx512
