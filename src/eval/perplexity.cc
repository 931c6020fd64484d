#include "eval/perplexity.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "base/half.h"
#include "eval/single_sequence.h"

namespace weft {
namespace {

constexpr char kKlMagic[8] = {'W', 'E', 'F', 'T', 'K', 'L', 'B', '1'};

// log-softmax of a logits row into out (double accumulation).
void LogSoftmax(const float* logits, int64_t n, std::vector<float>* out) {
  float max = logits[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
  const double log_sum = std::log(sum) + max;
  out->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) (*out)[static_cast<size_t>(i)] = static_cast<float>(logits[i] - log_sum);
}

// The KL base file: magic, u32 n_vocab, u32 n_ctx, u32 positions per chunk, then per
// scored position n_vocab F16 log-probabilities.
struct KlBase {
  std::fstream file;
  bool reading = false;
  std::vector<uint16_t> row;
};

}  // namespace

StatusOr<PerplexityResult> ComputePerplexity(ModelRunner* runner, std::span<const int32_t> tokens,
                                             const PerplexityOptions& o,
                                             const std::function<void(const PerplexityProgress&)>& on_chunk) {
  const int64_t n_ctx = o.n_ctx;
  const int64_t n_vocab = runner->config().n_vocab;
  if (n_ctx < 4 || n_ctx > runner->config().context_length) {
    return InvalidArgumentError(fmt::format("context -c {} must be in [4, {}] (the model's context)", n_ctx,
                                            runner->config().context_length));
  }
  int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (o.max_chunks > 0) n_chunks = std::min(n_chunks, o.max_chunks);
  if (n_chunks == 0) {
    return InvalidArgumentError(fmt::format("the text has {} tokens, fewer than one chunk of {} (use a smaller -c)",
                                            tokens.size(), n_ctx));
  }
  const int64_t first_scored = n_ctx / 2;
  const int64_t per_chunk = n_ctx - 1 - first_scored;  // positions first_scored .. n_ctx-2 predict the next token

  KlBase kl;
  PerplexityResult result;
  if (!o.kl_base_path.empty()) {
    std::ifstream probe(o.kl_base_path, std::ios::binary);
    if (probe) {
      char magic[8];
      uint32_t header[3];
      probe.read(magic, 8);
      probe.read(reinterpret_cast<char*>(header), sizeof(header));
      if (!probe || std::memcmp(magic, kKlMagic, 8) != 0) {
        return DataLossError(o.kl_base_path + ": not a weft KL base file");
      }
      if (header[0] != n_vocab || header[1] != n_ctx || header[2] != per_chunk) {
        return InvalidArgumentError(fmt::format("{}: made with vocab {} and -c {}, but this run has vocab {} and -c {}",
                                                o.kl_base_path, header[0], header[1], n_vocab, n_ctx));
      }
      kl.file.open(o.kl_base_path, std::ios::in | std::ios::binary);
      kl.file.seekg(8 + sizeof(header));
      kl.reading = true;
      result.kl_compared = true;
    } else {
      kl.file.open(o.kl_base_path, std::ios::out | std::ios::binary | std::ios::trunc);
      if (!kl.file) return InvalidArgumentError(o.kl_base_path + ": cannot write the KL base file");
      const uint32_t header[3] = {static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(n_ctx),
                                  static_cast<uint32_t>(per_chunk)};
      kl.file.write(kKlMagic, 8);
      kl.file.write(reinterpret_cast<const char*>(header), sizeof(header));
      result.kl_written = true;
    }
  }

  WEFT_ASSIGN_OR_RETURN(auto seq, SingleSequence::Create(runner, n_ctx, 16, o.kv_type));
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  std::vector<int32_t> rows(static_cast<size_t>(per_chunk));
  for (int64_t i = 0; i < per_chunk; ++i) rows[static_cast<size_t>(i)] = static_cast<int32_t>(first_scored + i);
  std::vector<float> logits(static_cast<size_t>(per_chunk * n_vocab));
  std::vector<float> logp, base_logp(static_cast<size_t>(n_vocab));
  double nll_sum = 0, nll_sq_sum = 0, kl_sum = 0;
  int64_t scored = 0, agree = 0;
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityProgress p;
  p.n_chunks = n_chunks;
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx, chunk.begin());
    if (o.bos_id >= 0) chunk[0] = o.bos_id;
    seq->Reset();
    WEFT_RETURN_IF_ERROR(seq->Append(chunk, rows, logits.data()));
    for (int64_t i = 0; i < per_chunk; ++i) {
      const float* row = logits.data() + i * n_vocab;
      LogSoftmax(row, n_vocab, &logp);
      const int32_t next = tokens[static_cast<size_t>(c * n_ctx + first_scored + i + 1)];
      const double nll = -static_cast<double>(logp[static_cast<size_t>(next)]);
      nll_sum += nll;
      nll_sq_sum += nll * nll;
      ++scored;
      if (kl.file.is_open()) {
        kl.row.resize(static_cast<size_t>(n_vocab));
        if (kl.reading) {
          kl.file.read(reinterpret_cast<char*>(kl.row.data()), n_vocab * 2);
          if (!kl.file) return DataLossError(o.kl_base_path + ": ends before this run's positions do");
          double d = 0;
          size_t base_best = 0, best = 0;
          for (size_t v = 0; v < static_cast<size_t>(n_vocab); ++v) {
            base_logp[v] = Fp16ToFloat(kl.row[v]);
            const double pb = std::exp(static_cast<double>(base_logp[v]));
            d += pb * (static_cast<double>(base_logp[v]) - logp[v]);
            if (base_logp[v] > base_logp[base_best]) base_best = v;
            if (logp[v] > logp[best]) best = v;
          }
          kl_sum += d;
          result.kl_max = std::max(result.kl_max, d);
          agree += base_best == best ? 1 : 0;
        } else {
          for (size_t v = 0; v < static_cast<size_t>(n_vocab); ++v) {
            kl.row[v] = FloatToFp16(std::max(logp[v], -60000.0f));
          }
          kl.file.write(reinterpret_cast<const char*>(kl.row.data()), n_vocab * 2);
        }
      }
    }
    const double mean = nll_sum / static_cast<double>(scored);
    const double var = std::max(0.0, nll_sq_sum / static_cast<double>(scored) - mean * mean);
    p.chunk = c + 1;
    p.tokens_scored = scored;
    p.ppl = std::exp(mean);
    p.ppl_stderr = p.ppl * std::sqrt(var / static_cast<double>(scored));
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (on_chunk) on_chunk(p);
  }
  result.final = p;
  if (result.kl_compared && scored > 0) {
    result.kl_mean = kl_sum / static_cast<double>(scored);
    result.top1_agreement = static_cast<double>(agree) / static_cast<double>(scored);
  }
  return result;
}

}  // namespace weft
