// GPTQ (Frantar et al., 2022): quantisation of a linear layer's weights that compensates
// each column's rounding error on the columns not yet quantised, using the Hessian of
// the layer's output error H = 2 X^T X (X: the layer's calibration inputs), so that
// ||X W^T - X Ŵ^T||^2 is smaller than with round-to-nearest. The result is written in
// GGUF block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K) that the existing kernels
// run.
//
// Shapes: W is [rows, k] row-major (one output feature per row, k = input width, the
// GGUF ne[0]); H is [k, k]; the output is rows * RowBytes(type, k) bytes.
//
// The procedure (GptqFactor, then GptqQuantizeRows):
//   1. dead inputs (H[i][i] == 0) get H[i][i] = 1; then H += percdamp * mean(diag H) * I
//      (the damping is raised tenfold, up to 4 times, if the matrix is still not positive
//      definite in double precision);
//   2. U = the upper Cholesky factor of H^-1 (H^-1 = U^T U), computed from the lower
//      Cholesky factor of the reversed H without forming H^-1;
//   3. columns are quantised left to right; the rounding error of column i, divided by
//      U[i][i], is subtracted times U[i][j] from every later column j: eagerly inside a
//      lazy batch of 128 columns, for the columns after it once per batch;
//   4. block scales: when a column starts a quantisation block (32 or 256 columns), the
//      block's scales (and mins) are fitted to its current, error-updated weights by
//      weft's quantiser for the type (round-to-nearest fit, or the importance-weighted
//      one with diag(H) as the weights); every column of the block is then rounded to
//      the nearest level under those scales.
//   Act-order (optional): columns are taken by decreasing H[i][i] (the most active inputs
//   first, while most columns are left to absorb their errors); since a block's columns
//   are then spread over the whole order, every block's scales are fitted up front to the
//   original weights ("static groups"), and U is the factor of the permuted Hessian.
// With H = identity no error moves between columns and the bytes are QuantizeRows's
// (round-to-nearest fit) or QuantizeRowsWeighted's with weights 1 (weighted fit).
//
// Memory: FactorHessian needs two k*k double matrices while it runs (k = 5632: 254 MB each);
// the factor it returns is k*k floats. Thread-safety: pure functions; they use `pool`.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "tensor/dtype.h"
#include "weft/status.h"

namespace weft::quant {

// Types GptqQuantizeRows writes.
bool GptqSupports(DType type);

struct GptqFactor {
  int64_t k = 0;
  std::vector<float> u;     // [k, k] upper triangular: H^-1 = U^T U
  std::vector<float> diag;  // [k] diag(H) before damping (dead columns 0): the fit weights
  int dead = 0;             // columns with H[i][i] == 0
  double damp = 0;          // the damping added to the diagonal
  std::vector<int32_t> perm;  // act-order: processing position -> column (empty: natural order)
};

// h: [k, k] symmetric (only the upper triangle, j >= i, is read). percdamp: fraction of
// the mean diagonal added (GPTQ's default 0.01). act_order: U in the order of decreasing
// H[i][i] (perm), for GptqQuantizeRows to take the columns in that order.
StatusOr<GptqFactor> FactorHessian(const float* h, int64_t k, double percdamp, bool act_order, ThreadPool& pool);

struct GptqOptions {
  bool weighted_fit = true;  // block scales by the importance-weighted fit (weights diag(H))
  int lazy_batch = 128;      // columns per lazy batch (a multiple of 32; 256-blocks need 128 | 256)
};

// Quantises w (modified: it ends holding the quantised weights' values) into out.
void GptqQuantizeRows(DType type, float* w, int64_t rows, const GptqFactor& f, const GptqOptions& options,
                      uint8_t* out, ThreadPool& pool);

}  // namespace weft::quant
