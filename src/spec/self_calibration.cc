#include "spec/self_calibration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "eval/single_sequence.h"
#include "model/model_runner.h"

namespace weft {
namespace {

constexpr int64_t kChunk = 64;  // tokens per forward pass (and logits rows)

// The model's argmax after each of tokens[0 .. n-2] (teacher-forced over the text).
StatusOr<std::vector<int32_t>> GreedyPredictions(std::shared_ptr<const Model> model, std::span<const int32_t> tokens,
                                                 int threads) {
  RunnerOptions ro;
  ro.threads = threads;
  ro.max_tokens_per_step = kChunk;
  ro.max_logit_rows = kChunk;
  WEFT_ASSIGN_OR_RETURN(auto runner, ModelRunner::Create(model, ro));
  WEFT_ASSIGN_OR_RETURN(auto seq, SingleSequence::Create(runner.get(), static_cast<int64_t>(tokens.size())));
  const auto n_vocab = static_cast<size_t>(model->config().n_vocab);
  std::vector<float> logits(static_cast<size_t>(kChunk) * n_vocab);
  std::vector<int32_t> rows, out;
  for (size_t start = 0; start + 1 < tokens.size(); start += kChunk) {
    const size_t n = std::min<size_t>(kChunk, tokens.size() - 1 - start);
    rows.resize(n);
    for (size_t i = 0; i < n; ++i) rows[i] = static_cast<int32_t>(i);
    WEFT_RETURN_IF_ERROR(seq->Append(tokens.subspan(start, n), rows, logits.data()));
    for (size_t i = 0; i < n; ++i) {
      const float* r = logits.data() + i * n_vocab;
      out.push_back(static_cast<int32_t>(std::max_element(r, r + n_vocab) - r));
    }
  }
  return out;
}

double Bytes(const Model& m) {
  double b = static_cast<double>(m.OutputMatrix().nbytes);
  for (const TensorView* t : m.LayerMatrices()) b += static_cast<double>(t->nbytes);
  return b;
}

}  // namespace

double EstimatedSpeedup(double a, double c, int k) {
  const double tokens = a >= 1 ? k + 1 : (1 - std::pow(a, k + 1)) / (1 - a);
  return tokens / (1 + k * c);
}

StatusOr<std::vector<SelfCalibrationRow>> CalibrateSelfSpeculation(std::shared_ptr<const Model> target,
                                                                   std::span<const int32_t> tokens,
                                                                   const SelfCalibrationOptions& options,
                                                                   const std::function<void(int, int)>& progress) {
  if (tokens.size() < 2) return InvalidArgumentError("calibration needs a text of at least 2 tokens");
  const int64_t n_layer = target->config().n_layer;
  const int max_skip = options.max_skip < 0 ? static_cast<int>(n_layer / 2)
                                            : std::min<int>(options.max_skip, static_cast<int>(n_layer - 1));
  WEFT_ASSIGN_OR_RETURN(const std::vector<int32_t> reference, GreedyPredictions(target, tokens, options.threads));
  const double target_bytes = Bytes(*target);
  int total = 0;
  for (int r = 0; r < max_skip; ++r) total += static_cast<int>(n_layer) - r;
  int done = 0;
  std::vector<SelfCalibrationRow> rows;
  std::vector<int64_t> skip;
  for (int round = 0; round < max_skip; ++round) {
    SelfCalibrationRow best;
    best.agreement = -1;
    for (int64_t l = 0; l < n_layer; ++l) {
      if (std::find(skip.begin(), skip.end(), l) != skip.end()) continue;
      std::vector<int64_t> s = skip;
      s.push_back(l);
      std::sort(s.begin(), s.end());
      WEFT_ASSIGN_OR_RETURN(auto draft, target->WithoutLayers(s));
      WEFT_ASSIGN_OR_RETURN(const std::vector<int32_t> pred, GreedyPredictions(draft, tokens, options.threads));
      int64_t same = 0;
      for (size_t i = 0; i < pred.size(); ++i) same += pred[i] == reference[i] ? 1 : 0;
      const double agreement = static_cast<double>(same) / static_cast<double>(pred.size());
      if (agreement > best.agreement) {
        best.skip = s;
        best.agreement = agreement;
        best.cost = Bytes(*draft) / target_bytes;
      }
      if (progress) progress(++done, total);
    }
    best.speedup = 0;
    for (int k = 1; k <= options.max_draft; ++k) {
      const double sp = EstimatedSpeedup(best.agreement, best.cost, k);
      if (sp > best.speedup) {
        best.speedup = sp;
        best.best_k = k;
      }
    }
    skip = best.skip;
    rows.push_back(best);
  }
  return rows;
}

}  // namespace weft
