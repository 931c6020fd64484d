// weft run MODEL -p PROMPT: stream a continuation of the prompt to stdout, with a summary
// (prompt and generation tokens/s, time to first token) on stderr. Runs one sequence
// directly on the model runner.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "model/load_model.h"
#include "model/single_sequence.h"
#include "sampling/sampler.h"
#include "sampling/stop_strings.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace weft::cli {
namespace {

struct Args {
  std::string model, prompt;
  int n_predict = 128;
  float temp = 0.8f, top_p = 0.95f, min_p = 0.05f;
  int top_k = 40;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool echo = false, quiet = false, ignore_eos = false;
  int threads = 0;
};

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

void Write(const std::string& text) {
  if (text.empty()) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

Status Run(const Args& a) {
  RunnerOptions options;
  options.threads = a.threads;
  WEFT_ASSIGN_OR_RETURN(LoadedModel m, LoadModel(a.model, options));
  WEFT_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(*m.file));
  const ModelConfig& c = m.runner->config();
  const std::vector<int32_t> prompt = tokenizer->Encode(a.prompt);
  if (prompt.empty()) return InvalidArgumentError("the prompt is empty after tokenization");
  const int64_t total = static_cast<int64_t>(prompt.size()) + a.n_predict;
  if (static_cast<int64_t>(prompt.size()) >= c.context_length) {
    return OutOfRangeError(fmt::format("the prompt is {} tokens, but the model's context is {} tokens", prompt.size(),
                                       c.context_length));
  }
  SamplingParams sp;
  sp.temperature = a.temp;
  sp.top_k = a.top_k;
  sp.top_p = a.top_p;
  sp.min_p = a.min_p;
  sp.max_tokens = a.n_predict;
  sp.stop = a.stop;
  sp.ignore_eos = a.ignore_eos;
  const uint64_t seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
  sp.seed = seed;
  WEFT_RETURN_IF_ERROR(sp.Validate(c.n_vocab));
  WEFT_ASSIGN_OR_RETURN(auto seq, SingleSequence::Create(m.runner.get(), std::min(total, c.context_length)));

  SequenceSampler sampler(sp, static_cast<int32_t>(tokenizer->eos_id()), seed);
  sampler.AddPromptTokens(prompt);
  DecodeOptions dec;
  dec.strip_leading_space = a.echo;  // a continuation keeps its leading space
  StreamingDetokenizer detok(*tokenizer, dec);
  StopStringMatcher stops(sp.stop);
  if (a.echo) Write(a.prompt);

  std::vector<float> logits(static_cast<size_t>(c.n_vocab));
  const auto t0 = Clock::now();
  const int32_t last = static_cast<int32_t>(prompt.size()) - 1;
  WEFT_RETURN_IF_ERROR(seq->Append(prompt, std::span<const int32_t>(&last, 1), logits.data()));
  const auto t_prompt = Clock::now();
  int generated = 0;
  std::string finish = "length";
  while (generated < a.n_predict) {
    const SampleResult r = sampler.Sample(logits);
    ++generated;
    if (!a.ignore_eos && r.token == tokenizer->eos_id()) {
      finish = "eos";
      break;
    }
    const StopStringMatcher::Result out = stops.Feed(detok.Feed(r.token));
    Write(out.emit);
    if (out.stopped) {
      finish = "stop string";
      break;
    }
    if (generated == a.n_predict || seq->length() >= seq->capacity()) {
      if (seq->length() >= seq->capacity()) finish = "context full";
      break;
    }
    const int32_t zero = 0;
    WEFT_RETURN_IF_ERROR(seq->Append(std::span<const int32_t>(&r.token, 1), std::span<const int32_t>(&zero, 1),
                                     logits.data()));
  }
  if (finish != "stop string") Write(stops.Feed(detok.Flush()).emit + stops.Flush());
  const auto t_end = Clock::now();
  Write("\n");
  if (!a.quiet) {
    const double tp = Seconds(t0, t_prompt), tg = Seconds(t_prompt, t_end);
    std::fprintf(stderr,
                 "weft run: prompt %zu tokens in %.3f s (%.1f tok/s) | generated %d tokens in %.3f s (%.1f tok/s) | "
                 "time to first token %.3f s | stop: %s | seed %llu | %s kernels, %d threads\n",
                 prompt.size(), tp, static_cast<double>(prompt.size()) / tp, generated, tg,
                 generated > 1 ? static_cast<double>(generated - 1) / tg : 0.0, tp, finish.c_str(),
                 static_cast<unsigned long long>(seed), m.runner->isa_name(), m.runner->num_threads());
  }
  return Status::Ok();
}

}  // namespace

void RegisterRunCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("run", "Generate a continuation of a prompt, streamed to stdout");
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "Model file, directory, name (e.g. tinyllama-v0) or hf:owner/repo")->required();
  cmd->add_option("-p,--prompt", a->prompt, "The prompt text")->required();
  cmd->add_option("-n,--n-predict", a->n_predict, "Tokens to generate at most (default: 128)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temp", a->temp, "Temperature; 0 = greedy (default: 0.8)");
  cmd->add_option("--top-k", a->top_k, "Keep the k most likely tokens; 0 = off (default: 40)");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling threshold (default: 0.95)");
  cmd->add_option("--min-p", a->min_p, "Drop tokens below min-p x the best token's probability (default: 0.05)");
  cmd->add_option("--seed", a->seed, "Random seed (default: random; printed in the summary)");
  cmd->add_option("--stop", a->stop, "Stop when this text appears (repeatable); it is not printed");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past the end-of-sequence token");
  cmd->add_flag("--echo", a->echo, "Print the prompt before the continuation");
  cmd->add_flag("-q,--quiet", a->quiet, "No summary line on stderr");
  cmd->add_option("-t,--threads", a->threads, "Compute threads (default: one per physical core)");
  cmd->callback([a, exit_code] {
    Status s = Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft run: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
