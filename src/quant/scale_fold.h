// Folding per-channel scales (AWQ or SmoothQuant, quant/awq.h) into a GGUF model so that
// it computes the same function in float: for each group of linear layers that read one
// input, their columns are multiplied by s and whatever produced the input is divided by s.
// Per layer l (llama-family names):
//   attn_norm   -> attn_q, attn_k, attn_v   (the RMSNorm weight, and its bias if any, / s)
//   ffn_norm    -> ffn_gate, ffn_up         (dense FFN only; see below)
//   ffn_up rows -> ffn_down                 (gated FFN: down reads act(gate) * up, linear
//                                            in up's rows; up's bias too)
//   attn_v rows -> attn_output              (o reads softmax(.) V per head; under grouped-
//                                            query attention the query heads that share a
//                                            value head share its channel's scale)
// Architectures: llama, qwen2, qwen3, gemma2, gemma3 (Gemma's GGUF norm weights already
// hold 1 + w, which weft multiplies as stored, so w / s is exact). Mixture-of-experts
// models (qwen2moe, qwen3moe, olmoe): the attention groups only; the FFN (router and
// experts) is quantised unscaled (round to nearest). Other architectures are refused by
// name (their norms feed other things, or their projections are fused).
// A group is skipped (named in `skipped`) when a tensor is missing, its consumers did not
// share one calibration input, or a consumer or producer is not a 2-D matrix.
//
// Thread-safety: pure over its arguments; uses `pool`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "loader/gguf.h"
#include "quant/awq.h"
#include "quant/quant_plan.h"
#include "weft/status.h"

namespace weft::quant {

// Calibration statistics of one distinct matmul input (shared by the weights that read it).
struct InputStats {
  int64_t k = 0;
  const float* h = nullptr;         // [k, k] upper triangle 2 X^T X (nullptr: not collected)
  const float* mean_abs = nullptr;  // [k] mean |x_j|
  const float* max_abs = nullptr;   // [k] max |x_j|
  const std::vector<std::string>* readers = nullptr;  // every weight seen reading it (nullptr: unknown)
};
// Weight name -> the statistics of its input (the same pointer for weights sharing it),
// nullptr when none were collected.
using InputStatsFn = std::function<const InputStats*(const std::string& weight)>;

enum class ScaleRule { kAwq, kSmoothQuant };

struct FoldOptions {
  ScaleRule rule = ScaleRule::kAwq;
  AwqOptions awq;
  double smooth_alpha = 0.5;
  int64_t search_rows = 128;  // AWQ scores each consumer on this many evenly spaced rows (0: all)
};

// A tensor's factors: w[r][c] *= col[c] * row[r] (either may be empty: 1). For a 1-D
// tensor (norm weight or bias) col holds its factors.
struct TensorScales {
  std::vector<float> col, row;
};

struct FoldedGroup {
  int layer = 0;
  std::string input;  // "attn_norm", "ffn_norm", "ffn_up", "attn_v"
  double alpha = 0, rtn_error = 0, error = 0;  // AWQ: the chosen alpha and E(0), E(alpha)
  bool duo = false;                            // AWQ: the duo form a^alpha / w^(1-alpha) won
};

struct FoldPlan {
  std::map<std::string, TensorScales> tensors;
  std::vector<FoldedGroup> groups;
  std::vector<std::string> skipped;  // "blk.3 ffn_norm: why"
};

// Architectures whose groups PlanScaleFolding knows; an error naming the architecture
// otherwise (also when general.architecture is missing).
Status CheckScaleFoldArchitecture(const GgufFile& file);

// The scales for every group, scored with the types `plan` gives the consumers.
StatusOr<FoldPlan> PlanScaleFolding(const GgufFile& file, const std::vector<PlannedTensor>& plan,
                                    const InputStatsFn& stats, const FoldOptions& options, ThreadPool& pool);

// Applies `s` to n rows of `ne0` floats (the tensor's rows first_row.. of a matrix, or a
// 1-D tensor as one row).
void ApplyTensorScales(const TensorScales& s, int64_t first_row, int64_t nrows, int64_t ne0, float* rows);

}  // namespace weft::quant
