// Per-input-channel scales for the linear layers that read one input, to be folded into
// whatever produces that input (quant/scale_fold.h), so that the float model is unchanged:
// x W^T = (x / s) (W diag(s))^T. Two rules:
//
//   AWQ (Lin et al., 2023): s_c = a_c^alpha with a_c the mean |x_c| over the calibration
//   activations (normalised so that max(s) * min(s) = 1), alpha picked from a grid
//   {0, 1/grid, ..., (grid-1)/grid} by the layers' output error after quantising
//   W diag(s) with the target type's round-to-nearest quantiser:
//       E(alpha) = sum over consumers, rows r of ||d_r X^T||^2 = 1/2 d_r H d_r^T,
//       d_r = w_r - dequant(quant(w_r diag(s))) diag(1/s),   H = 2 X^T X.
//   alpha = 0 is s = 1, plain round-to-nearest; E never exceeds its value, on the
//   calibration inputs H describes. AutoAWQ's form a_c^alpha / w_c^(1-alpha) (w_c: the
//   weights' mean relative magnitude) is searched too (AwqOptions::duo).
//   SmoothQuant (Xiao et al., 2022): s_c = max|x_c|^alpha / max|w_c|^(1-alpha) (w over
//   every consumer row), moving activation outliers into the weights for int8 activations.
//
// Tied columns: a consumer column j belongs to folded channel channel[j] (attn_output under
// grouped-query attention: several query heads read one value head's channel); the
// statistics of tied columns are combined (mean for AWQ, max for SmoothQuant) and they all
// get that channel's scale.
//
// Shapes: consumers' w is [rows, k] row-major (AWQ's search may be given a sample of
// rows); h is [k, k] with its upper triangle (j >= i) read; act, channel are [k]; the
// scales are [channels]. Thread-safety: pure functions; they use `pool`.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace weft::quant {

struct ScaleConsumer {
  const float* w = nullptr;  // [rows, k]
  int64_t rows = 0;
  DType type = DType::kF32;  // the type it will be written in
};

struct ScaleGroup {
  int64_t k = 0;
  const float* h = nullptr;        // [k, k] upper triangle: 2 sum x_i x_j (AWQ's score)
  const float* act = nullptr;      // [k]: mean |x_j| (AWQ) or max |x_j| (SmoothQuant)
  const int32_t* channel = nullptr;  // [k] column -> folded channel; nullptr: the identity
  int64_t channels = 0;            // folded channels (k for the identity)
};

struct AwqOptions {
  int grid = 20;             // alphas tried: i / grid for i in [0, grid)
  double fixed_alpha = -1;   // in [0, 1]: use this alpha, no search
  // Also try AutoAWQ's "duo" scales s_c = a_c^alpha / w_c^(1-alpha), w_c the mean over the
  // consumers' rows of |w_j| / max_j |w| (the row's largest), for every alpha of the grid.
  bool duo = true;
};

struct AwqResult {
  std::vector<float> scales;  // [channels]
  double alpha = 0;
  bool duo = false;  // the duo form won
  double rtn_error = 0;  // E(0): round-to-nearest's output error (0 when not searched)
  double error = 0;      // E(alpha)
};

// Whether quantising to `type` can lose anything AWQ can reduce (the block types).
bool AwqScoresType(DType type);

// The AWQ scales for one group. Consumers of a type AwqScoresType rejects add no error.
AwqResult AwqSearch(const ScaleGroup& g, std::span<const ScaleConsumer> consumers, const AwqOptions& options,
                    ThreadPool& pool);

// s_c = act_c^alpha (/ wmean_c^(1-alpha) when wmean is given, [channels]) clamped at
// 1e-4 and normalised (max * min = 1), for the channels' combined statistic (mean over
// tied columns).
std::vector<float> AwqScales(const ScaleGroup& g, double alpha, const std::vector<float>* wmean = nullptr);

// SmoothQuant's scales (act: max |x|); consumers hold all their rows. A channel whose
// activations or weights are all zero keeps s = 1.
std::vector<float> SmoothQuantScales(const ScaleGroup& g, std::span<const ScaleConsumer> consumers, double alpha);

// 1/2 sum_r d_r H d_r^T with d_r as above, for one consumer and per-column scales
// col_scale [k] (the channel scales expanded to columns).
double ScaledQuantError(const ScaleGroup& g, const ScaleConsumer& c, const float* col_scale, ThreadPool& pool);

}  // namespace weft::quant
