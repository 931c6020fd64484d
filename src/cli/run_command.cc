// weft run MODEL -p PROMPT: stream a continuation of the prompt to stdout, with a summary
// (prompt and generation tokens/s, time to first token) on stderr. Runs one sequence
// through the engine.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <random>

#include <fmt/format.h>

#include "cli/kv_budget_flags.h"
#include "cli/model_flags.h"
#include "cli/commands.h"
#include "base/mapped_file.h"
#include "cli/compat_flags.h"
#include "weft/engine.h"
#include "grammar/structured_output.h"
#include "spec/spec_config.h"
#include "tokenizer/tokenizer.h"

namespace weft::cli {
namespace {

struct Args {
  ModelFlags model_flags;
  KvBudgetFlags kv_budget_flags;  // --kv-budget / --kv-policy
  std::string model, prompt, prompt_file;
  int n_predict = 128;
  float temp = 0.8f, top_p = 0.95f, min_p = 0.05f;
  int top_k = 40;
  float repeat_penalty = 1.0f;
  int64_t ctx = 0;  // 0: the model's context length
  int64_t seed = -1;
  std::vector<std::string> stop;
  std::string spec;
  bool echo = false, quiet = false, ignore_eos = false;
  int threads = 0;
  std::string json_schema_file, regex, grammar_file;  // structured output
};

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

void Write(const std::string& text) {
  if (text.empty()) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

Status Run(const Args& a) {
  WEFT_ASSIGN_OR_RETURN(const SpecConfig spec, ParseSpecConfig(a.spec));
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(a.model_flags));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  std::string prompt = a.prompt;
  if (!a.prompt_file.empty()) {
    WEFT_ASSIGN_OR_RETURN(prompt, ReadFileToString(a.prompt_file));
  }
  GenerationRequest req;
  req.prompt_tokens = m.tokenizer->Encode(prompt);
  if (req.prompt_tokens.empty()) return InvalidArgumentError("the prompt is empty after tokenization");
  SamplingParams& sp = req.sampling;
  sp.temperature = a.temp;
  sp.top_k = a.top_k;
  sp.top_p = a.top_p;
  sp.min_p = a.min_p;
  sp.max_tokens = a.n_predict;
  sp.stop = a.stop;
  sp.ignore_eos = a.ignore_eos;
  sp.repetition_penalty = a.repeat_penalty;
  const uint64_t seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
  sp.seed = seed;
  if (!a.json_schema_file.empty() || !a.regex.empty() || !a.grammar_file.empty()) {
    grammar::StructuredOutputSpec spec;
    std::string flag = "--regex";
    if (!a.json_schema_file.empty()) {
      spec.kind = grammar::StructuredOutputSpec::Kind::kJsonSchema;
      WEFT_ASSIGN_OR_RETURN(spec.text, ReadFileToString(a.json_schema_file));
      flag = "--json-schema " + a.json_schema_file;
    } else if (!a.grammar_file.empty()) {
      spec.kind = grammar::StructuredOutputSpec::Kind::kGrammar;
      WEFT_ASSIGN_OR_RETURN(spec.text, ReadFileToString(a.grammar_file));
      flag = "--grammar " + a.grammar_file;
    } else {
      spec.kind = grammar::StructuredOutputSpec::Kind::kRegex;
      spec.text = a.regex;
    }
    auto c = grammar::GetStructuredOutput(spec, m.tokenizer);
    if (!c.ok()) {
      return InvalidArgumentError(fmt::format("{}: {}", flag, c.status().message()));
    }
    req.constraint = std::move(*c);
  }
  // One sequence through the same engine `weft serve` uses: sampling, stop strings and
  // streaming text behave exactly as in the server.
  EngineConfig ec;
  ec.threads = a.threads;
  ec.scheduler.max_num_seqs = 1;
  ec.max_model_len = a.ctx;
  ec.spec = spec;
  const int64_t len = static_cast<int64_t>(req.prompt_tokens.size()) + a.n_predict;
  // (+ the draft tokens a verification pass writes past the sequence's end)
  WEFT_ASSIGN_OR_RETURN(ec.kv_type, KvTypeFrom(a.model_flags));
  WEFT_RETURN_IF_ERROR(KvEvictionFrom(a.kv_budget_flags, a.model_flags, &ec.kv_window, &ec.kv_budget));
  ec.free_model_window_blocks = !a.model_flags.keep_window_blocks;
  int64_t kv_tokens = len + 16 + spec.num_draft;
  if (ec.kv_window.enabled()) {  // constant memory: the sinks, the window, a block and a prefill chunk
    kv_tokens = std::min<int64_t>(kv_tokens, int64_t{ec.kv_window.SinkBlocks(ec.block_size)} * ec.block_size +
                                                 ec.kv_window.window + 2 * ec.block_size +
                                                 ec.scheduler.max_num_batched_tokens);
  }
  if (ec.kv_budget.enabled()) {  // constant memory: the budget and a block
    kv_tokens = std::min<int64_t>(kv_tokens, int64_t{ec.kv_budget.budget} + 2 * ec.block_size);
  }
  ec.kv_cache_bytes = kv_tokens * KvBytesPerToken(m.model->config(), ec.kv_type) + (1 << 20);
  // A draft model's (or the skipping draft's) KV comes out of the same budget, split by
  // bytes per token: twice the target's holds a draft no larger than the target.
  if (spec.method == SpecMethod::kDraft || spec.method == SpecMethod::kSelf) ec.kv_cache_bytes *= 2;
  WEFT_ASSIGN_OR_RETURN(auto engine, OpenEngine(m, ec));
  const size_t n_prompt = req.prompt_tokens.size();
  if (a.echo) Write(prompt);
  const auto t0 = Clock::now();
  WEFT_ASSIGN_OR_RETURN(auto stream, engine->Submit(std::move(req)));
  int generated = 0;
  RequestFinish finish = RequestFinish::kNone;
  std::string error;
  while (auto out = stream->Next()) {
    Write(out->text_delta);
    generated = out->num_generated_tokens;
    if (out->finish != RequestFinish::kNone) {
      finish = out->finish;
      error = out->error;
    }
  }
  const auto t_end = Clock::now();
  Write("\n");
  if (finish == RequestFinish::kError) return InternalError(error);
  // The engine stops a sequence when it fills the context: say so, rather than a bare
  // "stop: length" for fewer tokens than -n asked for.
  const int64_t context = engine->max_model_len();
  const bool context_full = finish == RequestFinish::kLength && generated < a.n_predict &&
                            static_cast<int64_t>(n_prompt) + generated >= context;
  if (context_full) {
    std::fprintf(stderr, "weft run: context full: prompt %zu + generated %d tokens fill the context of %lld tokens "
                 "(-n asked for %d)\n", n_prompt, generated, static_cast<long long>(context), a.n_predict);
  }
  if (!a.quiet) {
    const double ttft = static_cast<double>(stream->first_token_ns.load() - stream->submit_ns.load()) / 1e9;
    const double total = Seconds(t0, t_end);
    const double tg = total - ttft;
    std::fprintf(stderr,
                 "weft run: prompt %zu tokens in %.3f s (%.1f tok/s) | generated %d tokens in %.3f s (%.1f tok/s) | "
                 "time to first token %.3f s | stop: %s | seed %llu | %s kernels\n",
                 n_prompt, ttft, static_cast<double>(n_prompt) / ttft, generated, tg,
                 generated > 1 ? static_cast<double>(generated - 1) / tg : 0.0, ttft, context_full ? "context full" : RequestFinishName(finish),
                 static_cast<unsigned long long>(seed), engine->isa_name());
    if (spec.enabled()) {
      // Speedup over plain decoding, estimated as generated tokens per target pass of
      // this sequence (a pass costs about the same with or without its few draft tokens
      // while decode is bound by reading the weights; `weft bench --spec` measures it).
      const EngineStats st = engine->Stats();
      const int64_t passes = st.decode_steps;
      std::fprintf(stderr,
                   "weft run: speculative decoding %s: %.0f%% of %lld draft tokens accepted | %.2f tokens per target "
                   "pass (%lld decode passes for %d tokens) | est. speedup %.2fx | drafting %.0f%% of the time\n",
                   SpecConfigName(spec).c_str(), 100 * st.spec_acceptance_rate(),
                   static_cast<long long>(st.spec_draft_tokens), passes > 0 ? static_cast<double>(generated - 1) / passes : 0.0,
                   static_cast<long long>(passes), generated,
                   passes > 0 ? static_cast<double>(generated - 1) / static_cast<double>(passes) : 1.0,
                   tg > 0 ? 100 * st.spec_draft_seconds / tg : 0.0);
      if (spec.tree) {
        std::fprintf(stderr,
                     "weft run: token trees: %.2f nodes verified per target pass, %.2f accepted per pass, %lld "
                     "accepted tokens off the first-child chain\n",
                     st.spec_nodes_per_pass(),
                     st.spec_passes > 0 ? static_cast<double>(st.spec_accepted_tokens) / st.spec_passes : 0.0,
                     static_cast<long long>(st.spec_tree_branch_tokens));
      }
    }
    if (ec.kv_budget.enabled()) {
      const EngineStats st = engine->Stats();
      std::fprintf(stderr,
                   "weft run: KV budget %s: %lld tokens evicted, at most %lld KV positions attended in a step "
                   "(budget %d), peak %lld KV blocks of %d\n",
                   KvBudgetName(ec.kv_budget).c_str(), static_cast<long long>(st.kv_evicted_tokens),
                   static_cast<long long>(st.kv_budget_peak_tokens), ec.kv_budget.budget,
                   static_cast<long long>(st.peak_kv_usage * st.num_blocks + 0.5), ec.block_size);
    }
  }
  return Status::Ok();
}

}  // namespace

void RegisterRunCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("run", "Generate a continuation of a prompt, streamed to stdout");
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model, "Model file, directory, name (e.g. tinyllama-v0) or hf:owner/repo")->required();
  AddModelFlags(cmd, &a->model_flags);
  AddKvBudgetFlags(cmd, &a->kv_budget_flags);
  auto* prompt = cmd->add_option("-p,--prompt", a->prompt, "The prompt text");
  cmd->add_option("-f,--file", a->prompt_file, "Read the prompt from this file")->excludes(prompt);
  cmd->add_option("-n,--n-predict,--predict", a->n_predict, "Tokens to generate at most (default: 128)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temp", a->temp, "Temperature; 0 = greedy (default: 0.8)");
  cmd->add_option("--top-k", a->top_k, "Keep the k most likely tokens; 0 = off (default: 40)");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling threshold (default: 0.95)");
  cmd->add_option("--min-p", a->min_p, "Drop tokens below min-p x the best token's probability (default: 0.05)");
  cmd->add_option("-s,--seed", a->seed, "Random seed (default: random; printed in the summary)");
  cmd->add_option("--stop", a->stop, "Stop when this text appears (repeatable); it is not printed");
  cmd->add_option("--repeat-penalty,--repetition-penalty", a->repeat_penalty,
                  "Penalise tokens already in the prompt or output; 1 = off (default: 1)");
  cmd->add_option("-c,--ctx-size,--max-model-len", a->ctx,
                  "Context length in tokens, prompt + generated, at most the model's (default: the model's)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past the end-of-sequence token");
  cmd->add_option("--spec", a->spec,
                  "Speculative decoding: ngram[:K] (prompt lookup), draft:MODEL[:K] (a smaller model with the same vocabulary), staged:MODEL[:K] (the same, its own "
                  "drafting sped up by n-gram guesses it verifies: the same drafts in fewer draft passes), " 
                  "self:LAYERS[:K] (this model with layers skipped, e.g. self:3,5-7:4; weft spec-calibrate picks them), " 
                  "tree:ngram[:K[:NODES]] (a token tree of up to NODES nodes, default 16, from several prompt matches, "
                  "verified in one pass; depth K), tree:draft|staged:MODEL[:K[:NODES]] and tree:self:LAYERS[:K[:NODES]] "
                  "(the draft's chain plus its runners-up at each depth as leaves); " 
                  "K draft tokens at most (default 4), or off (default: off); "
                  "the summary shows the acceptance");
  cmd->add_flag("--echo", a->echo, "Print the prompt before the continuation");
  cmd->add_flag("-q,--quiet", a->quiet, "No summary line on stderr");
  auto* schema = cmd->add_option("--json-schema", a->json_schema_file,
                                 "Constrain the output to this JSON schema (a file)")
                      ->check(CLI::ExistingFile);
  auto* regex = cmd->add_option("--regex", a->regex, "Constrain the output to match this regular expression")->excludes(schema);
  cmd->add_option("--grammar", a->grammar_file, "Constrain the output to this GBNF grammar (a file; start rule 'root')")
      ->check(CLI::ExistingFile)
      ->excludes(schema)
      ->excludes(regex);
  cmd->add_option("-t,--threads", a->threads, "Compute threads (default: one per physical core)");
  AddGpuOnlyFlags(cmd);
  cmd->callback([a, exit_code] {
    Status s = a->prompt.empty() && a->prompt_file.empty() ? InvalidArgumentError("give a prompt: -p TEXT or -f FILE")
                                                           : Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft run: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
