// AVX2 MatMul on Panel16 Q4_0 and Q8_0 weights (kernels/panel_layout.h). A block of 16 output
// columns is 4 vectors of 64 bytes; each 256-bit half holds 8 columns' 4 quant bytes per
// int32 lane. The nibbles are split once per half and meet the activation's 4 bytes,
// broadcast, in a VPMADDUBSW; the 8 int16 products of a block add up in int16 (at most
// 8 * 2 * 15 * 127 = 30480 in magnitude: no saturation) and one VPMADDWD widens them. So
// a block of 8 columns costs 8 multiplies, 8 adds and 5 conversion steps per activation
// row, with no horizontal sums (the row-layout kernel the other legacy types use in
// matmul_avx2.cc spends about 13 instructions per column and block): decode runs at
// memory speed, and a verification pass of a few rows (speculative decoding) reads the
// weights once for all of them.
//
// Q8_0 (8 vectors a block) feeds |w| and the activation with w's sign to VPMADDUBSW and
// widens each product to int32 (two pairs of 128 * 127 could overflow int16).
//
// Arithmetic per (row, column) and block b, in this order (the AVX-512 Panel16 kernel's):
//   s = sum(w_b * a_b)   (int32, exact; Q4_0 computes it as -8 * sum(a_b) + sum(u_b * a_b)
//                         with u the unsigned nibbles)
//   acc = fma(float(s) * dw_b, da_b, acc)   (acc from 0, b = 0, 1, ...)
// Nothing depends on m, on the row grouping or on the column split.
// Thread-safety: each thread uses its own scratch (thread_local).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/x86/panel_prefetch.h"
#include "kernels/panel_layout.h"
#include "kernels/scratch_window.h"

namespace weft::kernels::avx2 {
namespace {

// Up to this many rows run in one micro-kernel call over all their columns, with the
// activations pre-broadcast (ExpandedAct): a decode step or a verification pass of
// 1 + 4 drafts. More rows (prefill) go kPrefillMR at a time against two groups,
// broadcasting in registers (2 rows x 2 groups beat 4 x 1 and 1 x 2 by 1.3-1.4x at
// k 2048, n 8192, m 64 / 512: kernels_bench MatMul/avx2/Q4_0/.../panel16).
constexpr int kDirectMaxRows = 5;
constexpr int kPrefillMR = 2;

// One activation row with each 4-byte group already broadcast to 32 bytes: block b's
// vector v (0..7) holds values 4v .. 4v + 3 (Q4_0: the low nibbles of weight vector v meet
// vector v, the high ones vector 4 + v), so that VPMADDUBSW reads them from memory.
struct ExpandedAct {
  const __m256i* x;  // [nb][8]
  const float* d;
  const int32_t* corr;  // Q4_0's -8 * sum(a_b) per block; nullptr for Q8_0
  __m256i Vec(int64_t b, int v) const { return _mm256_load_si256(x + 8 * b + v); }
};

// The quantised row as it is (prefill: 8 times smaller than ExpandedAct, so that many
// rows' activations stay in cache).
struct CompactAct {
  const int8_t* q;
  const float* d;
  const int32_t* corr;  // as in ExpandedAct
  static __m256i Bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  __m256i Vec(int64_t b, int v) const { return Bcast4(q + 32 * b + 4 * v); }
};

// Stores 8 floats to y[0 .. min(8, cols)).
inline void StoreCols(float* y, int64_t cols, __m256 v) {
  if (cols >= 8) return _mm256_storeu_ps(y, v);
  if (cols <= 0) return;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols)), lane), v);
}

// Rows rows[0 .. MR) against NR groups of 16 columns of type T over all nb blocks; writes
// the results to y (row i at y + i * y_stride, group j's columns at 16j; `cols` columns
// exist).
template <DType T, int MR, int NR, class Act>
void Micro(const Act* rows, const uint8_t* const* groups, size_t scales_offset, int64_t nb, float* y,
           int64_t y_stride, int64_t cols) {
  constexpr int H = 2 * NR;  // halves of 8 columns
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 f[MR][H];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h) f[i][h] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    // Weights stream from memory once: ask for the block kPanelPrefetchBlocks ahead.
    for (int j = 0; j < NR; ++j) {
      PrefetchPanelBlock<T == DType::kQ8_0 ? 8 : 4>(groups[j], scales_offset, b + kPanelPrefetchBlocks);
    }
    __m256i s[MR][H];
    if constexpr (T == DType::kQ8_0) {
      // Q8_0: the panel holds w + 128; VPMADDUBSW takes |w| and the activation with w's
      // sign (a pair sums to at most 2 * 128 * 127, but two pairs could overflow int16,
      // so each product widens to int32 at once).
      const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
      for (int t = 0; t < 8; ++t) {
        __m256i w[H], aw[H];
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) {
          w[h] = _mm256_xor_si256(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(groups[h / 2] + (b * 8 + t) * 64 + 32 * (h % 2))),
              bias);
          aw[h] = _mm256_abs_epi8(w[h]);
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
          const __m256i a = rows[i].Vec(b, t);
#pragma GCC unroll 16
          for (int h = 0; h < H; ++h) {
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[h], _mm256_sign_epi8(a, w[h])), ones);
            s[i][h] = t == 0 ? p : _mm256_add_epi32(s[i][h], p);
          }
        }
      }
    } else {  // Q4_0
      for (int t = 0; t < 4; ++t) {
        __m256i lo[H], hi[H];
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) {
          const __m256i v =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(groups[h / 2] + (b * 4 + t) * 64 + 32 * (h % 2)));
          lo[h] = _mm256_and_si256(v, m4);
          hi[h] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
          const __m256i a_lo = rows[i].Vec(b, t), a_hi = rows[i].Vec(b, 4 + t);
#pragma GCC unroll 16
          for (int h = 0; h < H; ++h) {
            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], a_lo), _mm256_maddubs_epi16(hi[h], a_hi));
            s[i][h] = t == 0 ? p : _mm256_add_epi16(s[i][h], p);
          }
        }
      }
      // The int16 sums widened, with the offset term -8 * sum(a_b).
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const __m256i c = _mm256_set1_epi32(rows[i].corr[b]);
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) s[i][h] = _mm256_add_epi32(_mm256_madd_epi16(s[i][h], ones), c);
      }
    }
    __m256 dw[H];
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h) {
      dw[h] = _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(groups[h / 2] + scales_offset + 32 * b + 16 * (h % 2))));
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 da = _mm256_set1_ps(rows[i].d[b]);
#pragma GCC unroll 16
      for (int h = 0; h < H; ++h) {
        f[i][h] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s[i][h]), dw[h]), da, f[i][h]);
      }
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h) StoreCols(y + i * y_stride + 8 * h, cols - 8 * h, f[i][h]);
  }
}

// Micro<R, NR> for R = rows (1 .. MR).
template <DType T, int MR, int NR, class Act>
void MicroRows(int64_t rows, const Act* r, const uint8_t* const* groups, size_t scales_offset, int64_t nb, float* y,
               int64_t y_stride, int64_t cols) {
  if constexpr (MR > 0) {
    if (rows == MR) return Micro<T, MR, NR>(r, groups, scales_offset, nb, y, y_stride, cols);
    MicroRows<T, MR - 1, NR>(rows, r, groups, scales_offset, nb, y, y_stride, cols);
  }
}

// Passes of NR groups of 16 columns from n0 while n < n_stop (each pass's groups exist:
// the caller's n_stop says so), writing only columns below n1; each pass runs all rows,
// MR at a time (MR >= m: all at once).
template <DType T, int MR, int NR, class Act>
void Columns(const MatMulArgs& A, const Act* rows, int64_t n0, int64_t n_stop, int64_t n1) {
  for (int64_t n = n0; n < n_stop; n += 16 * NR) {
    const uint8_t* groups[NR];
    for (int j = 0; j < NR; ++j) groups[j] = A.w + static_cast<size_t>(n / 16 + j) * A.w_group_bytes;
    const int64_t cols = std::min<int64_t>(16 * NR, n1 - n);
    for (int64_t r = 0; r < A.m; r += MR) {
      MicroRows<T, MR, NR>(std::min<int64_t>(MR, A.m - r), rows + r, groups, A.w_scales_offset, A.k / 32,
                        A.y + r * A.y_stride + n, A.y_stride, cols);
    }
  }
}

struct alignas(32) Lane8 {
  int32_t v[8];
};

struct Scratch {
  std::vector<int32_t> corr;        // [m][nb], Q4_0 only
  std::vector<Lane8> expanded;      // [m][nb][8] when m <= kDirectMaxRows
  std::vector<ExpandedAct> direct;  // [m]
  std::vector<CompactAct> compact;  // [m]
};

template <DType T>
void DrivePanel(const MatMulArgs& A, int64_t n0, int64_t n1) {
  thread_local Scratch S;
  const int64_t nb = A.k / 32;
  const auto m = static_cast<size_t>(A.m);
  // Q4_0's offset term per row and block (Q8_0 sums the signed weights directly: the same
  // integer as -128 * sum(a) + sum((w + 128) * a), and needs none).
  auto corr_of = [&](int64_t r) -> const int32_t* { return T == DType::kQ4_0 ? S.corr.data() + r * nb : nullptr; };
  if constexpr (T == DType::kQ4_0) {
    S.corr.resize(std::max(S.corr.size(), m * static_cast<size_t>(nb)));
    for (int64_t r = 0; r < A.m; ++r) {
      const QuantActRow row = A.xq_layout.Row(A.xq, r);
      int32_t* corr = S.corr.data() + r * nb;
      for (int64_t b = 0; b < nb; ++b) corr[b] = -8 * (row.bsum[2 * b] + row.bsum[2 * b + 1]);
    }
  }
  // Passes of two groups while both exist, then single groups (the last maybe partial).
  const int64_t groups = (n1 - n0 + 15) / 16;
  const int64_t n_pairs = n0 + 32 * (groups / 2);
  if (A.m <= kDirectMaxRows) {
    const size_t vectors = m * static_cast<size_t>(nb) * 8;
    S.expanded.resize(std::max(S.expanded.size(), vectors));
    S.direct.resize(std::max(S.direct.size(), m));
    for (int64_t r = 0; r < A.m; ++r) {
      const QuantActRow row = A.xq_layout.Row(A.xq, r);
      Lane8* x = S.expanded.data() + r * nb * 8;
      WEFT_SCRATCH_WINDOW("Panel16 AVX2 expanded activations", static_cast<size_t>(r * nb * 8),
                          static_cast<size_t>(nb * 8), S.expanded.size());
      for (int64_t b = 0; b < nb; ++b) {
        for (int v = 0; v < 8; ++v) {
          int32_t four;
          std::memcpy(&four, row.q + 32 * b + 4 * v, 4);
          _mm256_store_si256(reinterpret_cast<__m256i*>(x + 8 * b + v), _mm256_set1_epi32(four));
        }
      }
      S.direct[static_cast<size_t>(r)] = {reinterpret_cast<const __m256i*>(x), row.d, corr_of(r)};
    }
    const ExpandedAct* rows = S.direct.data();
    if (A.m <= 2) {  // few rows: two groups per pass, for more independent streams and chains
      Columns<T, kDirectMaxRows, 2>(A, rows, n0, n_pairs, n1);
      Columns<T, kDirectMaxRows, 1>(A, rows, n_pairs, n1, n1);
    } else {
      Columns<T, kDirectMaxRows, 1>(A, rows, n0, n1, n1);
    }
    return;
  }
  S.compact.resize(std::max(S.compact.size(), m));
  for (int64_t r = 0; r < A.m; ++r) {
    const QuantActRow row = A.xq_layout.Row(A.xq, r);
    S.compact[static_cast<size_t>(r)] = {row.q, row.d, corr_of(r)};
  }
  Columns<T, kPrefillMR, 2>(A, S.compact.data(), n0, n_pairs, n1);
  Columns<T, kPrefillMR, 1>(A, S.compact.data(), n_pairs, n1, n1);
}

}  // namespace

void MatMulPanel16(const MatMulArgs& A, int64_t n0, int64_t n1) {
  switch (A.type) {
    case DType::kQ4_0: return DrivePanel<DType::kQ4_0>(A, n0, n1);
    case DType::kQ8_0: return DrivePanel<DType::kQ8_0>(A, n0, n1);
    default: __builtin_trap();  // ops.cc sends only the types in the table's panel_types
  }
}

void MatMulRowsViaPanel(const MatMulArgs& A, int64_t n0, int64_t n1) {
  // The rows packed into Panel16 a chunk at a time, then the Panel16 kernel: one
  // arithmetic for both layouts (bit-identical results).
  constexpr int64_t kChunkRows = 128;
  thread_local std::vector<uint8_t> buf;
  const size_t group_bytes = PanelGroupBytes(A.type, A.k);
  const size_t need = group_bytes * static_cast<size_t>(PanelGroups(kChunkRows)) + 64;
  if (buf.size() < need) buf.resize(need);
  uint8_t* panel = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
  for (int64_t n = n0; n < n1; n += kChunkRows) {
    const int64_t rows = std::min(kChunkRows, n1 - n);
    PackPanel16(A.type, A.w + static_cast<size_t>(n) * A.w_row_bytes, A.k, rows, panel);
    MatMulArgs sub = A;
    sub.w = panel;
    sub.w_group_bytes = group_bytes;
    sub.w_scales_offset = PanelScalesOffset(A.type, A.k);
    sub.y = A.y + n;
    MatMulPanel16(sub, 0, rows);
  }
}

}  // namespace weft::kernels::avx2
