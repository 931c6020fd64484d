// Per-token mask time of structured output on a real vocabulary, single thread.
//   grammar_mask_bench TOKENIZER SCHEMA.json [RUNS] [MAX_STEPS] [SEED]
// Compiles the schema (timed), builds the token trie (timed), then RUNS random
// generations: each step computes the mask as the sampler gets it (GrammarMasker::FillMask,
// with the per-state cache that persists across runs, as it does across requests of one
// compiled grammar), draws a random allowed token (a random model, the hardest case for
// the cache), and advances. Prints mean / p50 / p99 / max of the mask time, how many
// steps missed the cache, and the uncached walk's own mean; all of it twice, with the
// plain-text shortcut (token_mask.h) on and off, same seed, and checks both drew the same
// tokens (the masks agree). Environment: WEFT_MASK_BENCH_ONLY_ON=1 runs the shortcut pass
// alone (profiling); WEFT_MASK_BENCH_TRACE=1 prints each step over 50 us CPU with the
// state's plain-run bounds and the text before it.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/token_mask.h"
#include "tokenizer/tokenizer.h"

using namespace weft;
using namespace weft::grammar;
using Clock = std::chrono::steady_clock;

static double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
// This thread's CPU time in us: on a shared, loaded machine the wall clock also counts the
// time other processes hold the core; both are reported.
static double CpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER SCHEMA.json [RUNS] [MAX_STEPS] [SEED]\n", argv[0]);
    return 2;
  }
  const int runs = argc > 3 ? std::atoi(argv[3]) : 50;
  const int max_steps = argc > 4 ? std::atoi(argv[4]) : 400;
  const uint64_t seed = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 1;
  auto tok = LoadTokenizerFromPath(argv[1]);
  if (!tok.ok()) { std::fprintf(stderr, "%s\n", tok.status().ToString().c_str()); return 1; }
  std::ifstream in(argv[2]);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto t0 = Clock::now();
  auto g = CompileJsonSchemaText(ss.str());
  const auto t1 = Clock::now();
  if (!g.ok()) { std::fprintf(stderr, "%s\n", g.status().ToString().c_str()); return 1; }
  std::vector<std::string> bytes(static_cast<size_t>((*tok)->n_vocab()));
  for (int32_t i = 0; i < (*tok)->n_vocab(); ++i) {
    if (!(*tok)->IsControl(i)) bytes[static_cast<size_t>(i)] = std::string((*tok)->TokenBytes(i, true));
  }
  std::vector<int32_t> ends;
  if ((*tok)->eos_id() >= 0) ends.push_back((*tok)->eos_id());
  const auto t2 = Clock::now();
  auto trie = std::make_shared<const TokenTrie>(bytes, ends);
  const auto t3 = Clock::now();
  // The same generations with the plain-text shortcut on, then off (a fresh compiled
  // grammar and cache each), so both modes see the same states in the same order.
  const Grammar grammar = std::move(*g);
  std::vector<int32_t> trace_on;
  for (const bool plain : {true, false}) {
    if (!plain && std::getenv("WEFT_MASK_BENCH_ONLY_ON")) break;  // profiling the shortcut alone
    auto compiled = std::make_shared<CompiledGrammar>(grammar);
    GrammarMasker::Options mo;
    mo.plain_shortcut = plain;
    GrammarMasker masker(compiled, trie, mo);
    std::vector<uint64_t> bits(trie->num_words());
    std::vector<double> times, cpu, cold;
    std::mt19937_64 rng(seed);
    int completed = 0, misses = 0;
    size_t total_steps = 0;
    std::vector<int32_t> allowed, trace;
    for (int r = 0; r < runs; ++r) {
      GrammarMatcher m(compiled);
      std::string text;
      for (int step = 0; step < max_steps; ++step) {
        if (m.CanEnd() && !m.CanContinue()) { ++completed; break; }  // complete: the engine stops here
        const double ca = CpuUs();
        const auto a = Clock::now();
        masker.FillMask(m.state(), bits);
        const auto b = Clock::now();
        cpu.push_back(CpuUs() - ca);
        if (std::getenv("WEFT_MASK_BENCH_TRACE") && cpu.back() > 50) {
          std::fprintf(stderr, "miss %.0f us: plain run [%d, %d] after ...%s\n", cpu.back(), masker.last_plain_bound(),
                       masker.last_plain_max(), text.substr(text.size() > 30 ? text.size() - 30 : 0).c_str());
        }
        times.push_back(Us(b - a));
        ++total_steps;
        allowed.clear();
        for (size_t w = 0; w < bits.size(); ++w) {
          for (uint64_t x = bits[w]; x; x &= x - 1) allowed.push_back(static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(x))));
        }
        if (allowed.empty()) { std::fprintf(stderr, "dead end at run %d step %d after: %s\n", r, step, text.c_str()); return 1; }
        const int32_t t = allowed[rng() % allowed.size()];
        trace.push_back(t);
        if (trie->IsEndToken(t)) { ++completed; break; }
        if (!m.AcceptBytes(trie->bytes(t))) { std::fprintf(stderr, "masked token %d rejected\n", t); return 1; }
        text += trie->bytes(t);
      }
    }
    if (plain) trace_on = trace;
    else if (trace != trace_on) { std::fprintf(stderr, "the shortcut changed a mask: generations differ\n"); return 1; }
    // The uncached walk (what a cache miss costs) at a sample of the states visited.
    for (int r = 0; r < 3; ++r) {
      GrammarMatcher m(compiled);
      for (int step = 0; step < 60; ++step) {
        const double ca = CpuUs();
        masker.ComputeMask(m.state(), bits);
        cold.push_back(CpuUs() - ca);
        allowed.clear();
        for (size_t w = 0; w < bits.size(); ++w) {
          for (uint64_t x = bits[w]; x; x &= x - 1) allowed.push_back(static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(x))));
        }
        const int32_t t = allowed[rng() % allowed.size()];
        if (trie->IsEndToken(t) || !m.AcceptBytes(trie->bytes(t))) break;
      }
    }
    for (double t : cpu) misses += t > 50 ? 1 : 0;
    std::vector<double> sorted = times, csorted = cpu;
    std::sort(sorted.begin(), sorted.end());
    std::sort(csorted.begin(), csorted.end());
    auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))]; };
    auto cpct = [&](double p) { return csorted[std::min(csorted.size() - 1, static_cast<size_t>(p * static_cast<double>(csorted.size())))]; };
    double sum = 0, cpusum = 0;
    for (double t : times) sum += t;
    for (double t : cpu) cpusum += t;
    double csum = 0;
    for (double t : cold) csum += t;
    if (plain) {
      std::printf("vocab %d tokens (%zu trie nodes, plain tokens up to %d code points), schema %s\n", trie->n_vocab(), trie->num_nodes(), trie->max_plain(), argv[2]);
      std::printf("compile %.1f us, trie %.1f ms (once per tokenizer), token bytes %.1f ms\n", Us(t1 - t0), Us(t3 - t2) / 1000, Us(t2 - t1) / 1000);
    }
    std::printf("[plain shortcut %s] %d runs, %zu steps, %d complete; grammar states %zu\n", plain ? "on " : "off", runs, total_steps, completed, compiled->num_states());
    std::printf("[plain shortcut %s] mask, thread CPU time: mean %.2f us  p50 %.2f  p99 %.1f  max %.1f  (steps over 50 us: %d)\n",
                plain ? "on " : "off", cpusum / static_cast<double>(cpu.size()), cpct(0.5), cpct(0.99), csorted.back(), misses);
    std::printf("[plain shortcut %s] mask, wall clock:      mean %.2f us  p50 %.2f  p99 %.1f  max %.1f\n",
                plain ? "on " : "off", sum / static_cast<double>(times.size()), pct(0.5), pct(0.99), sorted.back());
    std::printf("[plain shortcut %s] uncached walk (CPU time): mean %.1f us over %zu steps\n", plain ? "on " : "off", csum / static_cast<double>(cold.size()), cold.size());
  }
  return 0;
}
