// AVX-512 MatMul on Panel16 K-quant weights (kernels/panel_layout.h): Q4_K and Q6_K
// super-blocks of 16 output columns, int32 lane p = column p. Each 64-byte quant vector
// meets the activation row's 4 bytes broadcast in a VPDPBUSD; per (row, column) lane the
// sub-block sums are multiplied by the sub-block's integer scale (VPMULLD) and summed
// exactly in int32 over the super-block; then one float step per super-block b:
//   Q4_K:  S = sum_s sc[s] * sum_{j in s} q_j a_j          (32-value sub-blocks)
//          M = sum_s mn[s] * (sum of a over s)             (VPDPWSSD, int16 pairs)
//          acc = fma(float(S) * d, da_b, acc); acc = acc - float(M) * dmin * da_b
//   Q6_K:  S = sum_s sc[s] * sum_{j in s} (q_j - 32) a_j   (16-value sub-blocks; the -32
//          enters as -32 * bsum[s], the sum's starting value)
//          acc = fma(float(S) * d, da_b, acc)
// (acc from 0, b = 0, 1, ...; each step rounds as written.) Nothing depends on m, on the
// row grouping, on the column split or on the k chunking. The row-layout kernel
// (matmul_avx512.cc) sums the same products in another float order, so the two layouts
// agree to rounding, not bit for bit.
//
// Integer ranges: Q4_K |sum over a sub-block| <= 15 * 127 * 32 < 2^16, times sc <= 63,
// times 8 sub-blocks < 2^25; M <= 63 * 4064 * 8. Q6_K: |sum| <= 32 * 127 * 16 < 2^16,
// times |sc| <= 128, times 16 < 2^28.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/panel16_drive.h"
#include "kernels/panel_layout.h"

namespace weft::kernels::avx512 {
namespace {

inline __m512i LoadV(const uint8_t* p) { return _mm512_loadu_si512(p); }
inline __m128i Load16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline __m256i Load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m512 F16x16(const uint8_t* p) { return _mm512_cvtph_ps(Load32(p)); }

// Decode (one activation row) streams the weights from memory once, faster than the
// hardware prefetcher alone feeds it (k2048 x n8192, 1 thread: Q4_K 830 -> 380 us):
// each 64-byte line is requested this far ahead (past the group: the next group, read
// next; past the matrix: harmless).
constexpr int kPrefetchAhead = 4096;
template <int MR>
inline void PrefetchAhead(const uint8_t* p) {
  if constexpr (MR == 1) _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchAhead), _MM_HINT_T0);
}

// The kNR / kMR choice keeps every (row, group)'s accumulators (f32 acc, int32 S and two
// sub-block sums) in registers: kMR * kNR <= 4. Decode reads one group at a time: a
// single sequential stream (with PrefetchAhead) read faster than four interleaved ones,
// and the two chains per sub-block pair plus out-of-order overlap of the next pair keep
// the VPDPBUSD latency hidden.
struct KPanelShape {
  static constexpr int kBlock = 256;
  static constexpr int kMR = 4, kNR = 1, kNRDecode = 1;
};

struct Q4KPanel : KPanelShape {
  using L = PanelQ4K;
  static constexpr int kCorr = 4;
  static constexpr int kKC = 8;  // super-blocks per k chunk: 8 * 2368 bytes stay in L1
  static constexpr int kStreamBytes = PanelQ4K::kRecord;

  // Per super-block, four int16 pairs (sum of a over sub-block 2i, over 2i + 1).
  static void Corr(const QuantActRow& row, int64_t nb, int32_t* out) {
    for (int64_t i = 0; i < 4 * nb; ++i) {
      const int lo = row.bsum[4 * i] + row.bsum[4 * i + 1], hi = row.bsum[4 * i + 2] + row.bsum[4 * i + 3];
      out[i] = static_cast<int32_t>(static_cast<uint16_t>(lo) | (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
    }
  }

  // Prefill (m >= kMR): each k chunk is first staged as 64 vectors of unsigned 4-bit
  // values per super-block (vector 8s + t holds values 32s + 4t .. + 3 of the 16 columns,
  // s the sub-block), so that every row group reads it with no unpacking. MicroStaged
  // does Micro's integer sums and float steps in the same order: the same results.
  static constexpr int kMRStaged = 6;
  static constexpr int kStagedBlockBytes = 4096;
  static constexpr bool kNeedsStaging = true;

  static void Stage(const uint8_t* group, int64_t kb0, int64_t nbk, uint8_t* dst) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nbk; ++b) {
      const uint8_t* rec = group + (kb0 + b) * L::kRecord;
      uint8_t* out = dst + b * kStagedBlockBytes;
      for (int c = 0; c < 4; ++c) {
        for (int t = 0; t < 8; ++t) {
          const __m512i v = LoadV(rec + (8 * c + t) * 64);
          _mm512_store_si512(out + (16 * c + t) * 64, _mm512_and_si512(v, m4));
          _mm512_store_si512(out + (16 * c + 8 + t) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
        }
      }
    }
  }

  template <int MR, int NR>
  static void MicroStaged(const PanelActRow* rows, const uint8_t* const* staged, const uint8_t* const* groups,
                          size_t /*scales_offset*/, int64_t kb0, int64_t nbk, const PanelAccIo<NR>& io) {
    static_assert(NR == 1, "one group per pass");
    __m512 facc[MR][1];
    io.Load(facc);
    for (int64_t b = kb0; b < kb0 + nbk; ++b) {
      const uint8_t* rec = groups[0] + b * L::kRecord;
      const uint8_t* st = staged[0] + (b - kb0) * kStagedBlockBytes;
      __m512i S[MR];
      for (int c = 0; c < 4; ++c) {  // sub-blocks 2c and 2c + 1
        __m512i ia[MR], ib[MR];
        for (int i = 0; i < MR; ++i) ia[i] = ib[i] = _mm512_setzero_si512();
        for (int t = 0; t < 8; ++t) {
          const __m512i lo = _mm512_load_si512(st + (16 * c + t) * 64);
          const __m512i hi = _mm512_load_si512(st + (16 * c + 8 + t) * 64);
          for (int i = 0; i < MR; ++i) {
            const int8_t* a = rows[i].q + 256 * b + 64 * c + 4 * t;
            ia[i] = _mm512_dpbusd_epi32(ia[i], lo, PanelBcast4(a));
            ib[i] = _mm512_dpbusd_epi32(ib[i], hi, PanelBcast4(a + 32));
          }
        }
        const __m512i sa = _mm512_cvtepu8_epi32(Load16(rec + L::kScales + 32 * c));
        const __m512i sb = _mm512_cvtepu8_epi32(Load16(rec + L::kScales + 32 * c + 16));
        for (int i = 0; i < MR; ++i) {
          const __m512i p = _mm512_add_epi32(_mm512_mullo_epi32(ia[i], sa), _mm512_mullo_epi32(ib[i], sb));
          S[i] = c == 0 ? p : _mm512_add_epi32(S[i], p);
        }
      }
      __m512i M[MR];
      for (int i = 0; i < MR; ++i) M[i] = _mm512_setzero_si512();
      for (int h = 0; h < 4; ++h) {
        const __m512i mn = _mm512_cvtepu8_epi16(Load32(rec + L::kMins + 32 * h));
        for (int i = 0; i < MR; ++i) M[i] = _mm512_dpwssd_epi32(M[i], mn, _mm512_set1_epi32(rows[i].corr[4 * b + h]));
      }
      const __m512 d = F16x16(rec + L::kD), dmin = F16x16(rec + L::kDmin);
      for (int i = 0; i < MR; ++i) {
        const __m512 da = _mm512_set1_ps(rows[i].d[b]);
        facc[i][0] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(S[i]), d), da, facc[i][0]);
        facc[i][0] = _mm512_fnmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(M[i]), dmin), da, facc[i][0]);
      }
    }
    io.Store(facc);
  }

  template <int MR, int NR>
  static void Micro(const PanelActRow* rows, const uint8_t* const* groups, size_t /*scales_offset*/, int64_t kb0,
                    int64_t nbk, __m512 (*acc)[NR]) {
    __m512 facc[MR][NR];
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) facc[i][j] = acc[i][j];
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = kb0; b < kb0 + nbk; ++b) {
      const uint8_t* rec[NR];
      for (int j = 0; j < NR; ++j) rec[j] = groups[j] + b * L::kRecord;
      __m512i S[MR][NR];
      for (int c = 0; c < 4; ++c) {  // sub-blocks 2c (low nibbles) and 2c + 1 (high)
        __m512i ia[MR][NR], ib[MR][NR];
        for (int i = 0; i < MR; ++i) {
          for (int j = 0; j < NR; ++j) ia[i][j] = ib[i][j] = _mm512_setzero_si512();
        }
        for (int t = 0; t < 8; ++t) {
          for (int j = 0; j < NR; ++j) {
            PrefetchAhead<MR>(rec[j] + (8 * c + t) * 64);
            const __m512i v = LoadV(rec[j] + (8 * c + t) * 64);
            const __m512i lo = _mm512_and_si512(v, m4);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            for (int i = 0; i < MR; ++i) {
              const int8_t* a = rows[i].q + 256 * b + 64 * c + 4 * t;
              ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], lo, PanelBcast4(a));
              ib[i][j] = _mm512_dpbusd_epi32(ib[i][j], hi, PanelBcast4(a + 32));
            }
          }
        }
        for (int j = 0; j < NR; ++j) {
          const __m512i sa = _mm512_cvtepu8_epi32(Load16(rec[j] + L::kScales + 32 * c));
          const __m512i sb = _mm512_cvtepu8_epi32(Load16(rec[j] + L::kScales + 32 * c + 16));
          for (int i = 0; i < MR; ++i) {
            const __m512i p = _mm512_add_epi32(_mm512_mullo_epi32(ia[i][j], sa), _mm512_mullo_epi32(ib[i][j], sb));
            S[i][j] = c == 0 ? p : _mm512_add_epi32(S[i][j], p);
          }
        }
      }
      for (int j = 0; j < NR; ++j) {
        __m512i M[MR];
        for (int i = 0; i < MR; ++i) M[i] = _mm512_setzero_si512();
        for (int h = 0; h < 4; ++h) {
          const __m512i mn = _mm512_cvtepu8_epi16(Load32(rec[j] + L::kMins + 32 * h));
          for (int i = 0; i < MR; ++i) M[i] = _mm512_dpwssd_epi32(M[i], mn, _mm512_set1_epi32(rows[i].corr[4 * b + h]));
        }
        const __m512 d = F16x16(rec[j] + L::kD), dmin = F16x16(rec[j] + L::kDmin);
        for (int i = 0; i < MR; ++i) {
          const __m512 da = _mm512_set1_ps(rows[i].d[b]);
          facc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(S[i][j]), d), da, facc[i][j]);
          facc[i][j] = _mm512_fnmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(M[i]), dmin), da, facc[i][j]);
        }
      }
    }
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) acc[i][j] = facc[i][j];
    }
  }
};

struct Q6KPanel : KPanelShape {
  using L = PanelQ6K;
  static constexpr int kCorr = 16;
  static constexpr int kKC = 6;  // 6 * 3392 bytes
  static constexpr int kStreamBytes = PanelQ6K::kRecord;

  // -32 * (sum of a over each 16-value sub-block): the offset of the unsigned values.
  static void Corr(const QuantActRow& row, int64_t nb, int32_t* out) {
    for (int64_t s = 0; s < 16 * nb; ++s) out[s] = -32 * row.bsum[s];
  }

  // Prefill (m >= kMR): each k chunk is first staged as 64 vectors of unsigned 6-bit
  // values per super-block (vector 4s + u holds values 16s + 4u .. + 3 of the 16 columns,
  // s the sub-block), so that every row group reads it with no unpacking. MicroStaged
  // does Micro's integer sums and float steps in the same order: the same results.
  static constexpr int kMRStaged = 6;
  static constexpr int kStagedBlockBytes = 4096;
  static constexpr bool kNeedsStaging = true;

  static void Stage(const uint8_t* group, int64_t kb0, int64_t nbk, uint8_t* dst) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    constexpr int kOr = 0xF8;  // ternary logic a | (b & c)
    for (int64_t b = 0; b < nbk; ++b) {
      const uint8_t* rec = group + (kb0 + b) * L::kRecord;
      uint8_t* out = dst + b * kStagedBlockBytes;
      for (int s = 0; s < 16; ++s) {
        const uint8_t* q = rec + 192 * s;
        const __m512i A = LoadV(q), B = LoadV(q + 64), H = LoadV(q + 128);
        _mm512_store_si512(out + (4 * s) * 64,
                           _mm512_ternarylogic_epi32(_mm512_and_si512(A, m4), _mm512_slli_epi16(H, 4), m30, kOr));
        _mm512_store_si512(out + (4 * s + 1) * 64,
                           _mm512_ternarylogic_epi32(_mm512_and_si512(B, m4), _mm512_slli_epi16(H, 2), m30, kOr));
        _mm512_store_si512(out + (4 * s + 2) * 64,
                           _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(A, 4), m4), H, m30, kOr));
        _mm512_store_si512(out + (4 * s + 3) * 64,
                           _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(B, 4), m4),
                                                     _mm512_srli_epi16(H, 2), m30, kOr));
      }
    }
  }

  template <int MR, int NR>
  static void MicroStaged(const PanelActRow* rows, const uint8_t* const* staged, const uint8_t* const* groups,
                          size_t /*scales_offset*/, int64_t kb0, int64_t nbk, const PanelAccIo<NR>& io) {
    static_assert(NR == 1, "one group per pass");
    __m512 facc[MR][1];
    io.Load(facc);
    for (int64_t b = kb0; b < kb0 + nbk; ++b) {
      const uint8_t* rec = groups[0] + b * L::kRecord;
      const uint8_t* st = staged[0] + (b - kb0) * kStagedBlockBytes;
      __m512i S[MR];
      for (int s2 = 0; s2 < 8; ++s2) {
        __m512i ia[2][MR];
        for (int e = 0; e < 2; ++e) {
          const int s = 2 * s2 + e;
          for (int i = 0; i < MR; ++i) ia[e][i] = _mm512_set1_epi32(rows[i].corr[16 * b + s]);
          for (int u = 0; u < 4; ++u) {
            const __m512i w = _mm512_load_si512(st + (4 * s + u) * 64);
            for (int i = 0; i < MR; ++i) {
              ia[e][i] = _mm512_dpbusd_epi32(ia[e][i], w, PanelBcast4(rows[i].q + 256 * b + 16 * s + 4 * u));
            }
          }
        }
        const __m512i sa = _mm512_cvtepi8_epi32(Load16(rec + L::kScales + 32 * s2));
        const __m512i sb = _mm512_cvtepi8_epi32(Load16(rec + L::kScales + 32 * s2 + 16));
        for (int i = 0; i < MR; ++i) {
          const __m512i p = _mm512_add_epi32(_mm512_mullo_epi32(ia[0][i], sa), _mm512_mullo_epi32(ia[1][i], sb));
          S[i] = s2 == 0 ? p : _mm512_add_epi32(S[i], p);
        }
      }
      const __m512 d = F16x16(rec + L::kD);
      for (int i = 0; i < MR; ++i) {
        const __m512 da = _mm512_set1_ps(rows[i].d[b]);
        facc[i][0] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(S[i]), d), da, facc[i][0]);
      }
    }
    io.Store(facc);
  }

  template <int MR, int NR>
  static void Micro(const PanelActRow* rows, const uint8_t* const* groups, size_t /*scales_offset*/, int64_t kb0,
                    int64_t nbk, __m512 (*acc)[NR]) {
    __m512 facc[MR][NR];
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) facc[i][j] = acc[i][j];
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    constexpr int kOr = 0xF8;  // ternary logic a | (b & c)
    for (int64_t b = kb0; b < kb0 + nbk; ++b) {
      const uint8_t* rec[NR];
      for (int j = 0; j < NR; ++j) rec[j] = groups[j] + b * L::kRecord;
      __m512i S[MR][NR];
      for (int s2 = 0; s2 < 8; ++s2) {
        // Two sub-blocks, two independent VPDPBUSD chains per (row, group).
        __m512i ia[2][MR][NR];
        for (int e = 0; e < 2; ++e) {
          const int s = 2 * s2 + e;
          for (int i = 0; i < MR; ++i) {
            const __m512i c = _mm512_set1_epi32(rows[i].corr[16 * b + s]);
            for (int j = 0; j < NR; ++j) ia[e][i][j] = c;
          }
          for (int j = 0; j < NR; ++j) {
            const uint8_t* q = rec[j] + 192 * s;
            for (int l = 0; l < 3; ++l) PrefetchAhead<MR>(q + 64 * l);
            const __m512i A = LoadV(q), B = LoadV(q + 64), H = LoadV(q + 128);
            const __m512i w[4] = {
                _mm512_ternarylogic_epi32(_mm512_and_si512(A, m4), _mm512_slli_epi16(H, 4), m30, kOr),
                _mm512_ternarylogic_epi32(_mm512_and_si512(B, m4), _mm512_slli_epi16(H, 2), m30, kOr),
                _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(A, 4), m4), H, m30, kOr),
                _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(B, 4), m4), _mm512_srli_epi16(H, 2),
                                          m30, kOr)};
            for (int i = 0; i < MR; ++i) {
              const int8_t* a = rows[i].q + 256 * b + 16 * s;
              for (int u = 0; u < 4; ++u) ia[e][i][j] = _mm512_dpbusd_epi32(ia[e][i][j], w[u], PanelBcast4(a + 4 * u));
            }
          }
        }
        for (int j = 0; j < NR; ++j) {
          const __m512i sa = _mm512_cvtepi8_epi32(Load16(rec[j] + L::kScales + 32 * s2));
          const __m512i sb = _mm512_cvtepi8_epi32(Load16(rec[j] + L::kScales + 32 * s2 + 16));
          for (int i = 0; i < MR; ++i) {
            const __m512i p =
                _mm512_add_epi32(_mm512_mullo_epi32(ia[0][i][j], sa), _mm512_mullo_epi32(ia[1][i][j], sb));
            S[i][j] = s2 == 0 ? p : _mm512_add_epi32(S[i][j], p);
          }
        }
      }
      for (int j = 0; j < NR; ++j) {
        const __m512 d = F16x16(rec[j] + L::kD);
        for (int i = 0; i < MR; ++i) {
          facc[i][j] =
              _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(S[i][j]), d), _mm512_set1_ps(rows[i].d[b]), facc[i][j]);
        }
      }
    }
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) acc[i][j] = facc[i][j];
    }
  }
};

}  // namespace

void MatMulPanel16KQuant(const MatMulArgs& A, int64_t n0, int64_t n1) {
  switch (A.type) {
    case DType::kQ4_K: return DrivePanel16<Q4KPanel>(A, n0, n1);
    case DType::kQ6_K: return DrivePanel16<Q6KPanel>(A, n0, n1);
    default: __builtin_trap();  // MatMulPanel16 checks the type first
  }
}

}  // namespace weft::kernels::avx512
