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

#include <cstring>
#include <vector>

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/scratch_window.h"
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

// ---- panel kernel for Q4_0 / Q8_0 / IQ4_NL (blocks of 32, no min) ------------------------
//
// Tiles of 16 output columns, one per int32 lane: a tile's blocks are decoded once into
// an int8 panel (per block eight zmm, zmm t holding values 4t..4t+3 of each column)
// plus the 16 f16 scales as floats, then reused by every activation row: VPDPBUSD with
// the row's 4 activation bytes broadcast. Per (row, column) and block b, in this order:
//   s = off * sum(a_b) + sum(u_b * a_b)   (int32, exact; u = the unsigned weight values)
//   acc = fma(float(s) * dw_b, da_b, acc)   (acc from 0, b = 0, 1, ...)
// Every lane of every tile, whatever the row group or k chunk, does exactly this, so a
// result does not depend on m, on the column split or on the tiling.

// Lane p of a tile holds column kLaneCol[p] (the in-lane 4x4 dword transpose below).
constexpr int LaneCol(int p) { return 4 * (p % 4) + p / 4; }

// o[j] dword (4L + g) = dword j of x[4g + L] (x: 16 columns' 16-byte vectors).
inline void Transpose16x4(const uint8_t* base, const int32_t* off, int extra, __m512i o[4]) {
  __m512i z[4];
  for (int g = 0; g < 4; ++g) {
    auto ld = [&](int c) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + off[c] + extra)); };
    __m512i v = _mm512_castsi128_si512(ld(4 * g));
    v = _mm512_inserti32x4(v, ld(4 * g + 1), 1);
    v = _mm512_inserti32x4(v, ld(4 * g + 2), 2);
    z[g] = _mm512_inserti32x4(v, ld(4 * g + 3), 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  o[0] = _mm512_unpacklo_epi64(t0, t2);
  o[1] = _mm512_unpackhi_epi64(t0, t2);
  o[2] = _mm512_unpacklo_epi64(t1, t3);
  o[3] = _mm512_unpackhi_epi64(t1, t3);
}

struct Q4_0Panel {
  static constexpr int kBytes = 18, kOff = -8;
  static void Build(const uint8_t* base, const int32_t* off, __m512i* out) {
    __m512i o[4];
    Transpose16x4(base, off, 2, o);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int j = 0; j < 4; ++j) {
      out[j] = _mm512_and_si512(o[j], m4);
      out[4 + j] = _mm512_and_si512(_mm512_srli_epi16(o[j], 4), m4);
    }
  }
};
// IQ4_NL: Q4_0's nibbles, each mapped through the codebook (tensor/iq4_nl.h) biased by
// +128 into u8 with one in-lane byte shuffle; the bias comes back as off = -128.
struct IQ4_NLPanel {
  static constexpr int kBytes = 18, kOff = -128;
  static void Build(const uint8_t* base, const int32_t* off, __m512i* out) {
    __m512i o[4];
    Transpose16x4(base, off, 2, o);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4NlValues));
    const __m512i lut = _mm512_broadcast_i32x4(_mm_xor_si128(levels, _mm_set1_epi8(static_cast<char>(0x80))));
    for (int j = 0; j < 4; ++j) {
      out[j] = _mm512_shuffle_epi8(lut, _mm512_and_si512(o[j], m4));
      out[4 + j] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(o[j], 4), m4));
    }
  }
};
struct Q8_0Panel {
  static constexpr int kBytes = 34, kOff = -128;
  static void Build(const uint8_t* base, const int32_t* off, __m512i* out) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512i o[4];
    Transpose16x4(base, off, 2, o);
    for (int j = 0; j < 4; ++j) out[j] = _mm512_xor_si512(o[j], flip);
    Transpose16x4(base, off, 18, o);
    for (int j = 0; j < 4; ++j) out[4 + j] = _mm512_xor_si512(o[j], flip);
  }
};

constexpr int kPanelNR = 2;   // tiles of 16 columns per pass
constexpr int kPanelKC = 16;  // blocks per k chunk (panel: kPanelNR * 16 * 576 bytes)
constexpr int kPanelMR = 4;   // activation rows per micro-kernel call

struct alignas(64) Line {
  uint8_t b[64];
};
struct PanelScratch {
  std::vector<Line> q;        // [kPanelNR][kPanelKC][8] int8 panel
  std::vector<Line> dw;       // [kPanelNR][kPanelKC] f32 scales
  std::vector<Line> acc;      // [m][kPanelNR] f32 accumulators
  std::vector<int32_t> corr;  // [m][nb]
  __m512i Q(size_t i) const { return _mm512_load_si512(q[i].b); }
  __m512 Dw(size_t i) const { return _mm512_load_ps(dw[i].b); }
};

// The 16 columns' f16 scales at byte 0 of their blocks, in lane order, as floats.
inline __m512 ScalesF32(const uint8_t* base, const int32_t* off) {
  alignas(32) uint16_t h[16];
  for (int p = 0; p < 16; ++p) std::memcpy(&h[p], base + off[LaneCol(p)], 2);
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(h)));
}

// Few rows (decode): no panel; each block is decoded into registers and used at once,
// with the same per-lane arithmetic as PanelMicro.
template <class P, int MR, int NR>
void DirectTile(const MatMulArgs& A, const PanelScratch& S, int64_t r0, const uint8_t* wt,
                const int32_t (*off)[16], __m512 (*out)[NR]) {
  const int64_t nb = A.k / 32;
  const int8_t* q[MR];
  const float* d[MR];
  const int32_t* corr[MR];
  for (int i = 0; i < MR; ++i) {
    const QuantActRow row = A.xq_layout.Row(A.xq, r0 + i);
    q[i] = row.q;
    d[i] = row.d;
    corr[i] = S.corr.data() + (r0 + i) * nb;
  }
  __m512 facc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) facc[i][j] = _mm512_setzero_ps();
  }
  // The tile reads 16 * NR interleaved streams; fetch the next tile's (contiguous) bytes
  // ahead, a few lines per block, so that memory is read in order.
  const size_t tile_bytes = static_cast<size_t>(16 * NR) * A.w_row_bytes;
  const size_t per_block = (tile_bytes / 64 + static_cast<size_t>(nb) - 1) / static_cast<size_t>(nb);
  const uint8_t* ahead = wt + tile_bytes;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* base = wt + b * P::kBytes;
    for (size_t l = 0; l < per_block; ++l) {  // a prefetch past the weights does not fault
      _mm_prefetch(reinterpret_cast<const char*>(ahead + (static_cast<size_t>(b) * per_block + l) * 64), _MM_HINT_T0);
    }
    __m512i w[NR][8];
    __m512 dw[NR];
    for (int j = 0; j < NR; ++j) {
      P::Build(base, off[j], w[j]);
      dw[j] = ScalesF32(base, off[j]);
    }
    for (int i = 0; i < MR; ++i) {
      const __m512i c = _mm512_set1_epi32(corr[i][b]);
      __m512i ia[NR];
      for (int j = 0; j < NR; ++j) ia[j] = c;
      for (int t = 0; t < 8; ++t) {
        int32_t a4;
        std::memcpy(&a4, q[i] + 32 * b + 4 * t, 4);
        const __m512i av = _mm512_set1_epi32(a4);
        for (int j = 0; j < NR; ++j) ia[j] = _mm512_dpbusd_epi32(ia[j], w[j][t], av);
      }
      const __m512 da = _mm512_set1_ps(d[i][b]);
      for (int j = 0; j < NR; ++j) {
        facc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ia[j]), dw[j]), da, facc[i][j]);
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) out[i][j] = facc[i][j];
  }
}

template <int MR, int NR>
inline void PanelMicro(const MatMulArgs& A, const PanelScratch& S, int64_t r0, int64_t kb0, int nbk, bool first,
                       Line* accbuf) {
  const int64_t nb = A.k / 32;
  const int8_t* q[MR];
  const float* d[MR];
  const int32_t* corr[MR];
  for (int i = 0; i < MR; ++i) {
    const QuantActRow row = A.xq_layout.Row(A.xq, r0 + i);
    q[i] = row.q;
    d[i] = row.d;
    corr[i] = S.corr.data() + (r0 + i) * nb;
  }
  __m512 facc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) facc[i][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(accbuf[(r0 + i) * kPanelNR + j].b);
  }
  for (int bb = 0; bb < nbk; ++bb) {
    const int64_t b = kb0 + bb;
    __m512i ia[MR][NR];
    for (int i = 0; i < MR; ++i) {
      const __m512i c = _mm512_set1_epi32(corr[i][b]);
      for (int j = 0; j < NR; ++j) ia[i][j] = c;
    }
    for (int t = 0; t < 8; ++t) {
      __m512i w[NR];
      for (int j = 0; j < NR; ++j) w[j] = S.Q((static_cast<size_t>(j) * kPanelKC + bb) * 8 + t);
      for (int i = 0; i < MR; ++i) {
        int32_t a4;
        std::memcpy(&a4, q[i] + 32 * b + 4 * t, 4);
        const __m512i av = _mm512_set1_epi32(a4);
        for (int j = 0; j < NR; ++j) ia[i][j] = _mm512_dpbusd_epi32(ia[i][j], w[j], av);
      }
    }
    __m512 dw[NR];
    for (int j = 0; j < NR; ++j) dw[j] = S.Dw(static_cast<size_t>(j) * kPanelKC + bb);
    for (int i = 0; i < MR; ++i) {
      const __m512 da = _mm512_set1_ps(d[i][b]);
      for (int j = 0; j < NR; ++j) {
        facc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ia[i][j]), dw[j]), da, facc[i][j]);
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) _mm512_store_ps(accbuf[(r0 + i) * kPanelNR + j].b, facc[i][j]);
  }
}

template <int NR>
void PanelRows(const MatMulArgs& A, PanelScratch& S, int64_t kb0, int nbk, bool first) {
  Line* accbuf = S.acc.data();
  WEFT_SCRATCH_WINDOW("row panel accumulators", 0, static_cast<size_t>(A.m) * kPanelNR, S.acc.size());
  WEFT_SCRATCH_WINDOW("row panel k chunk", 0, static_cast<size_t>(NR) * kPanelKC * 8, S.q.size());
  WEFT_SCRATCH_WINDOW("row panel k chunk blocks", 0, static_cast<size_t>(nbk), static_cast<size_t>(kPanelKC));
  int64_t r = 0;
  for (; r + kPanelMR <= A.m; r += kPanelMR) PanelMicro<kPanelMR, NR>(A, S, r, kb0, nbk, first, accbuf);
  for (; r < A.m; ++r) PanelMicro<1, NR>(A, S, r, kb0, nbk, first, accbuf);
}

template <class P>
void DrivePanel(const MatMulArgs& A, int64_t n0, int64_t n1) {
  thread_local PanelScratch S;
  const int64_t nb = A.k / 32;
  if (S.q.size() < static_cast<size_t>(kPanelNR * kPanelKC * 8)) {
    S.q.resize(kPanelNR * kPanelKC * 8);
    S.dw.resize(kPanelNR * kPanelKC);
  }
  if (S.acc.size() < static_cast<size_t>(A.m * kPanelNR)) S.acc.resize(static_cast<size_t>(A.m * kPanelNR));
  if (S.corr.size() < static_cast<size_t>(A.m * nb)) S.corr.resize(static_cast<size_t>(A.m * nb));
  for (int64_t r = 0; r < A.m; ++r) {
    const QuantActRow row = A.xq_layout.Row(A.xq, r);
    for (int64_t b = 0; b < nb; ++b) S.corr[r * nb + b] = P::kOff * (row.bsum[2 * b] + row.bsum[2 * b + 1]);
  }
  // Output lane p <- column LaneCol(p); the permutation is its own inverse.
  const __m512i perm = _mm512_setr_epi32(LaneCol(0), LaneCol(1), LaneCol(2), LaneCol(3), LaneCol(4), LaneCol(5),
                                         LaneCol(6), LaneCol(7), LaneCol(8), LaneCol(9), LaneCol(10), LaneCol(11),
                                         LaneCol(12), LaneCol(13), LaneCol(14), LaneCol(15));
  for (int64_t n = n0; n < n1; n += 16 * kPanelNR) {
    const int64_t cols = n1 - n < 16 * kPanelNR ? n1 - n : 16 * kPanelNR;
    const int nr = cols > 16 ? 2 : 1;
    int32_t off[kPanelNR][16];
    for (int j = 0; j < nr; ++j) {
      for (int c = 0; c < 16; ++c) {
        const int64_t cc = 16 * j + c < cols ? 16 * j + c : cols - 1;  // past the end: a valid row, not stored
        off[j][c] = static_cast<int32_t>(cc * static_cast<int64_t>(A.w_row_bytes));
      }
    }
    const uint8_t* wt = A.w + static_cast<size_t>(n) * A.w_row_bytes;
    if (A.m < kPanelMR) {
      for (int64_t r = 0; r < A.m; ++r) {
        __m512 o[1][kPanelNR];
        if (nr == 2) {
          DirectTile<P, 1, 2>(A, S, r, wt, off, o);
        } else {
          __m512 o1[1][1];
          DirectTile<P, 1, 1>(A, S, r, wt, off, o1);
          o[0][0] = o1[0][0];
        }
        float* y = A.y + r * A.y_stride + n;
        for (int j = 0; j < nr; ++j) {
          const int64_t left = cols - 16 * j;
          const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
          _mm512_mask_storeu_ps(y + 16 * j, mk, _mm512_permutexvar_ps(perm, o[0][j]));
        }
      }
      continue;
    }
    for (int64_t kb0 = 0; kb0 < nb; kb0 += kPanelKC) {
      const int nbk = static_cast<int>(nb - kb0 < kPanelKC ? nb - kb0 : kPanelKC);
      for (int j = 0; j < nr; ++j) {
        for (int bb = 0; bb < nbk; ++bb) {
          const uint8_t* base = wt + (kb0 + bb) * P::kBytes;
          const size_t pi = static_cast<size_t>(j) * kPanelKC + bb;
          P::Build(base, off[j], reinterpret_cast<__m512i*>(S.q[pi * 8].b));
          _mm512_store_ps(S.dw[pi].b, ScalesF32(base, off[j]));
        }
      }
      if (nr == 2) {
        PanelRows<2>(A, S, kb0, nbk, kb0 == 0);
      } else {
        PanelRows<1>(A, S, kb0, nbk, kb0 == 0);
      }
    }
    for (int64_t r = 0; r < A.m; ++r) {
      float* y = A.y + r * A.y_stride + n;
      for (int j = 0; j < nr; ++j) {
        const int64_t left = cols - 16 * j;
        const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
        _mm512_mask_storeu_ps(y + 16 * j, mk, _mm512_permutexvar_ps(perm, _mm512_load_ps(S.acc[r * kPanelNR + j].b)));
      }
    }
  }
}

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
    case DType::kF32: return DriveFloat<Float<DType::kF32>>(A, n0, n1);
    case DType::kF16: return DriveFloat<Float<DType::kF16>>(A, n0, n1);
    case DType::kBF16: return DriveFloat<Float<DType::kBF16>>(A, n0, n1);
    case DType::kQ4_0: return DrivePanel<Q4_0Panel>(A, n0, n1);
    case DType::kQ4_1: return Drive<Legacy<Q4_1Dec>>(A, n0, n1);
    case DType::kQ5_0: return Drive<Legacy<Q5_0Dec>>(A, n0, n1);
    case DType::kQ5_1: return Drive<Legacy<Q5_1Dec>>(A, n0, n1);
    case DType::kQ8_0: return DrivePanel<Q8_0Panel>(A, n0, n1);
    case DType::kIQ4_NL: return DrivePanel<IQ4_NLPanel>(A, n0, n1);
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
