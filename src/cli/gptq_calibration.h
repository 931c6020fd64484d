// Calibration for `weft quantize --method gptq|awq` and `--smooth`: runs a text through
// the unquantised model and collects every blk.* weight's input Hessian and per-column
// |x| statistics (eval/hessian_collector.h). The
// chunking is weft imatrix's (llama-imatrix's): the text is encoded with BOS in front
// (when the model adds one), the first skip_chunks chunks of n_ctx tokens are dropped,
// then up to `chunks` chunks are each evaluated from position 0 with their first token
// replaced by BOS. The model is closed before this returns.
// Thread-safety: one call at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/thread_pool.h"
#include "eval/hessian_collector.h"
#include "weft/status.h"

namespace weft::cli {

struct CalibrationOptions {
  std::string model, text_file;
  int64_t n_ctx = 512;
  int64_t chunks = 64;
  int64_t skip_chunks = 0;
  int threads = 0;
  std::string label = "gptq";  // for messages: the method calibrating
  bool with_hessian = true;    // false: the per-column |x| statistics only (SmoothQuant)
};

// `pool` accumulates the Hessians (not the runner's pool).
StatusOr<std::unique_ptr<HessianCollector>> CollectHessians(const CalibrationOptions& o, ThreadPool* pool);

}  // namespace weft::cli
