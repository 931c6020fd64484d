// `weft bench MODEL` without --batch: llama-bench's tests on one sequence.
//  * pp N: evaluate a prompt of N random tokens from an empty KV cache (in chunks of
//    --ubatch-size tokens); t/s = N / time.
//  * tg N: generate N tokens one forward pass at a time from an empty cache, feeding
//    random tokens; t/s = N / time.
//  * verifyK (--verify-tokens K, weft's own): one forward pass of K random tokens with the
//    logits of all K rows, as a speculative-decoding verification pass of K - 1 drafts;
//    t/s = K / time. The verifyK tests of a depth run interleaved (run i of each size before
//    run i + 1 of any), and the table is followed by each verifyK's time over verify1's:
//    the ratio of the medians, and the median and range of the run-by-run ratios.
//  * -d D (llama-bench's n_depth): both run after D random tokens already in the cache
//    (evaluated once per test, untimed; each timed run starts again from those D), so
//    attention reads a context of D + i tokens; the test is named "pp512 @ d4096".
//  * --kv-ab TYPE (weft's own): each test also runs on a second sequence whose KV cache is
//    of TYPE, the two alternating run by run (the order swapped every run) on the same
//    tokens in one process, so that a change of machine speed hits both alike; after the
//    table, TYPE's speed over --kv-type's per test: the median of the paired runs' ratios,
//    their range, and in how many runs TYPE was faster.
// Each test runs once untimed (warm-up), then -r times; t/s is reported as mean ±
// sample stddev, as llama-bench does. The same run measures the machine (memory read
// bandwidth, int8 and FP32 peaks: kernels/machine_probe.h) with each thread count and
// reports the fraction of it each test achieved. Output: a markdown table (-o md), or
// llama-bench's JSON fields plus weft's own (-o json|jsonl, --json FILE).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/model_flags.h"
#include "weft/status.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace weft::cli {

struct LlamaBenchArgs {
  std::string model;
  std::vector<int> n_prompt{512};  // 0 entries are skipped
  std::vector<int> n_gen{128};
  std::vector<int> n_depth{0};     // tokens in the cache before each test
  std::vector<int> n_verify;       // verifyK tests (K tokens, K logit rows, one pass); empty: none
  std::vector<int> threads;        // empty: one per physical core
  int repetitions = 5;
  int ubatch = 512;                // tokens per forward pass in pp tests
  std::string output = "md";       // md, json, jsonl (stdout)
  std::string json_out;            // --json FILE: the JSON array, whatever -o says
  std::string probe_mem = "1G";    // memory bandwidth probe buffer
  bool no_warmup = false;
  std::string kv_ab;               // --kv-ab TYPE: every test also with this KV type, alternating run by run
  uint64_t seed = 1;               // random token ids
  std::vector<const CLI::Option*> own_options;  // filled by AddLlamaBenchOptions
  ModelFlags model_flags;                       // shared with the engine mode
};

// Registers this mode's options on `cmd` (-p, -n, -d, -t, -r, -o, --ubatch-size, --verify-tokens,
// --probe-mem, --no-warmup, --kv-ab). -t takes a comma list; the engine mode uses its first value.
void AddLlamaBenchOptions(CLI::App* cmd, LlamaBenchArgs* a);

// True when an option of `cmd` other than the model, -t, --json, --seed and this mode's
// own options was given: then `weft bench` runs the engine mode (--batch and friends).
bool EngineOptionsGiven(const CLI::App& cmd, const LlamaBenchArgs& a);
// True when one of this mode's own options (other than -t) was given.
bool LlamaBenchOptionsGiven(const LlamaBenchArgs& a);

// Sorts the options of `cmd` into help groups: this mode's, the engine mode's, shared.
// Call after every option is registered.
void GroupBenchOptions(CLI::App* cmd, const LlamaBenchArgs& a);

// The two modes explained, and examples, for `weft bench --help`.
std::string BenchHelpFooter();

Status RunLlamaBench(const LlamaBenchArgs& a);

}  // namespace weft::cli
