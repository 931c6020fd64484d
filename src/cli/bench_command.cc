// weft bench MODEL: without --batch, llama-bench's pp/tg tests (cli/bench_llama.cc).
// weft bench MODEL --batch N: push N synthetic requests through the engine at once and
// report throughput, TTFT / time-per-output-token percentiles, KV usage and waste,
// preemptions, prefix-cache hits and the scheduler's time per step. With --spec SPEC the
// same workload runs twice, without and then with speculative decoding, and the report
// puts them side by side (acceptance, tokens per target pass, decode speedup).
// --prompt-file makes every prompt that file's text (a copy-heavy workload, for example).
// `weft bench serve --url URL` (bench_serve_command.cc) measures a running server instead.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/moe_report.h"
#include "cli/kv_budget_flags.h"
#include "cli/model_flags.h"
#include "dist/communicator.h"
#include "cli/bench_llama.h"
#include "cli/byte_size.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "weft/engine.h"
#include "base/mapped_file.h"
#include "spec/spec_config.h"
#include "tokenizer/tokenizer.h"

namespace weft::cli {
namespace {

struct Args {
  std::string model, dist = "fixed", json_out;
  int batch = 32, prompt_len = 128, gen_len = 64, shared_prefix = 0, max_seqs = 64, max_batched = 512;
  int threads = 0, block_size = 16;
  std::string kv_mem, spec, prompt_file, spec_governor = "on";
  kernels::KvTypes kv_type = kernels::KvType::kF16;  // --kv-type (ModelFlags)
  KvWindow kv_window;                                // --kv-sinks / --kv-window (ModelFlags)
  KvBudgetFlags kv_budget_flags;                     // --kv-budget / --kv-policy
  KvBudget kv_budget;
  bool keep_window_blocks = false;                   // --keep-window-blocks (ModelFlags)
  uint64_t seed = 1;
  bool no_prefix_caching = false, no_chunked_prefill = false, warm_prefix = false;
};

struct Timing {
  double ttft_ms = 0, tpot_ms = 0, e2e_ms = 0;
  int prompt = 0, generated = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(idx)), hi = static_cast<size_t>(std::ceil(idx));
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

// What one pass over the workload measured (for the --spec side-by-side line).
struct Outcome {
  double generated_per_s = 0, decode_per_s = 0, wall = 0;
  EngineStats stats;
};

Status RunWorkload(const Args& a, const OpenedModel& m, const SpecConfig& spec, Outcome* outcome) {
  EngineConfig ec;
  ec.spec = spec;
  ec.scheduler.max_num_seqs = a.max_seqs;
  ec.scheduler.max_num_batched_tokens = a.max_batched;
  ec.scheduler.enable_chunked_prefill = !a.no_chunked_prefill;
  ec.enable_prefix_caching = !a.no_prefix_caching;
  if (!a.kv_mem.empty()) {
    WEFT_ASSIGN_OR_RETURN(ec.kv_cache_bytes, ParseByteSize("--kv-cache-mem", a.kv_mem));
  }
  ec.block_size = a.block_size;
  ec.kv_type = a.kv_type;
  ec.kv_window = a.kv_window;
  ec.kv_budget = a.kv_budget;
  ec.free_model_window_blocks = !a.keep_window_blocks;
  ec.threads = a.threads;
  ec.seed = a.seed;
  WEFT_ASSIGN_OR_RETURN(auto engine, OpenEngine(m, ec));
  const int64_t vocab = engine->model_config().n_vocab;

  // The workload: seeded random token ids (so that no tokenizer quirk shapes it),
  // lengths fixed or lognormal around the given means, an optional shared prefix.
  std::mt19937_64 rng(a.seed);
  std::uniform_int_distribution<int32_t> token(3, static_cast<int32_t>(vocab - 1));
  auto length = [&](int mean) {
    if (a.dist == "fixed") return mean;
    const double sigma = 0.6;  // chat-like spread
    std::lognormal_distribution<double> d(std::log(mean) - sigma * sigma / 2, sigma);
    return std::max(1, static_cast<int>(std::lround(d(rng))));
  };
  std::vector<int32_t> prefix(static_cast<size_t>(a.shared_prefix));
  for (auto& t : prefix) t = token(rng);
  std::vector<int32_t> file_prompt;
  if (!a.prompt_file.empty()) {
    WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(a.prompt_file));
    file_prompt = m.tokenizer->Encode(text);
    if (file_prompt.empty()) return InvalidArgumentError("--prompt-file: the prompt is empty after tokenization");
  }
  std::vector<GenerationRequest> requests;
  int64_t total_prompt = 0;
  for (int i = 0; i < a.batch; ++i) {
    GenerationRequest r;
    r.prompt_tokens = prefix;
    if (!file_prompt.empty()) {
      r.prompt_tokens.insert(r.prompt_tokens.end(), file_prompt.begin(), file_prompt.end());
    } else {
      const int n = length(a.prompt_len);
      for (int j = 0; j < n; ++j) r.prompt_tokens.push_back(token(rng));
    }
    const int max_prompt = engine->max_model_len() - 1;
    if (static_cast<int>(r.prompt_tokens.size()) > max_prompt) r.prompt_tokens.resize(static_cast<size_t>(max_prompt));
    r.sampling.temperature = 0;
    r.sampling.ignore_eos = true;
    r.sampling.max_tokens = length(a.gen_len);
    total_prompt += static_cast<int64_t>(r.prompt_tokens.size());
    requests.push_back(std::move(r));
  }
  std::fprintf(stderr, "weft bench: %d requests, %lld prompt tokens, %s kernels, %d KV blocks, speculative decoding %s\n",
               a.batch, static_cast<long long>(total_prompt), engine->isa_name(), engine->Stats().num_blocks,
               SpecConfigName(spec).c_str());

  if (a.warm_prefix && !prefix.empty()) {
    // One untimed request with the shared prefix, so that the timed ones find it cached.
    GenerationRequest warm;
    warm.prompt_tokens = prefix;
    warm.prompt_tokens.push_back(token(rng));
    warm.sampling.temperature = 0;
    warm.sampling.max_tokens = 1;
    WEFT_ASSIGN_OR_RETURN(auto s, engine->Submit(std::move(warm)));
    while (s->Next()) {
    }
  }
  using Clock = std::chrono::steady_clock;
  const dist::Communicator* comm = m.model->communicator();
  const int64_t comm_ns0 = comm != nullptr ? comm->comm_ns() : 0, comm_bytes0 = comm != nullptr ? comm->comm_bytes() : 0;
  const int64_t comm_calls0 = comm != nullptr ? comm->comm_calls() : 0;
  const auto t0 = Clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (auto& r : requests) {
    WEFT_ASSIGN_OR_RETURN(auto s, engine->Submit(std::move(r)));
    streams.push_back(std::move(s));
  }
  std::vector<Timing> timings(streams.size());
  std::vector<std::thread> readers;
  double peak_usage = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    readers.emplace_back([&, i] {
      RequestStream& s = *streams[i];
      while (auto out = s.Next()) timings[i].generated += static_cast<int>(out->token_ids.size());
      const int64_t end_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
      const double submit = static_cast<double>(s.submit_ns.load()), first = static_cast<double>(s.first_token_ns.load());
      timings[i].prompt = s.num_prompt_tokens();
      timings[i].ttft_ms = (first - submit) / 1e6;
      timings[i].e2e_ms = (static_cast<double>(end_ns) - submit) / 1e6;
      timings[i].tpot_ms = timings[i].generated > 1 ? (static_cast<double>(end_ns) - first) / 1e6 / (timings[i].generated - 1) : 0;
    });
  }
  for (auto& t : readers) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const EngineStats st = engine->Stats();
  peak_usage = st.peak_kv_usage;

  std::vector<double> ttft, tpot, e2e;
  int64_t generated = 0;
  for (const auto& t : timings) {
    ttft.push_back(t.ttft_ms);
    tpot.push_back(t.tpot_ms);
    e2e.push_back(t.e2e_ms);
    generated += t.generated;
  }
  auto row = [](const char* name, const std::vector<double>& v) {
    double mean = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(std::max<size_t>(1, v.size()));
    std::printf("%-22s mean %9.2f  p50 %9.2f  p90 %9.2f  p99 %9.2f\n", name, mean, Percentile(v, 50), Percentile(v, 90),
                Percentile(v, 99));
  };
  std::printf("requests               %d in %.2f s (%.2f req/s)\n", a.batch, wall, a.batch / wall);
  std::printf("generated tokens/s     %.1f  (%lld tokens)\n", static_cast<double>(generated) / wall,
              static_cast<long long>(generated));
  std::printf("total tokens/s         %.1f  (prompt + generated)\n", static_cast<double>(generated + total_prompt) / wall);
  std::printf("decode tokens/s        %.1f  (%lld tokens in %lld steps that computed no prompt token: mean batch %.1f)\n",
              st.decode_tokens_per_s, static_cast<long long>(st.decode_tokens), static_cast<long long>(st.decode_steps),
              st.decode_steps > 0 ? static_cast<double>(st.decode_tokens) / static_cast<double>(st.decode_steps) : 0.0);
  row("TTFT (ms)", ttft);
  row("TPOT (ms)", tpot);
  row("end-to-end (ms)", e2e);
  std::printf("KV cache               %d blocks of %d tokens, %s, %lld bytes a token, peak usage %.1f%%, waste %.1f%% "
              "(mean over steps)\n",
              st.num_blocks, a.block_size, std::string(kernels::KvTypeName(st.kv_type)).c_str(),
              static_cast<long long>(st.kv_bytes_per_token), 100 * peak_usage, 100 * st.kv_waste_mean);
  if (a.kv_budget.enabled() || a.kv_window.enabled()) {
    const std::string policy = a.kv_budget.enabled() ? KvBudgetName(a.kv_budget) : KvWindowName(a.kv_window);
    std::printf("KV eviction            %s: %lld tokens evicted, %lld blocks re-rotated, peak %lld blocks held",
                policy.c_str(), static_cast<long long>(st.kv_evicted_tokens),
                static_cast<long long>(st.kv_shifted_blocks),
                static_cast<long long>(std::llround(peak_usage * st.num_blocks)));
    if (a.kv_budget.enabled()) {
      std::printf(", at most %lld positions attended in a step (%lld over budget)",
                  static_cast<long long>(st.kv_budget_peak_tokens), static_cast<long long>(st.kv_budget_overruns));
    }
    std::printf("\n");
  }
  std::printf("running at once        %d sequences at most\n", st.peak_num_running);
  std::printf("preemptions            %lld\n", static_cast<long long>(st.num_preemptions));
  std::printf("prefix cache           %.1f%% of prompt tokens hit (%lld / %lld)\n", 100 * st.prefix_hit_rate,
              static_cast<long long>(st.prefix_hit_tokens), static_cast<long long>(st.prefix_queried_tokens));
  std::printf("steps                  %lld, %.3f ms per step, scheduler %.1f us per step\n",
              static_cast<long long>(st.num_steps), st.step_ms_mean, st.schedule_us_mean);
  double comm_ms_per_step = 0;
  if (comm != nullptr) {
    // Rank 0's time in the collectives: the transfers plus any wait for a slower rank.
    const double steps = static_cast<double>(std::max<int64_t>(1, st.num_steps));
    comm_ms_per_step = static_cast<double>(comm->comm_ns() - comm_ns0) / 1e6 / steps;
    // Under --pp rank 0's figure includes waiting for the later stages (its receive of
    // the logits), which is the pipeline's bubble as much as transfer.
    std::printf("%s %s: %.3f ms communication per step (%.1f%% of the step), %.1f "
                "messages and %.1f KiB per step\n",
                st.pp_size > 1 ? "pipeline parallel     " : "tensor parallel       ",
                (st.pp_size > 1 ? fmt::format("--tp {} --pp {}", st.tp_size, st.pp_size)
                                : fmt::format("--tp {}", st.tp_size))
                    .c_str(),
                comm_ms_per_step, st.step_ms_mean > 0 ? 100 * comm_ms_per_step / st.step_ms_mean : 0.0,
                static_cast<double>(comm->comm_calls() - comm_calls0) / steps,
                static_cast<double>(comm->comm_bytes() - comm_bytes0) / 1024 / steps);
  }
  if (spec.enabled()) {
    const double step_s = st.step_ms_mean * static_cast<double>(st.num_steps) / 1e3;
    std::printf("speculative decoding   %s: %.1f%% of %lld draft tokens accepted, %.2f tokens per target pass "
                "(%lld passes that verified a draft), drafting %.1f%% of the step time, draft KV %.1f MiB, governor "
                "%s (%lld probes, %lld flips, ends %s)\n",
                SpecConfigName(spec).c_str(), 100 * st.spec_acceptance_rate(), static_cast<long long>(st.spec_draft_tokens),
                st.spec_tokens_per_pass(), static_cast<long long>(st.spec_passes),
                step_s > 0 ? 100 * st.spec_draft_seconds / step_s : 0.0, static_cast<double>(st.spec_kv_bytes) / (1 << 20),
                spec.governor ? "on" : "off", static_cast<long long>(st.spec_governor_probes),
                static_cast<long long>(st.spec_governor_flips), st.spec_governor_drafting ? "drafting" : "not drafting");
    std::printf("per target pass         %.2f draft tokens (tree nodes) verified, %.2f accepted; %lld accepted off the "
                "first-child chain (token trees)\n",
                st.spec_nodes_per_pass(),
                st.spec_passes > 0 ? static_cast<double>(st.spec_accepted_tokens) / st.spec_passes : 0.0,
                static_cast<long long>(st.spec_tree_branch_tokens));
    if (st.spec_draft_passes > 0) {
      std::printf("draft model             %lld forward passes (%.2f per target pass); staged: %lld n-gram guesses "
                  "computed, %lld confirmed by the draft\n",
                  static_cast<long long>(st.spec_draft_passes),
                  st.spec_passes > 0 ? static_cast<double>(st.spec_draft_passes) / st.spec_passes : 0.0,
                  static_cast<long long>(st.spec_staged_guesses), static_cast<long long>(st.spec_staged_confirmed));
    }
  }
  outcome->generated_per_s = static_cast<double>(generated) / wall;
  outcome->decode_per_s = st.decode_tokens_per_s;
  outcome->wall = wall;
  outcome->stats = st;
  if (st.moe) {  // the engine's counters start at load: this run's are the whole figures
    std::printf("%-22s %s\n", "experts", MoeSummary(*st.moe, generated + total_prompt).c_str());
  }
  if (!a.json_out.empty()) {
    nlohmann::ordered_json j;
    j["requests"] = a.batch;
    j["wall_s"] = wall;
    j["generated_tokens"] = generated;
    j["prompt_tokens"] = total_prompt;
    j["generated_tokens_per_s"] = static_cast<double>(generated) / wall;
    j["decode_tokens_per_s"] = st.decode_tokens_per_s;
    j["decode_steps"] = st.decode_steps;
    j["ttft_ms"] = ttft;
    j["tpot_ms"] = tpot;
    j["e2e_ms"] = e2e;
    j["preemptions"] = st.num_preemptions;
    j["prefix_hit_rate"] = st.prefix_hit_rate;
    j["peak_kv_usage"] = peak_usage;
    j["peak_num_running"] = st.peak_num_running;
    j["kv_type"] = kernels::KvTypeName(st.kv_type);
    j["kv_bytes_per_token"] = st.kv_bytes_per_token;
    j["kv_waste_mean"] = st.kv_waste_mean;
    j["kv_policy"] = a.kv_budget.enabled() ? KvBudgetName(a.kv_budget)
                                           : (a.kv_window.enabled() ? KvWindowName(a.kv_window) : "dense");
    j["kv_peak_blocks"] = std::llround(peak_usage * st.num_blocks);
    j["kv_evicted_tokens"] = st.kv_evicted_tokens;
    j["kv_budget_peak_tokens"] = st.kv_budget_peak_tokens;
    j["kv_budget_overruns"] = st.kv_budget_overruns;
    j["schedule_us_per_step"] = st.schedule_us_mean;
    j["steps"] = st.num_steps;
    j["step_ms"] = st.step_ms_mean;
    j["tp"] = st.tp_size;
    j["pp"] = st.pp_size;
    j["comm_ms_per_step"] = comm_ms_per_step;
    j["spec"] = SpecConfigName(spec);
    j["spec_draft_tokens"] = st.spec_draft_tokens;
    j["spec_accepted_tokens"] = st.spec_accepted_tokens;
    j["spec_passes"] = st.spec_passes;
    j["spec_acceptance_rate"] = st.spec_acceptance_rate();
    j["spec_tokens_per_pass"] = st.spec_tokens_per_pass();
    j["spec_nodes_per_pass"] = st.spec_nodes_per_pass();
    j["spec_tree_branch_tokens"] = st.spec_tree_branch_tokens;
    j["spec_draft_seconds"] = st.spec_draft_seconds;
    j["spec_draft_passes"] = st.spec_draft_passes;
    j["spec_staged_guesses"] = st.spec_staged_guesses;
    j["spec_staged_confirmed"] = st.spec_staged_confirmed;
    j["spec_kv_bytes"] = st.spec_kv_bytes;
    if (st.moe) AddMoeJson(*st.moe, generated + total_prompt, &j);
    std::ofstream(a.json_out) << j.dump(2) << "\n";
  }
  return Status::Ok();
}

Status Run(Args a, const ModelFlags& model_flags) {
  WEFT_ASSIGN_OR_RETURN(SpecConfig spec, ParseSpecConfig(a.spec));
  spec.governor = a.spec_governor == "on";
  WEFT_ASSIGN_OR_RETURN(a.kv_type, KvTypeFrom(model_flags));
  WEFT_RETURN_IF_ERROR(KvEvictionFrom(a.kv_budget_flags, model_flags, &a.kv_window, &a.kv_budget));
  a.keep_window_blocks = model_flags.keep_window_blocks;
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(model_flags));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  if (!spec.enabled()) {
    Outcome plain;
    return RunWorkload(a, m, spec, &plain);
  }
  // The same workload without, then with speculation, in one process.
  Outcome plain, fast;
  std::printf("--- without speculative decoding\n");
  Args plain_args = a;  // --json: the plain run's results go beside, in FILE.plain.json
  if (!a.json_out.empty()) plain_args.json_out = a.json_out + ".plain.json";
  WEFT_RETURN_IF_ERROR(RunWorkload(plain_args, m, SpecConfig{}, &plain));
  std::printf("--- with speculative decoding (%s)\n", SpecConfigName(spec).c_str());
  WEFT_RETURN_IF_ERROR(RunWorkload(a, m, spec, &fast));
  std::printf("--- speculative decoding %s vs plain: generated tokens/s %.1f vs %.1f (%.2fx), decode tokens/s %.1f vs %.1f "
              "(%.2fx), wall %.2f s vs %.2f s; acceptance %.1f%%, %.2f tokens per target pass, %lld vs %lld steps\n",
              SpecConfigName(spec).c_str(), fast.generated_per_s, plain.generated_per_s,
              plain.generated_per_s > 0 ? fast.generated_per_s / plain.generated_per_s : 0.0, fast.decode_per_s,
              plain.decode_per_s, plain.decode_per_s > 0 ? fast.decode_per_s / plain.decode_per_s : 0.0, fast.wall,
              plain.wall, 100 * fast.stats.spec_acceptance_rate(), fast.stats.spec_tokens_per_pass(),
              static_cast<long long>(fast.stats.num_steps), static_cast<long long>(plain.stats.num_steps));
  if (spec.tree) {
    // A tree against the chain it extends (the same proposer and depth), same workload.
    SpecConfig chain_spec = spec;
    chain_spec.tree = false;
    Outcome chain;
    std::printf("--- with the chain of the same proposer (%s)\n", SpecConfigName(chain_spec).c_str());
    Args chain_args = a;
    if (!a.json_out.empty()) chain_args.json_out = a.json_out + ".chain.json";
    WEFT_RETURN_IF_ERROR(RunWorkload(chain_args, m, chain_spec, &chain));
    std::printf("--- token tree %s vs chain %s vs plain: decode tokens/s %.1f vs %.1f vs %.1f; tokens per target pass "
                "%.2f vs %.2f; nodes verified per pass %.2f vs %.2f; steps %lld vs %lld vs %lld\n",
                SpecConfigName(spec).c_str(), SpecConfigName(chain_spec).c_str(), fast.decode_per_s, chain.decode_per_s,
                plain.decode_per_s, fast.stats.spec_tokens_per_pass(), chain.stats.spec_tokens_per_pass(),
                fast.stats.spec_nodes_per_pass(), chain.stats.spec_nodes_per_pass(),
                static_cast<long long>(fast.stats.num_steps), static_cast<long long>(chain.stats.num_steps),
                static_cast<long long>(plain.stats.num_steps));
  }
  return Status::Ok();
}

}  // namespace

void RegisterBenchCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("bench", "Measure speed: pp512/tg128 tokens/s and the share of the machine's peak "
                                          "(like llama-bench), the engine under load with --batch N, or a running "
                                          "server with `weft bench serve --url URL`");
  auto a = std::make_shared<Args>();
  auto lb = std::make_shared<LlamaBenchArgs>();
  // Not required(): `weft bench serve ...` has none; the callback checks it otherwise.
  AddModelOption(cmd, &a->model, "Model file, directory, name or hf:owner/repo");
  AddModelFlags(cmd, &lb->model_flags);  // both modes
  RegisterBenchServeCommand(*cmd, exit_code);
  CLI::App* serve = cmd->get_subcommand("serve");
  cmd->add_option("--batch", a->batch, "Number of requests, all submitted at once (default: 32)")->check(CLI::Range(1, 100000));
  cmd->add_option("--prompt-len", a->prompt_len, "Prompt tokens per request, the mean with --dist lognormal (default: 128)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--gen-len", a->gen_len, "Generated tokens per request, the mean with --dist lognormal (default: 64)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--dist", a->dist, "Lengths: fixed, or lognormal (seeded, chat-like spread) (default: fixed)")
      ->check(CLI::IsMember({"fixed", "lognormal"}));
  cmd->add_option("--shared-prefix", a->shared_prefix, "Tokens of a prefix common to every prompt, for prefix caching (default: 0)");
  cmd->add_flag("--warm-prefix", a->warm_prefix,
                "Run the shared prefix once before the timed requests, so that they hit the prefix cache");
  cmd->add_option("--seed", a->seed, "Workload seed (default: 1)");
  cmd->add_option("--max-seqs,--max-num-seqs", a->max_seqs, "Sequences running at once at most (default: 64)");
  cmd->add_option("--max-batched-tokens,--max-num-batched-tokens", a->max_batched, "Token budget per step (default: 512)");
  cmd->add_option("--kv-cache-mem", a->kv_mem,
                  "KV cache size, e.g. 512M, 2G, 64K (default: 25% of available memory, capped at what --max-seqs "
                  "full-length sequences need)");
  AddKvBudgetFlags(cmd, &a->kv_budget_flags);
  cmd->add_option("--block-size", a->block_size, "Tokens per KV block (default: 16)");
  cmd->add_flag("--no-prefix-caching", a->no_prefix_caching, "Turn prefix caching off");
  cmd->add_flag("--no-chunked-prefill", a->no_chunked_prefill, "Run each prompt whole in one step");
  cmd->add_option("--spec", a->spec,
                  "Speculative decoding: ngram[:K] (prompt lookup), draft:MODEL[:K] (a smaller model with the same vocabulary), staged:MODEL[:K] (the same, its own "
                  "drafting sped up by n-gram guesses it verifies: the same drafts in fewer draft passes), " 
                  "self:LAYERS[:K] (this model with layers skipped, e.g. self:3,5-7:4; weft spec-calibrate picks them), " 
                  "tree:ngram[:K[:NODES]] (a token tree of up to NODES nodes, default 16, from several prompt matches, "
                  "verified in one pass; depth K), tree:draft|staged:MODEL[:K[:NODES]] and tree:self:LAYERS[:K[:NODES]] "
                  "(the draft's chain plus its runners-up at each depth as leaves); " 
                  "K draft tokens at most (default 4); the workload runs without it first "
                  "and the report compares the two");
  cmd->add_option("--spec-governor", a->spec_governor,
                  "on: drafting pauses while it measures slower than plain decoding (probing now and then); off: "
                  "draft whenever the batch-size rule allows (default: on)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--prompt-file", a->prompt_file,
                  "Every request's prompt is this file's text (--prompt-len then does not apply)");
  cmd->add_option("--json", a->json_out,
                  "Also write the results to this JSON file: llama-bench's fields (and weft's) per test, or with "
                  "--batch every request's timings");
  AddLlamaBenchOptions(cmd, lb.get());
  GroupBenchOptions(cmd, *lb);
  AddGpuOnlyFlags(cmd);
  cmd->footer(BenchHelpFooter());
  cmd->callback([a, lb, cmd, serve, exit_code] {
    if (serve->parsed()) return;
    if (a->model.empty()) {
      std::fprintf(stderr, "weft bench: give a MODEL (weft bench MODEL, or weft bench MODEL --batch N), or measure a "
                           "server with weft bench serve --url URL\n");
      *exit_code = 2;
      return;
    }
    Status s;
    if (!EngineOptionsGiven(*cmd, *lb)) {
      lb->model = a->model;
      lb->json_out = a->json_out;
      lb->seed = a->seed;
      s = RunLlamaBench(*lb);
    } else if (LlamaBenchOptionsGiven(*lb) || lb->threads.size() > 1) {
      s = InvalidArgumentError("-p, -n, -r, -o, a -t list and the other pp/tg flags do not go with --batch and the "
                               "engine flags (use --prompt-len, --gen-len)");
    } else {
      a->threads = lb->threads.empty() ? 0 : lb->threads[0];
      s = Run(*a, lb->model_flags);
    }
    if (!s.ok()) {
      std::fprintf(stderr, "weft bench: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
