// weft perplexity MODEL --file TEXT [-c 512] [--chunks N] [--kl-base FILE]
// weft perplexity MODEL --file TEXT --stream N [--stream-policies dense,window,sinks]
//   [--kv-sinks S --kv-window W] [--stream-chunk C] [--curve-csv F] [--curve-svg F]
// weft perplexity MODEL --file TEXT --stream N --kv-budget B [--kv-policy h2o|window|sinks]
//   [--stream-policies dense,h2o,h2o-token,window,sinks] [--kv-block-size 16]
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "base/mapped_file.h"
#include "cli/model_flags.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "cli/progress.h"
#include "model/model_runner.h"
#include "weft/engine.h"
#include "bench_serve/svg_chart.h"
#include "eval/perplexity.h"
#include "eval/streaming_perplexity.h"
#include "tokenizer/tokenizer.h"

namespace weft::cli {
namespace {

struct Args {
  ModelFlags model_flags;
  std::string model, file, kl_base;
  int64_t n_ctx = 512;
  int64_t chunks = 0;
  int threads = 0;
  // Streaming mode (eval/streaming_perplexity.h).
  int64_t stream = 0;
  int32_t stream_chunk = 1;
  std::string stream_policies;  // "" = the --kv-sinks/--kv-window policy alone
  std::string curve_csv, curve_svg;
  int64_t curve_bucket = 128;
  // Heavy hitters (kv/kv_budget.h).
  int32_t kv_budget = 0;
  std::string kv_policy;  // "" = h2o when --kv-budget is given
  int32_t kv_block_size = 16;
};

// "1 min 05 s", "42.0 s": the ETA llama-perplexity users look for.
std::string FormatEta(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, (s % 3600) / 60);
}

// One curve of the streaming figure.
struct Curve {
  std::string name;
  KvWindow window;
  StreamingPerplexityResult result;
  KvBudget budget;         // enabled: a budget policy instead of `window`
  int32_t block_size = 0;  // 0: --kv-block-size (h2o-token: 1)
};

double MeanNll(const std::vector<float>& nll, int64_t begin, int64_t end) {
  end = std::min<int64_t>(end, static_cast<int64_t>(nll.size()));
  double s = 0;
  for (int64_t i = begin; i < end; ++i) s += nll[static_cast<size_t>(i)];
  return end > begin ? s / static_cast<double>(end - begin) : 0.0;
}

// The curves of a --kv-budget run: --kv-policy alone, or each of --stream-policies at the
// budget (window / sinks: the rolling window of the same budget; h2o-token: h2o at block
// size 1, the token-level reference).
StatusOr<std::vector<Curve>> BudgetCurves(const Args& a) {
  if (a.model_flags.kv_window != 0) {
    return InvalidArgumentError("--kv-window with --kv-budget: the budget sizes the window policies; drop --kv-window")
        .WithField("--kv-window");
  }
  std::vector<Curve> curves;
  auto add = [&](const std::string& p) -> Status {
    if (p == "dense") {
      curves.push_back({"dense", KvWindow{}, {}, {}, 0});
      return Status::Ok();
    }
    const bool token = p == "h2o-token";
    const std::optional<KvPolicy> policy = KvPolicyFromName(token ? "h2o" : p);
    if (!policy) {
      const char* field = a.stream_policies.empty() ? "--kv-policy" : "--stream-policies";
      return InvalidArgumentError(fmt::format("{}: '{}' is not one of h2o, h2o-token, window, sinks, dense", field, p))
          .WithField(field);
    }
    // Sinks: the sinks policy needs them, h2o keeps them when given, window none.
    const KvBudget b{a.kv_budget, *policy, *policy == KvPolicy::kWindow ? 0 : a.model_flags.kv_sinks};
    std::string name = KvBudgetName(b);
    if (*policy == KvPolicy::kH2o) name += token ? " token-level" : fmt::format(" blocks of {}", a.kv_block_size);
    curves.push_back({name, KvWindow{}, {}, b, token ? 1 : 0});
    return Status::Ok();
  };
  if (a.stream_policies.empty()) {
    WEFT_RETURN_IF_ERROR(add(a.kv_policy.empty() ? "h2o" : a.kv_policy));
    return curves;
  }
  if (!a.kv_policy.empty()) {
    return InvalidArgumentError("--kv-policy with --stream-policies: the list names the policies; drop --kv-policy")
        .WithField("--kv-policy");
  }
  std::stringstream ss(a.stream_policies);
  for (std::string p; std::getline(ss, p, ',');) WEFT_RETURN_IF_ERROR(add(p));
  return curves;
}

StatusOr<std::vector<Curve>> StreamCurves(const Args& a) {
  if (a.kv_budget != 0) return BudgetCurves(a);
  if (!a.kv_policy.empty()) {
    return InvalidArgumentError("--kv-policy needs --kv-budget (the KV tokens each sequence keeps)")
        .WithField("--kv-policy");
  }
  WEFT_ASSIGN_OR_RETURN(const KvWindow flags_window, KvWindowFrom(a.model_flags));
  std::vector<Curve> curves;
  if (a.stream_policies.empty()) {
    curves.push_back({KvWindowName(flags_window), flags_window, {}, {}, 0});
    return curves;
  }
  std::stringstream ss(a.stream_policies);
  for (std::string p; std::getline(ss, p, ',');) {
    if (p == "dense") {
      curves.push_back({"dense", KvWindow{}, {}, {}, 0});
      continue;
    }
    if (p == "h2o" || p == "h2o-token") {
      return InvalidArgumentError(fmt::format("--stream-policies {} needs --kv-budget", p)).WithField("--kv-budget");
    }
    if (p != "window" && p != "sinks") {
      return InvalidArgumentError(
                 fmt::format("--stream-policies: '{}' is not one of dense, window, sinks (h2o, h2o-token with "
                             "--kv-budget)", p))
          .WithField("--stream-policies");
    }
    if (flags_window.window <= 0) {
      return InvalidArgumentError(fmt::format("--stream-policies {} needs --kv-window", p)).WithField("--kv-window");
    }
    if (p == "sinks" && flags_window.sinks <= 0) {
      return InvalidArgumentError("--stream-policies sinks needs --kv-sinks").WithField("--kv-sinks");
    }
    const KvWindow w{p == "window" ? 0 : flags_window.sinks, flags_window.window};
    curves.push_back({KvWindowName(w), w, {}, {}, 0});
  }
  return curves;
}

Status RunStream(const Args& a, const std::vector<int32_t>& all_tokens, ModelRunner* runner, int32_t bos_id,
                 kernels::KvTypes kv_type) {
  WEFT_ASSIGN_OR_RETURN(std::vector<Curve> curves, StreamCurves(a));
  if (a.curve_bucket <= 0) return InvalidArgumentError("--curve-bucket must be positive").WithField("--curve-bucket");
  const int64_t n = std::min<int64_t>(a.stream, static_cast<int64_t>(all_tokens.size()));
  const std::span<const int32_t> tokens(all_tokens.data(), static_cast<size_t>(n));
  const int64_t ctx = runner->config().context_length;
  std::fprintf(stderr, "weft perplexity --stream: %lld of the text's %zu tokens, %s kernels, %s KV cache, chunks of %d, "
               "trained context %lld\n",
               static_cast<long long>(n), all_tokens.size(), runner->isa_name(),
               kernels::KvTypeName(kv_type).c_str(), a.stream_chunk, static_cast<long long>(ctx));
  std::printf("%-36s %10s %10s %10s %10s %8s %8s %8s %8s\n", "policy", "ppl", "logppl<ctx", "logppl>ctx", "last 1k",
              "blocks", "mean kv", "seconds", "shift s");
  for (Curve& c : curves) {
    StreamingPerplexityOptions so;
    so.window = c.window;
    so.budget = c.budget;
    so.block_size = c.block_size > 0 ? c.block_size : a.kv_block_size;
    so.chunk = a.stream_chunk;
    so.bos_id = bos_id;
    so.kv_type = kv_type;
    ProgressBar bar(c.name);
    WEFT_ASSIGN_OR_RETURN(c.result, ComputeStreamingPerplexity(runner, tokens, so, [&](int64_t done, int64_t total) {
                            if (done % 256 == 0 || done == total) bar.Update(done, total, "");
                          }));
    bar.Finish();
    const auto& nll = c.result.nll;
    const auto m = static_cast<int64_t>(nll.size());
    std::printf("%-36s %10.3f %10.4f %10.4f %10.4f %8d %8.1f %8.1f %8.2f\n", c.name.c_str(),
                std::exp(MeanNll(nll, 0, m)), MeanNll(nll, 0, ctx), m > ctx ? MeanNll(nll, ctx, m) : 0.0,
                MeanNll(nll, std::max<int64_t>(0, m - 1000), m), c.result.peak_used_blocks, c.result.mean_kv_tokens,
                c.result.seconds, c.result.shift_seconds);
    std::fflush(stdout);
  }
  // Curves: mean NLL (= log-perplexity) per bucket of positions.
  const int64_t m = n - 1;
  if (!a.curve_csv.empty()) {
    std::ofstream f(a.curve_csv);
    if (!f) return InvalidArgumentError(a.curve_csv + ": cannot write").WithField("--curve-csv");
    f << "position_begin,position_end";
    for (const Curve& c : curves) f << ",logppl " << c.name;
    f << "\n";
    for (int64_t b = 0; b < m; b += a.curve_bucket) {
      f << b << "," << std::min(m, b + a.curve_bucket);
      for (const Curve& c : curves) f << "," << fmt::format("{:.5f}", MeanNll(c.result.nll, b, b + a.curve_bucket));
      f << "\n";
    }
  }
  if (!a.curve_svg.empty()) {
    std::vector<bench_serve::ChartSeries> series;
    for (const Curve& c : curves) {
      bench_serve::ChartSeries s;
      s.name = c.name;
      s.markers = false;
      for (int64_t b = 0; b < m; b += a.curve_bucket) {
        s.points.emplace_back(static_cast<double>(std::min(m, b + a.curve_bucket)),
                              MeanNll(c.result.nll, b, b + a.curve_bucket));
      }
      series.push_back(std::move(s));
    }
    bench_serve::ChartOptions co;
    const std::string model_name = a.model.substr(a.model.find_last_of('/') + 1);
    co.title = fmt::format("{}: log-perplexity vs position (trained context {}, {} KV)", model_name, ctx,
                           kernels::KvTypeName(kv_type));
    co.x_label = fmt::format("position (tokens; mean over buckets of {})", a.curve_bucket);
    co.y_label = "log perplexity (nats)";
    co.width = 720;
    co.height = 400;
    std::ofstream f(a.curve_svg);
    if (!f) return InvalidArgumentError(a.curve_svg + ": cannot write").WithField("--curve-svg");
    f << bench_serve::LineChartSvg(co, series);
  }
  return Status::Ok();
}

Status Run(const Args& a) {
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(a.file));
  if (a.stream > 0) {
    if (a.stream_chunk <= 0 || a.stream_chunk > 512) {
      return InvalidArgumentError("--stream-chunk must be in [1, 512]").WithField("--stream-chunk");
    }
    if (a.kv_block_size <= 0 || a.kv_block_size > 256) {
      return InvalidArgumentError("--kv-block-size must be in [1, 256]").WithField("--kv-block-size");
    }
  } else {
    WEFT_RETURN_IF_ERROR(RefuseKvWindow(a.model_flags, "weft perplexity without --stream"));
    if (a.kv_budget != 0) {
      return InvalidArgumentError("--kv-budget: weft perplexity without --stream evicts nothing (add --stream N)")
          .WithField("--kv-budget");
    }
    if (!a.kv_policy.empty()) {
      return InvalidArgumentError("--kv-policy: weft perplexity without --stream evicts nothing (add --stream N)")
          .WithField("--kv-policy");
    }
  }
  RunnerOptions options;
  options.threads = a.threads;
  options.max_tokens_per_step = a.stream > 0 ? a.stream_chunk : std::min<int64_t>(a.n_ctx, 512);
  options.max_logit_rows = options.max_tokens_per_step;
  options.allow_past_context = a.stream > 0;  // dense streaming runs past the context to show the failure
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(a.model_flags));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  WEFT_ASSIGN_OR_RETURN(auto runner, ModelRunner::Create(m.model, options));
  const Tokenizer* tokenizer = m.tokenizer.get();
  // llama-perplexity's convention: the whole text is encoded with BOS in front (when the
  // model adds one), cut into chunks, and each chunk's first token is replaced by BOS.
  EncodeOptions enc;
  enc.add_special = tokenizer->vocab().add_bos;
  const std::vector<int32_t> tokens = tokenizer->Encode(text, enc);
  if (a.stream > 0) {
    WEFT_ASSIGN_OR_RETURN(const kernels::KvTypes kv_type, KvTypeFrom(a.model_flags));
    return RunStream(a, tokens, runner.get(), tokenizer->vocab().add_bos ? tokenizer->bos_id() : -1, kv_type);
  }
  PerplexityOptions po;
  po.n_ctx = a.n_ctx;
  po.max_chunks = a.chunks;
  po.bos_id = tokenizer->vocab().add_bos ? tokenizer->bos_id() : -1;
  po.kl_base_path = a.kl_base;
  WEFT_ASSIGN_OR_RETURN(po.kv_type, KvTypeFrom(a.model_flags));
  std::fprintf(stderr, "weft perplexity: %zu tokens, chunks of %lld, %s kernels, %s KV cache\n",
               tokens.size(), static_cast<long long>(a.n_ctx), runner->isa_name(),
               kernels::KvTypeName(po.kv_type).c_str());
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
  cmd->add_option("--stream", a->stream,
                  "Streaming mode (StreamingLLM's figure): feed the text's first N tokens through one sequence, "
                  "--stream-chunk tokens per pass, past the model's context, under each --stream-policies policy, and "
                  "print / plot the log-perplexity by position (default: 0 = off)");
  cmd->add_option("--stream-policies", a->stream_policies,
                  "Comma list of dense (keep all KV; positions run past the context), window (the last --kv-window "
                  "tokens) and sinks (--kv-sinks first tokens + the window); with --kv-budget also h2o and h2o-token "
                  "(h2o at block size 1, the token-level reference), and window / sinks sized to the budget "
                  "(default: the --kv-sinks/--kv-window policy, or --kv-policy)");
  cmd->add_option("--stream-chunk", a->stream_chunk,
                  "Tokens per forward pass in --stream mode; a chunk's tokens see up to this many more tokens than the "
                  "window (default: 1, token by token)");
  cmd->add_option("--kv-budget", a->kv_budget,
                  "--stream: KV tokens each step's attention sees at most (H2O's budget), under --kv-policy or each "
                  "of --stream-policies h2o, h2o-token, window, sinks (default: 0 = no budget)");
  cmd->add_option("--kv-policy", a->kv_policy,
                  "--stream with --kv-budget: h2o (sink blocks + recent half + the blocks with the most accumulated "
                  "attention), window (rolling window of the budget) or sinks (--kv-sinks + window) (default: h2o)");
  cmd->add_option("--kv-block-size", a->kv_block_size,
                  "--stream: tokens per KV block, the unit h2o evicts (default: 16; 1 = token-level)");
  cmd->add_option("--curve-csv", a->curve_csv, "--stream: write the log-perplexity per bucket of positions as CSV");
  cmd->add_option("--curve-svg", a->curve_svg, "--stream: plot the log-perplexity per bucket of positions as SVG");
  cmd->add_option("--curve-bucket", a->curve_bucket, "--stream: positions per point of the curves (default: 128)");
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
