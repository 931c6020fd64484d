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

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/panel16_drive.h"
#include "kernels/x86/panel_prefetch.h"

namespace weft::kernels::avx512 {
namespace {

// Blocks of 32 with one f16 scale per (block, column) and an integer offset kOff.
template <int Off, int Vectors>
struct LegacyPanel {
  static constexpr int kBlock = 32, kCorr = 1;
  static constexpr int kMR = 4;         // activation rows per micro-kernel call
  // A few rows (a speculative-decoding verification pass: 1 + drafts) run Micro on all of
  // them at once, splitting the nibbles in registers; the staged kernel (which writes the
  // split chunk to memory first) pays off from kStagedMinRows rows (Q4_0; measured with
  // l1b's matrices: 4-5 rows were 13-20 % faster in place, 7-8 rows staged).
  static constexpr int kMRDirectMin = 2, kMRDirectMax = 5;
  static constexpr int kStagedMinRows = Vectors == 4 ? kMRDirectMax + 1 : kMR;
  static constexpr int kNR = 2;         // groups of 16 columns per pass (prefill)
  static constexpr int kNRDecode = 4;   // ... when m < kMR
  static constexpr int kKC = 16;        // blocks per k chunk when m is large (stays in L1)
  static constexpr int kStreamBytes = 64 * Vectors;  // quant bytes per block in a group's stream
  static constexpr int kBlockScaleBytes = 32;        // 16 f16 scales per block in a group

  // off * sum(a_b): the offset of the unsigned weight values, per block.
  static void Corr(const QuantActRow& row, int64_t nb, int32_t* out) {
    for (int64_t b = 0; b < nb; ++b) out[b] = Off * (row.bsum[2 * b] + row.bsum[2 * b + 1]);
  }

  // Prefill (m >= kMR): each k chunk of a group is first staged as 8 plain vectors of
  // unsigned bytes per block (vector v holds values 4v .. 4v + 3 of the 16 columns), so
  // that every row group reads it with no unpacking: Q4_0 splits its nibbles once per
  // chunk instead of once per row group; Q8_0 is already in that form and reads the panel.
  static constexpr int kMRStaged = 6;
  static constexpr int kStagedBlockBytes = 512;
  static constexpr bool kNeedsStaging = (Vectors == 4);

  // dst: nbk * 512 bytes; blocks [kb0, kb0 + nbk) of the group at `group`.
  static void Stage(const uint8_t* group, int64_t kb0, int64_t nbk, uint8_t* dst) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nbk; ++b) {
      for (int t = 0; t < 4; ++t) {
        const __m512i v = _mm512_loadu_si512(group + ((kb0 + b) * 4 + t) * 64);
        _mm512_store_si512(dst + b * 512 + t * 64, _mm512_and_si512(v, m4));
        _mm512_store_si512(dst + b * 512 + (4 + t) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
      }
    }
  }

  // Like Micro (the same integer sums, the same float steps), on staged blocks:
  // staged[j] + (b - kb0) * 512 holds block b of group j. One int32 chain per (row,
  // group), so that 6 rows x 2 groups fit the registers: 96 VPDPBUSD per block against
  // 36 conversion steps.
  template <int MR, int NR>
  static void MicroStaged(const PanelActRow* rows, const uint8_t* const* staged, const uint8_t* const* groups,
                          size_t scales_offset, int64_t kb0, int64_t nbk, const PanelAccIo<NR>& io) {
    __m512 facc[MR][NR];
    io.Load(facc);
    for (int64_t b = kb0; b < kb0 + nbk; ++b) {
      __m512i s[MR][NR];
      for (int i = 0; i < MR; ++i) {
        const __m512i c = _mm512_set1_epi32(rows[i].corr[b]);
        for (int j = 0; j < NR; ++j) s[i][j] = c;
      }
      for (int t = 0; t < 8; ++t) {
        __m512i w[NR];
        for (int j = 0; j < NR; ++j) w[j] = _mm512_loadu_si512(staged[j] + (b - kb0) * 512 + t * 64);
        for (int i = 0; i < MR; ++i) {
          const __m512i a = PanelBcast4(rows[i].q + 32 * b + 4 * t);
          for (int j = 0; j < NR; ++j) s[i][j] = _mm512_dpbusd_epi32(s[i][j], w[j], a);
        }
      }
      __m512 dw[NR];
      for (int j = 0; j < NR; ++j) {
        dw[j] = _mm512_cvtph_ps(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(groups[j] + scales_offset + 32 * b)));
      }
      for (int i = 0; i < MR; ++i) {
        const __m512 da = _mm512_set1_ps(rows[i].d[b]);
        for (int j = 0; j < NR; ++j) {
          facc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s[i][j]), dw[j]), da, facc[i][j]);
        }
      }
    }
    io.Store(facc);
  }

  template <int MR, int NR>
  static void Micro(const PanelActRow* rows, const uint8_t* const* quants, size_t scales_offset, int64_t kb0,
                    int64_t nbk, __m512 (*acc)[NR]) {
    __m512 facc[MR][NR];
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) facc[i][j] = acc[i][j];
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = kb0; b < kb0 + nbk; ++b) {
      // Two int32 partial sums per (row, group) when there are few (row, group) chains,
      // so that the VPDPBUSD latency chains are half as long; one when there are many (the
      // registers would run out). Integer sums: the split does not change the result.
      constexpr bool kSplit = MR * NR < 6;
      __m512i ia[MR][NR], ib[MR][NR];
      for (int i = 0; i < MR; ++i) {
        const __m512i c = _mm512_set1_epi32(rows[i].corr[b]);
        for (int j = 0; j < NR; ++j) {
          ia[i][j] = c;
          if constexpr (kSplit) ib[i][j] = _mm512_setzero_si512();
        }
      }
      // Weights stream from memory once: ask for the block kPanelPrefetchBlocks ahead.
      for (int j = 0; j < NR; ++j) PrefetchPanelBlock<Vectors>(quants[j], scales_offset, b + kPanelPrefetchBlocks);
      if constexpr (Vectors == 4) {  // Q4_0: vector t holds values 4t.. (low nibbles) and 16 + 4t.. (high)
        for (int t = 0; t < 4; ++t) {
          __m512i lo[NR], hi[NR];
          for (int j = 0; j < NR; ++j) {
            const __m512i v = _mm512_loadu_si512(quants[j] + (b * 4 + t) * 64);
            lo[j] = _mm512_and_si512(v, m4);
            hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
          }
          for (int i = 0; i < MR; ++i) {
            const __m512i a_lo = PanelBcast4(rows[i].q + 32 * b + 4 * t);
            const __m512i a_hi = PanelBcast4(rows[i].q + 32 * b + 16 + 4 * t);
            for (int j = 0; j < NR; ++j) {
              ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], lo[j], a_lo);
              if constexpr (kSplit) {
                ib[i][j] = _mm512_dpbusd_epi32(ib[i][j], hi[j], a_hi);
              } else {
                ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], hi[j], a_hi);
              }
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
            const __m512i a0 = PanelBcast4(rows[i].q + 32 * b + 4 * t);
            const __m512i a1 = PanelBcast4(rows[i].q + 32 * b + 4 * t + 4);
            for (int j = 0; j < NR; ++j) {
              ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], w0[j], a0);
              if constexpr (kSplit) {
                ib[i][j] = _mm512_dpbusd_epi32(ib[i][j], w1[j], a1);
              } else {
                ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], w1[j], a1);
              }
            }
          }
        }
      }
      if constexpr (kSplit) {
        for (int i = 0; i < MR; ++i) {
          for (int j = 0; j < NR; ++j) ia[i][j] = _mm512_add_epi32(ia[i][j], ib[i][j]);
        }
      }
      __m512 dw[NR];
      for (int j = 0; j < NR; ++j) {
        dw[j] = _mm512_cvtph_ps(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants[j] + scales_offset + 32 * b)));
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
};

using Q4_0Panel = LegacyPanel<-8, 4>;
using Q8_0Panel = LegacyPanel<-128, 8>;

}  // namespace

void MatMulPanel16(const MatMulArgs& A, int64_t n0, int64_t n1) {
  switch (A.type) {
    case DType::kQ4_0: return DrivePanel16<Q4_0Panel>(A, n0, n1);
    case DType::kQ8_0: return DrivePanel16<Q8_0Panel>(A, n0, n1);
    case DType::kQ4_K: case DType::kQ6_K: return MatMulPanel16KQuant(A, n0, n1);
    case DType::kF16: case DType::kBF16: return MatMulPanel16Float(A, n0, n1);
    default: __builtin_trap();  // ops.cc checks the type first
  }
}

}  // namespace weft::kernels::avx512
