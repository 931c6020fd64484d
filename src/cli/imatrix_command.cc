// weft imatrix MODEL -f TEXT -o FILE: runs a calibration text through the model in
// chunks and writes the importance matrix (the mean square of every matmul input
// column; eval/imatrix_collector.h) in llama.cpp's imatrix file format
// (quant/imatrix_file.h), for `weft quantize --imatrix` or llama-quantize. The chunking
// is llama-imatrix's: the whole text is encoded with BOS in front (when the model adds
// one), cut into chunks of -c tokens, each chunk's first token replaced by BOS, each
// chunk evaluated from position 0 in steps of at most 512 tokens.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "base/mapped_file.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "cli/progress.h"
#include "eval/imatrix_collector.h"
#include "eval/single_sequence.h"
#include "model/model_runner.h"
#include "quant/imatrix_file.h"
#include "tokenizer/tokenizer.h"
#include "weft/engine.h"

namespace weft::cli {
namespace {

struct Args {
  std::string model, file, out = "imatrix.dat";
  std::vector<std::string> in_files;
  int64_t n_ctx = 512;
  int64_t chunks = -1;  // -1: all
  int64_t skip_chunks = 0;
  bool process_output = false;
  int threads = 0;
};

Status Run(const Args& a) {
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(a.file));
  RunnerOptions options;
  options.threads = a.threads;
  options.max_tokens_per_step = std::min<int64_t>(a.n_ctx, 512);
  options.max_logit_rows = options.max_tokens_per_step;
  // No --tp / --expert-cache-mem: the collector needs whole, resident weights.
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, OpenModelOptions{}));
  WEFT_ASSIGN_OR_RETURN(auto runner, ModelRunner::Create(m.model, options));
  const Tokenizer* tokenizer = m.tokenizer.get();
  EncodeOptions enc;
  enc.add_special = tokenizer->vocab().add_bos;
  std::vector<int32_t> tokens = tokenizer->Encode(text, enc);
  const int64_t n_ctx = a.n_ctx;
  if (n_ctx < 16) return InvalidArgumentError("-c: chunks of fewer than 16 tokens collect nothing (llama-imatrix's rule)");
  if (a.skip_chunks > 0) {
    if (static_cast<size_t>((a.skip_chunks + 2) * n_ctx) >= tokens.size()) {
      return InvalidArgumentError(fmt::format("--chunk {}: too few tokens ({}) left after skipping", a.skip_chunks,
                                              tokens.size()));
    }
    tokens.erase(tokens.begin(), tokens.begin() + a.skip_chunks * n_ctx);
  }
  if (static_cast<int64_t>(tokens.size()) < 2 * n_ctx) {
    return InvalidArgumentError(fmt::format("{} encodes to {} tokens; chunks of {} need at least {} (as llama-imatrix)",
                                            a.file, tokens.size(), n_ctx, 2 * n_ctx));
  }
  const int64_t max_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  const int64_t n_chunks = a.chunks < 0 ? max_chunks : std::min(a.chunks, max_chunks);
  const int32_t bos = tokenizer->vocab().add_bos ? tokenizer->bos_id() : -1;
  const ModelConfig& c = runner->config();

  ImatrixCollector collector(c.n_expert, a.process_output);
  runner->SetMatMulObserver(&collector);
  WEFT_ASSIGN_OR_RETURN(auto seq, SingleSequence::Create(runner.get(), n_ctx, 16));
  const int64_t step = options.max_tokens_per_step;
  // Perplexity of each chunk's second half, as llama-imatrix prints it (a sanity check of
  // the run): the rows are requested step by step.
  std::vector<float> logits(static_cast<size_t>(step * c.n_vocab));
  std::vector<int32_t> rows;
  double nll = 0;
  int64_t scored = 0;
  std::fprintf(stderr, "weft imatrix: %zu tokens, %lld chunks of %lld, %s kernels\n", tokens.size(),
               static_cast<long long>(n_chunks), static_cast<long long>(n_ctx), runner->isa_name());
  ProgressBar bar("imatrix");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (int64_t i = 0; i < n_chunks; ++i) {
    std::copy_n(tokens.begin() + i * n_ctx, n_ctx, chunk.begin());
    if (bos >= 0) chunk[0] = bos;
    seq->Reset();
    for (int64_t s0 = 0; s0 < n_ctx; s0 += step) {
      const int64_t n = std::min(step, n_ctx - s0);
      rows.clear();
      for (int64_t r = 0; r < n; ++r) {
        if (s0 + r >= n_ctx / 2 && s0 + r < n_ctx - 1) rows.push_back(static_cast<int32_t>(r));
      }
      collector.BeginStep();
      WEFT_RETURN_IF_ERROR(seq->Append(std::span<const int32_t>(chunk).subspan(static_cast<size_t>(s0), static_cast<size_t>(n)),
                                       rows, logits.data()));
      for (size_t r = 0; r < rows.size(); ++r) {
        const float* row = logits.data() + r * static_cast<size_t>(c.n_vocab);
        const float mx = *std::max_element(row, row + c.n_vocab);
        double sum = 0;
        for (int64_t v = 0; v < c.n_vocab; ++v) sum += std::exp(static_cast<double>(row[v] - mx));
        const int32_t next = tokens[static_cast<size_t>(i * n_ctx + s0 + rows[r] + 1)];
        nll += -(static_cast<double>(row[next] - mx) - std::log(sum));
        ++scored;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.Update(i + 1, n_chunks,
               fmt::format("chunk {}/{}, ppl {:.4f}, {:.0f} tok/s, {} tensors", i + 1, n_chunks,
                           std::exp(nll / static_cast<double>(std::max<int64_t>(1, scored))),
                           static_cast<double>((i + 1) * n_ctx) / secs, collector.num_entries()));
  }
  bar.Finish();
  runner->SetMatMulObserver(nullptr);

  std::vector<std::string> skipped;
  quant::Imatrix result = collector.Result(static_cast<int32_t>(n_chunks), a.file, &skipped);
  for (const std::string& name : skipped) {
    std::fprintf(stderr, "weft imatrix: %s has columns no token reached (an unused expert): left out\n", name.c_str());
  }
  // --in-file: earlier matrices are added to this one (sums and calls), as llama-imatrix does.
  for (const std::string& path : a.in_files) {
    WEFT_ASSIGN_OR_RETURN(quant::Imatrix prev, quant::ReadImatrix(path));
    for (auto& [name, e] : prev.entries) {
      auto it = result.entries.find(name);
      if (it == result.entries.end()) {
        result.entries[name] = e;
        continue;
      }
      if (it->second.values.size() != e.values.size()) {
        return InvalidArgumentError(fmt::format("--in-file {}: {} has {} values, this model {}", path, name,
                                                e.values.size(), it->second.values.size()));
      }
      for (size_t j = 0; j < e.values.size(); ++j) it->second.values[j] += e.values[j];
      it->second.ncall += e.ncall;
    }
    result.chunks += prev.chunks;
  }
  if (result.entries.empty()) return InvalidArgumentError("no matmul inputs were collected");
  WEFT_RETURN_IF_ERROR(quant::WriteImatrix(result, a.out));
  std::printf("imatrix: %zu entries from %lld chunks of %lld tokens (ppl %.4f) written to %s\n",
              result.entries.size(), static_cast<long long>(n_chunks), static_cast<long long>(n_ctx),
              std::exp(nll / static_cast<double>(std::max<int64_t>(1, scored))), a.out.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterImatrixCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("imatrix", "Collect an importance matrix (activation statistics) for weft quantize "
                                            "--imatrix, in llama.cpp's imatrix file format");
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model, "Model file, directory, name or hf:owner/repo")->required();
  cmd->add_option("-f,--file", a->file, "Calibration text file")->required();
  cmd->add_option("-o,--output", a->out, "Importance matrix to write (default: imatrix.dat)");
  cmd->add_option("-c,--ctx-size", a->n_ctx, "Tokens per chunk (default: 512)");
  cmd->add_option("--chunks", a->chunks, "Process at most this many chunks (default: all)");
  cmd->add_option("--chunk", a->skip_chunks, "Skip this many chunks at the start of the text (default: 0)");
  cmd->add_option("--in-file", a->in_files, "Add an earlier importance matrix to this one (repeatable)");
  cmd->add_flag("--process-output", a->process_output, "Collect output.weight's input too (as llama-imatrix)");
  cmd->add_option("-t,--threads", a->threads, "Compute threads (default: one per physical core)");
  cmd->callback([a, exit_code] {
    Status s = Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft imatrix: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
