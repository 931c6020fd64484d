// weft perplexity MODEL --file TEXT [-c 512] [--chunks N] [--kl-base FILE]
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "base/mapped_file.h"
#include "cli/model_flags.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "cli/progress.h"
#include "model/model_runner.h"
#include "weft/engine.h"
#include "eval/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace weft::cli {
namespace {

struct Args {
  ModelFlags model_flags;
  std::string model, file, kl_base;
  int64_t n_ctx = 512;
  int64_t chunks = 0;
  int threads = 0;
};

// "1 min 05 s", "42.0 s": the ETA llama-perplexity users look for.
std::string FormatEta(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, (s % 3600) / 60);
}

Status Run(const Args& a) {
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(a.file));
  RunnerOptions options;
  options.threads = a.threads;
  options.max_tokens_per_step = std::min<int64_t>(a.n_ctx, 512);
  options.max_logit_rows = options.max_tokens_per_step;
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(a.model_flags));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  WEFT_ASSIGN_OR_RETURN(auto runner, ModelRunner::Create(m.model, options));
  const Tokenizer* tokenizer = m.tokenizer.get();
  // llama-perplexity's convention: the whole text is encoded with BOS in front (when the
  // model adds one), cut into chunks, and each chunk's first token is replaced by BOS.
  EncodeOptions enc;
  enc.add_special = tokenizer->vocab().add_bos;
  const std::vector<int32_t> tokens = tokenizer->Encode(text, enc);
  PerplexityOptions po;
  po.n_ctx = a.n_ctx;
  po.max_chunks = a.chunks;
  po.bos_id = tokenizer->vocab().add_bos ? tokenizer->bos_id() : -1;
  po.kl_base_path = a.kl_base;
  WEFT_ASSIGN_OR_RETURN(po.kv_type, KvTypeFrom(a.model_flags));
  std::fprintf(stderr, "weft perplexity: %zu tokens, chunks of %lld, %s kernels, %s KV cache\n",
               tokens.size(), static_cast<long long>(a.n_ctx), runner->isa_name(),
               std::string(kernels::KvTypeName(po.kv_type)).c_str());
  ProgressBar bar("perplexity");
  WEFT_ASSIGN_OR_RETURN(PerplexityResult r,
                        ComputePerplexity(runner.get(), tokens, po, [&](const PerplexityProgress& p) {
                          // As llama-perplexity: the time per chunk and an ETA once the first is done.
                          const double per_chunk = p.seconds / static_cast<double>(std::max<int64_t>(1, p.chunk));
                          const std::string eta = FormatEta(per_chunk * static_cast<double>(p.n_chunks - p.chunk));
                          if (p.chunk == 1) {
                            std::fprintf(stderr, "weft perplexity: %.2f seconds per chunk - ETA %s\n", per_chunk,
                                         FormatEta(per_chunk * static_cast<double>(p.n_chunks)).c_str());
                          }
                          bar.Update(p.chunk, p.n_chunks,
                                     fmt::format("ppl {:.4f} +/- {:.4f}, {:.0f} tok/s, ETA {}", p.ppl, p.ppl_stderr,
                                                 static_cast<double>(p.chunk * a.n_ctx) / p.seconds, eta));
                        }));
  bar.Finish();
  const PerplexityProgress& f = r.final;
  std::printf("perplexity: %.4f +/- %.4f over %lld tokens (%lld chunks of %lld) in %.1f s (%.0f tokens/s)\n", f.ppl,
              f.ppl_stderr, static_cast<long long>(f.tokens_scored), static_cast<long long>(f.n_chunks),
              static_cast<long long>(a.n_ctx), f.seconds, static_cast<double>(f.n_chunks * a.n_ctx) / f.seconds);
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", f.ppl, f.ppl_stderr);  // llama-perplexity's line
  if (r.kl_written) std::printf("kl base: wrote %s\n", a.kl_base.c_str());
  if (r.kl_compared) {
    std::printf("kl divergence vs %s: mean %.6f, max %.6f nats; top-1 agreement %.2f%%\n", a.kl_base.c_str(),
                r.kl_mean, r.kl_max, 100.0 * r.top1_agreement);
  }
  return Status::Ok();
}

}  // namespace

void RegisterPerplexityCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("perplexity", "Perplexity of a model over a text file (and KL divergence against a "
                                               "saved base, to judge a quantisation)");
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model, "Model file, directory, name or hf:owner/repo")->required();
  AddModelFlags(cmd, &a->model_flags);
  cmd->add_option("-f,--file", a->file, "Text file to score, e.g. ../shared/models/text/wiki.test.raw")->required();
  cmd->add_option("-c,--ctx-size,--ctx,--max-model-len", a->n_ctx,
                  "Tokens per chunk (default: 512). As llama.cpp's llama-perplexity: the text is encoded with BOS "
                  "first, each chunk starts with BOS (replacing its first token), and the second half of each chunk "
                  "is scored");
  cmd->add_option("--chunks", a->chunks, "Score at most this many chunks (default: 0 = all)");
  cmd->add_option("--kl-base", a->kl_base,
                  "Log-probabilities file: written when it does not exist, else compared against (KL divergence, "
                  "top-1 agreement). Large: n_vocab x 2 bytes per scored token; limit with --chunks");
  cmd->add_option("-t,--threads", a->threads, "Compute threads (default: one per physical core)");
  AddGpuOnlyFlags(cmd);
  cmd->callback([a, exit_code] {
    Status s = Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft perplexity: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
