// Self-speculative calibration (Draft & Verify, Zhang et al. 2023): which layers of the
// target to skip so that the remaining layers draft well. Greedy, as the paper's simplest
// search: starting from no skipped layer, each round adds the layer whose skipping keeps
// the draft's greedy agreement with the target highest, on a text, teacher-forced (both
// models read the text; at each position the draft's argmax is compared with the
// target's). For each skip set the expected speedup at the best draft length K is
//   E[tokens per target pass] = (1 - a^(K+1)) / (1 - a)   (a = agreement, per token)
//   cost per pass             = 1 + K * c                  (c = draft bytes / target bytes
//                                                           read per token; a pass of
//                                                           K + 1 tokens costs ~1 when
//                                                           decode is bound by the weights)
// which assumes acceptances independent per position: an estimate to rank skip sets, not
// a measurement (weft bench --spec self:... measures).
// Thread-safety: none (runs its own model runners on the calling thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "model/model.h"
#include "weft/status.h"

namespace weft {

struct SelfCalibrationOptions {
  int threads = 0;
  int max_skip = -1;     // layers to skip at most (-1: half the layers)
  int max_draft = 8;     // K considered: 1 .. max_draft
};

struct SelfCalibrationRow {
  std::vector<int64_t> skip;  // sorted
  double agreement = 0;       // of the draft's argmax with the target's, over the text
  double cost = 0;            // c above
  int best_k = 1;
  double speedup = 0;         // estimated at best_k
};

// Speedup estimate for agreement a, cost ratio c, draft length k (see above).
double EstimatedSpeedup(double a, double c, int k);

// Rows for 1, 2, ... max_skip skipped layers (each round's best). `tokens` (>= 2) is the
// text. `progress(done, total)` is called after each evaluated skip set, when set.
StatusOr<std::vector<SelfCalibrationRow>> CalibrateSelfSpeculation(
    std::shared_ptr<const Model> target, std::span<const int32_t> tokens, const SelfCalibrationOptions& options,
    const std::function<void(int, int)>& progress = {});

}  // namespace weft
