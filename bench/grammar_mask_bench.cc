// Per-token mask time of structured output on a real vocabulary, single thread.
//   grammar_mask_bench TOKENIZER SCHEMA.json [RUNS] [MAX_STEPS] [SEED]
// Compiles the schema (timed), builds the token trie (timed), then RUNS random
// generations: each step computes the mask as the sampler gets it (GrammarMasker::FillMask,
// with the per-state cache that persists across runs, as it does across requests of one
// compiled grammar), draws a random allowed token (a random model, the hardest case for
// the cache), and advances. Prints mean / p50 / p99 / max of the mask time, how many
// steps missed the cache, and the uncached walk's own mean.
#include <algorithm>
#include <chrono>
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
  auto compiled = std::make_shared<CompiledGrammar>(std::move(*g));
  GrammarMasker masker(compiled, trie);
  std::vector<uint64_t> bits(trie->num_words());
  std::vector<double> times, cold;
  std::mt19937_64 rng(seed);
  int completed = 0, misses = 0;
  size_t total_steps = 0;
  std::vector<int32_t> allowed;
  for (int r = 0; r < runs; ++r) {
    GrammarMatcher m(compiled);
    std::string text;
    for (int step = 0; step < max_steps; ++step) {
      const size_t states_before = compiled->num_states();
      if (m.CanEnd() && !m.CanContinue()) { ++completed; break; }  // complete: the engine stops here
      const auto a = Clock::now();
      masker.FillMask(m.state(), bits);
      const auto b = Clock::now();
      times.push_back(Us(b - a));
      (void)states_before;
      ++total_steps;
      allowed.clear();
      for (size_t w = 0; w < bits.size(); ++w) {
        for (uint64_t x = bits[w]; x; x &= x - 1) allowed.push_back(static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(x))));
      }
      if (allowed.empty()) { std::fprintf(stderr, "dead end at run %d step %d after: %s\n", r, step, text.c_str()); return 1; }
      const int32_t t = allowed[rng() % allowed.size()];
      if (trie->IsEndToken(t)) { ++completed; break; }
      if (!m.AcceptBytes(trie->bytes(t))) { std::fprintf(stderr, "masked token %d rejected\n", t); return 1; }
      text += trie->bytes(t);
    }
  }
  // The uncached walk (what a cache miss costs) at a sample of the states visited.
  for (int r = 0; r < 3; ++r) {
    GrammarMatcher m(compiled);
    for (int step = 0; step < 60; ++step) {
      const auto a = Clock::now();
      masker.ComputeMask(m.state(), bits);
      cold.push_back(Us(Clock::now() - a));
      allowed.clear();
      for (size_t w = 0; w < bits.size(); ++w) {
        for (uint64_t x = bits[w]; x; x &= x - 1) allowed.push_back(static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(x))));
      }
      const int32_t t = allowed[rng() % allowed.size()];
      if (trie->IsEndToken(t) || !m.AcceptBytes(trie->bytes(t))) break;
    }
  }
  for (double t : times) misses += t > 200 ? 1 : 0;
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))]; };
  double sum = 0;
  for (double t : times) sum += t;
  double csum = 0;
  for (double t : cold) csum += t;
  std::printf("vocab %d tokens (%zu trie nodes), schema %s\n", trie->n_vocab(), trie->num_nodes(), argv[2]);
  std::printf("compile %.1f us, trie %.1f ms (once per tokenizer), token bytes %.1f ms\n", Us(t1 - t0), Us(t3 - t2) / 1000, Us(t2 - t1) / 1000);
  std::printf("%d runs, %zu steps, %d complete; grammar states %zu\n", runs, total_steps, completed, compiled->num_states());
  std::printf("mask (FillMask, cached per state): mean %.2f us  p50 %.2f  p99 %.1f  max %.1f  (steps over 200 us: %d)\n",
              sum / static_cast<double>(times.size()), pct(0.5), pct(0.99), sorted.back(), misses);
  std::printf("uncached walk: mean %.1f us over %zu steps\n", csum / static_cast<double>(cold.size()), cold.size());
  return 0;
}
