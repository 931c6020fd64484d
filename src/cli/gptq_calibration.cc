#include "cli/gptq_calibration.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>
#include <vector>

#include "base/mapped_file.h"
#include "cli/progress.h"
#include "eval/single_sequence.h"
#include "model/model_runner.h"
#include "tokenizer/tokenizer.h"
#include "weft/engine.h"

namespace weft::cli {

StatusOr<std::unique_ptr<HessianCollector>> CollectHessians(const CalibrationOptions& o, ThreadPool* pool) {
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(o.text_file));
  if (o.n_ctx < 16) return InvalidArgumentError("--calib-ctx: at least 16 tokens per chunk");
  RunnerOptions options;
  options.threads = o.threads;
  options.max_tokens_per_step = std::min<int64_t>(o.n_ctx, 512);
  options.max_logit_rows = 1;
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(o.model, OpenModelOptions{}));
  WEFT_ASSIGN_OR_RETURN(auto runner, ModelRunner::Create(m.model, options));
  const Tokenizer* tokenizer = m.tokenizer.get();
  EncodeOptions enc;
  enc.add_special = tokenizer->vocab().add_bos;
  std::vector<int32_t> tokens = tokenizer->Encode(text, enc);
  const int64_t n_ctx = o.n_ctx;
  const int64_t available = static_cast<int64_t>(tokens.size()) / n_ctx - o.skip_chunks;
  if (available < 1) {
    return InvalidArgumentError(fmt::format("--calib {}: {} tokens hold no chunk of {} after skipping {}", o.text_file,
                                            tokens.size(), n_ctx, o.skip_chunks));
  }
  const int64_t n_chunks = o.chunks < 0 ? available : std::min(o.chunks, available);
  const int32_t bos = tokenizer->vocab().add_bos ? tokenizer->bos_id() : -1;
  auto collector = std::make_unique<HessianCollector>(pool, o.with_hessian);
  runner->SetMatMulObserver(collector.get());
  WEFT_ASSIGN_OR_RETURN(auto seq, SingleSequence::Create(runner.get(), n_ctx, 16));
  const int64_t step = options.max_tokens_per_step;
  std::fprintf(stderr, "weft quantize: %s calibration on %s: %lld chunks of %lld tokens (after skipping %lld)\n",
               o.label.c_str(), o.text_file.c_str(), static_cast<long long>(n_chunks), static_cast<long long>(n_ctx),
               static_cast<long long>(o.skip_chunks));
  ProgressBar bar("calibrate");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (int64_t i = 0; i < n_chunks; ++i) {
    std::copy_n(tokens.begin() + (o.skip_chunks + i) * n_ctx, n_ctx, chunk.begin());
    if (bos >= 0) chunk[0] = bos;
    seq->Reset();
    for (int64_t s0 = 0; s0 < n_ctx; s0 += step) {
      const int64_t n = std::min(step, n_ctx - s0);
      WEFT_RETURN_IF_ERROR(seq->Append(
          std::span<const int32_t>(chunk).subspan(static_cast<size_t>(s0), static_cast<size_t>(n)), {}, nullptr));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.Update(i + 1, n_chunks,
               fmt::format("chunk {}/{}, {:.0f} tok/s, {} {}", i + 1, n_chunks,
                           static_cast<double>((i + 1) * n_ctx) / secs, collector->num_groups(),
                           o.with_hessian ? "Hessians" : "inputs"));
  }
  bar.Finish();
  runner->SetMatMulObserver(nullptr);
  if (collector->num_groups() == 0) return InvalidArgumentError(o.label + " calibration: no blk.* matmul inputs were seen");
  return collector;
}

}  // namespace weft::cli
