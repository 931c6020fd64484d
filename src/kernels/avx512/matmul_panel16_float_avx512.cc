// AVX-512 MatMul on Panel16 float weights (F16, BF16; kernels/panel_layout.h): value i
// of 16 columns is one 32-byte load, widened to f32 and multiplied with FMA by row r's
// x[i] broadcast. Output (r, column) accumulates in f32 in one lane, in order:
//   acc = fma(w_i, x_i, acc)   for i = 0, 1, ..., k - 1 (acc from 0)
// whatever m, the row grouping, the column split, the k chunking or the thread count
// (batch invariance). One accumulator chain per output, so many outputs are kept in
// flight: runs of up to 8 rows x 2 groups for prefill, 1 row x 8 groups for decode.
// GCC 12 reports the _mm512_undefined_* inside its own AVX-512 intrinsics as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/scratch_window.h"

namespace weft::kernels::avx512 {
namespace {

template <DType T>
inline __m512 Load16(const uint8_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (T == DType::kF16) {
    return _mm512_cvtph_ps(h);
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// Rows x[0..MR) (each k floats, at x[i]), NR groups at g[j], values [k0, k1).
template <DType T, int MR, int NR>
inline void Micro(const float* const* x, const uint8_t* const* g, int64_t k0, int64_t k1, __m512 (*acc)[NR]) {
  __m512 facc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) facc[i][j] = acc[i][j];
  }
  for (int64_t kk = k0; kk < k1; ++kk) {
    __m512 w[NR];
    for (int j = 0; j < NR; ++j) w[j] = Load16<T>(g[j] + 32 * kk);
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_set1_ps(x[i][kk]);
      for (int j = 0; j < NR; ++j) facc[i][j] = _mm512_fmadd_ps(w[j], xv, facc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) acc[i][j] = facc[i][j];
  }
}

constexpr int kNRDecode = 8;   // groups per pass when m < kMinChunkedRows (decode)
constexpr int kMinChunkedRows = 4;
constexpr int kMR = 8;         // rows per micro-kernel (prefill)
constexpr int kNR = 2;         // groups per pass (prefill)
constexpr int64_t kKC = 256;   // values per k chunk (prefill): 2 groups' chunk = 16 KB

struct alignas(64) Lane16 {
  float f[16];
};

// Stores rows [0, rows) of acc to y (row stride y_stride), `cols` columns of NR groups.
template <int NR>
void StoreRows(__m512 (*acc)[NR], int64_t rows, float* y, int64_t y_stride, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int j = 0; j < NR; ++j) {
      const int64_t left = cols - 16 * j;
      const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
      _mm512_mask_storeu_ps(y + i * y_stride + 16 * j, mk, acc[i][j]);
    }
  }
}

// The NR groups of 16 columns from column n (a multiple of 16).
template <int NR>
void GroupsAt(const MatMulArgs& A, int64_t n, const uint8_t* (&g)[NR]) {
  for (int j = 0; j < NR; ++j) g[j] = A.w + static_cast<size_t>(n / 16 + j) * A.w_group_bytes;
}

// Few rows (decode): columns [n, n + cols) (NR groups; cols > 16 * (NR - 1)), each row
// over all k with its accumulators in registers.
template <DType T, int NR>
void ColumnsDirect(const MatMulArgs& A, int64_t n, int64_t cols) {
  const uint8_t* g[NR];
  GroupsAt<NR>(A, n, g);
  for (int64_t r = 0; r < A.m; ++r) {
    __m512 acc[1][NR];
    for (int j = 0; j < NR; ++j) acc[0][j] = _mm512_setzero_ps();
    const float* x[1] = {A.x + r * A.x_stride};
    Micro<T, 1, NR>(x, g, 0, A.k, acc);
    StoreRows<NR>(acc, 1, A.y + r * A.y_stride + n, A.y_stride, cols);
  }
}

// Runs Micro<T, R, NR> on R = rows (1 .. MR) rows.
template <DType T, int NR, int MR>
void MicroTail(int64_t rows, const float* const* x, const uint8_t* const* g, int64_t k0, int64_t k1,
               __m512 (*acc)[NR]) {
  if constexpr (MR > 0) {
    if (rows == MR) return Micro<T, MR, NR>(x, g, k0, k1, acc);
    MicroTail<T, NR, MR - 1>(rows, x, g, k0, k1, acc);
  }
}

// Many rows (prefill): columns [n, n + cols) (NR groups) for all rows, k chunk by k
// chunk: each chunk's weights stay in L1 while every run of rows uses them, widened as
// they are read (widening them once into an f32 buffer instead was no faster on Zen 5 at
// m = 512 and slower at m = 16 and 64, where the copy no longer overlaps the FMAs);
// accumulators live in a per-thread buffer between chunks.
template <DType T, int NR>
void ColumnsChunked(const MatMulArgs& A, int64_t n, int64_t cols) {
  const uint8_t* g[NR];
  GroupsAt<NR>(A, n, g);
  thread_local std::vector<Lane16> accbuf;  // [m][NR], read as __m512
  const auto need = static_cast<size_t>(A.m) * NR;
  if (accbuf.size() < need) accbuf.resize(need);
  auto* acc = reinterpret_cast<__m512(*)[NR]>(accbuf.data());
  for (int64_t r = 0; r < A.m; ++r) {
    for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  // Runs of at most kMR rows, of near-equal size (9 rows: 5 + 4, not 8 + 1).
  const int64_t runs = (A.m + kMR - 1) / kMR;
  for (int64_t k0 = 0; k0 < A.k; k0 += kKC) {
    const int64_t k1 = std::min(A.k, k0 + kKC);
    for (int64_t run = 0, r = 0; run < runs; ++run) {
      const int64_t rows = (A.m - r + (runs - run) - 1) / (runs - run);
      const float* x[kMR];
      for (int64_t i = 0; i < rows; ++i) x[i] = A.x + (r + i) * A.x_stride;
      WEFT_SCRATCH_WINDOW("F16/BF16 panel accumulators", static_cast<size_t>(r) * NR, static_cast<size_t>(rows) * NR,
                          accbuf.size());
      MicroTail<T, NR, kMR>(rows, x, g, k0, k1, acc + r);
      r += rows;
    }
  }
  StoreRows<NR>(acc, A.m, A.y + n, A.y_stride, cols);
}

template <DType T>
void Drive(const MatMulArgs& A, int64_t n0, int64_t n1) {
  int64_t n = n0;
  if (A.m < kMinChunkedRows) {
    for (; n + 16 * (kNRDecode - 1) < n1; n += 16 * kNRDecode) {
      ColumnsDirect<T, kNRDecode>(A, n, std::min<int64_t>(16 * kNRDecode, n1 - n));
    }
    for (; n < n1; n += 16) ColumnsDirect<T, 1>(A, n, std::min<int64_t>(16, n1 - n));
    return;
  }
  for (; n + 16 * (kNR - 1) < n1; n += 16 * kNR) ColumnsChunked<T, kNR>(A, n, std::min<int64_t>(16 * kNR, n1 - n));
  for (; n < n1; n += 16) ColumnsChunked<T, 1>(A, n, std::min<int64_t>(16, n1 - n));
}

}  // namespace

void MatMulPanel16Float(const MatMulArgs& A, int64_t n0, int64_t n1) {
  if (A.type == DType::kF16) return Drive<DType::kF16>(A, n0, n1);
  return Drive<DType::kBF16>(A, n0, n1);
}

}  // namespace weft::kernels::avx512
