// AVX-512 MatMul on Panel16 float weights (F16, BF16; kernels/panel_layout.h): value i
// of 16 columns is one 32-byte load, widened to f32 and multiplied with FMA by row r's
// x[i] broadcast. Output (r, column) accumulates in f32 in one lane, in order:
//   acc = fma(w_i, x_i, acc)   for i = 0, 1, ..., k - 1 (acc from 0)
// whatever m, the row grouping, the column split, the k chunking or the thread count
// (batch invariance). One accumulator chain per output, so many outputs are kept in
// flight: 8 rows x 2 groups for prefill, 1 row x 8 groups for decode.
// GCC 12 reports the _mm512_undefined_* inside its own AVX-512 intrinsics as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/avx512/avx512_kernels.h"

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

constexpr int kMR = 8;         // rows per micro-kernel (prefill)
constexpr int kNR = 2;         // groups per pass (prefill)
constexpr int kNRDecode = 8;   // groups per pass when m < 4
constexpr int64_t kKC = 256;   // values per k chunk (prefill): 2 groups' chunk = 16 KB

// Columns [n, n + cols) (NR groups; cols > 16 * (NR - 1)) for all rows.
template <DType T, int NR>
void Columns(const MatMulArgs& A, int64_t n, int64_t cols) {
  const uint8_t* g[NR];
  for (int j = 0; j < NR; ++j) g[j] = A.w + static_cast<size_t>(n / 16 + j) * A.w_group_bytes;
  const int64_t kc = A.m < 4 ? A.k : kKC;
  // For each k chunk, every block of kMR rows: the chunk's weights stay in L1 while all
  // rows use them; accumulators live in `accbuf` between chunks.
  auto store = [&](int64_t r, __m512 (*acc)[NR], int rows) {
    for (int i = 0; i < rows; ++i) {
      float* y = A.y + (r + i) * A.y_stride + n;
      for (int j = 0; j < NR; ++j) {
        const int64_t left = cols - 16 * j;
        const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
        _mm512_mask_storeu_ps(y + 16 * j, mk, acc[i][j]);
      }
    }
  };
  struct alignas(64) Lane16 {
    float f[16];
  };
  thread_local std::vector<Lane16> accbuf;  // [m][NR], read as __m512
  const auto need = static_cast<size_t>(A.m) * NR;
  if (accbuf.size() < need) accbuf.resize(need);
  auto* acc = reinterpret_cast<__m512(*)[NR]>(accbuf.data());
  for (int64_t r = 0; r < A.m; ++r) {
    for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  for (int64_t k0 = 0; k0 < A.k; k0 += kc) {
    const int64_t k1 = std::min(A.k, k0 + kc);
    int64_t r = 0;
    for (; r + kMR <= A.m; r += kMR) {
      const float* x[kMR];
      for (int i = 0; i < kMR; ++i) x[i] = A.x + (r + i) * A.x_stride;
      Micro<T, kMR, NR>(x, g, k0, k1, acc + r);
    }
    for (; r < A.m; ++r) {
      const float* x[1] = {A.x + r * A.x_stride};
      Micro<T, 1, NR>(x, g, k0, k1, acc + r);
    }
  }
  store(0, acc, static_cast<int>(A.m));
}

template <DType T>
void Drive(const MatMulArgs& A, int64_t n0, int64_t n1) {
  int64_t n = n0;
  if (A.m < 4) {
    for (; n + 16 * (kNRDecode - 1) < n1; n += 16 * kNRDecode) {
      Columns<T, kNRDecode>(A, n, std::min<int64_t>(16 * kNRDecode, n1 - n));
    }
  }
  for (; n < n1; n += 16 * kNR) {
    const int64_t cols = std::min<int64_t>(16 * kNR, n1 - n);
    if (cols > 16) {
      Columns<T, 2>(A, n, cols);
    } else {
      Columns<T, 1>(A, n, cols);
    }
  }
}

}  // namespace

void MatMulPanel16Float(const MatMulArgs& A, int64_t n0, int64_t n1) {
  if (A.type == DType::kF16) return Drive<DType::kF16>(A, n0, n1);
  return Drive<DType::kBF16>(A, n0, n1);
}

}  // namespace weft::kernels::avx512
