// weft bench MODEL [-p 512] [-n 128] [-d 0] [-t T,...] [-r 5] [-o md|json|jsonl|csv] [--json FILE]:
// llama-bench's pp/tg tests on one sequence (cli/bench_llama.h).
#include "cli/moe_report.h"
#include "cli/bench_llama.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <tuple>

#include "base/cpu_info.h"
#include "base/sample_stats.h"
#include "base/thread_pool.h"
#include "cli/byte_size.h"
#include "cli/csv_table.h"
#include "cli/progress.h"
#include "kernels/machine_probe.h"
#include "weft/engine.h"
#include "model/model_summary.h"
#include "eval/single_sequence.h"
#include "weft/build_info.h"

namespace weft::cli {
namespace {

// What a forward pass reads and computes, from the bound weights.
struct ModelCost {
  uint64_t size_bytes = 0;        // every tensor (llama-bench's model_size)
  int64_t n_params = 0;           // every tensor's elements (model_n_params)
  uint64_t weight_bytes_per_token = 0;  // layer matrices + output matrix: one decode step reads them all
  int64_t layer_matmul_params = 0;      // weights of the layer matrices (2 ops each per token)
  int64_t output_params = 0;            // the output matrix (computed once per pp test: one logit row)
  bool quantised = false;               // the layer matrices are mostly quantised (int8 kernels)
  std::string type_label;               // "Q4_0", "Q4_K+Q6_K"
};

ModelCost ComputeCost(const Model& w) {
  ModelCost c;
  for (const TensorView& t : w.file().tensors()) {
    c.size_bytes += t.nbytes;
    c.n_params += t.NumElements();
  }
  std::map<DType, uint64_t> type_bytes;
  for (const TensorView* m : w.LayerMatrices()) {
    c.weight_bytes_per_token += m->nbytes;
    c.layer_matmul_params += m->NumElements();
    type_bytes[m->type] += m->nbytes;
  }
  c.weight_bytes_per_token += w.OutputMatrix().nbytes;
  c.output_params = w.OutputMatrix().NumElements();
  std::vector<std::pair<uint64_t, DType>> by_bytes;
  uint64_t total = 0;
  for (const auto& [type, bytes] : type_bytes) {
    by_bytes.emplace_back(bytes, type);
    total += bytes;
  }
  std::sort(by_bytes.rbegin(), by_bytes.rend());
  for (const auto& [bytes, type] : by_bytes) {
    if (!c.type_label.empty() && bytes * 20 < total) break;  // types under 5 % of the bytes are left out
    if (!c.type_label.empty()) c.type_label += '+';
    c.type_label += DTypeName(type);
  }
  c.quantised = !by_bytes.empty() && GetDTypeInfo(by_bytes.front().second).block_size > 1;
  return c;
}

// Useful ops of a pp test of n tokens after `depth` cached ones: 2 per weight per token
// for the layer matrices, the output matrix once (one logit row), and causal attention:
// q·k and p·v, 2 ops per multiply-add, over the (query, key) pairs of each head of each
// layer (query i sees depth + i + 1 keys: n * depth + n(n+1)/2 pairs).
double PromptOps(const ModelConfig& cfg, const ModelCost& c, int64_t n, int64_t depth) {
  const auto nd = static_cast<double>(n);
  const double pairs = nd * static_cast<double>(depth) + nd * (nd + 1) / 2;
  const double attention = 4.0 * static_cast<double>(cfg.n_layer * cfg.n_head * cfg.head_dim) * pairs;
  return 2.0 * static_cast<double>(c.layer_matmul_params) * nd + 2.0 * static_cast<double>(c.output_params) + attention;
}

// K/V bytes (of `type`, scales included) one step of a tg test of n tokens after `depth`
// cached ones reads, on average: token i attends depth + i + 1 positions.
double GenKvBytesPerToken(const ModelConfig& cfg, kernels::KvTypes type, int64_t n, int64_t depth) {
  return static_cast<double>(KvBytesPerToken(cfg, type)) *
         (static_cast<double>(depth) + static_cast<double>(n + 1) / 2);
}

std::string SizeLabel(int64_t n) {
  const auto v = static_cast<double>(n);
  if (v >= 1e9) return fmt::format("{:.1f}B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.0f}M", v / 1e6);
  return fmt::format("{:.0f}K", v / 1e3);
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "pp512", "tg128", "verify5", with " @ d4096" after a context of that many tokens.
std::string TestName(int n_prompt, int n_gen, int n_depth, bool verify) {
  const std::string name = verify ? fmt::format("verify{}", n_prompt)
                           : n_prompt > 0 ? fmt::format("pp{}", n_prompt) : fmt::format("tg{}", n_gen);
  return n_depth > 0 ? fmt::format("{} @ d{}", name, n_depth) : name;
}

struct TestResult {
  int threads = 0;
  int n_prompt = 0, n_gen = 0, n_depth = 0;
  bool verify = false;  // a verifyK test: n_prompt = K tokens in one pass, K logit rows
  kernels::KvTypes kv_type = kernels::KvType::kF16;  // of the sequence it ran on
  std::string test_time;
  std::vector<int64_t> samples_ns;
  std::vector<double> samples_ts;
  SampleStats ts;  // of samples_ts
  SampleStats ns;  // of samples_ns
  const kernels::MachinePeaks* peaks = nullptr;
  double useful_ops_per_token = 0;  // pp
  double kv_bytes_per_token = 0;    // tg: K/V read per step, on average
  double fraction = 0;              // of the bandwidth (tg) or of the compute peak (pp)
  const char* peak_kind = "";       // "mem", "int8", "fp32"
  std::optional<MoeStats> moe;      // a mixture of experts: over the timed runs

  std::string Name() const { return TestName(n_prompt, n_gen, n_depth, verify); }
};

struct Context {
  const LlamaBenchArgs& args;
  std::string path;
  const ModelConfig& cfg;
  ModelCost cost;
  std::string model_type;
  std::string isa;
  kernels::KvTypes kv_type = kernels::KvType::kF16;  // --kv-type
  std::optional<kernels::KvTypes> kv_ab = std::nullopt;  // --kv-ab
};

std::string MachineLine(const kernels::MachinePeaks& p) {
  return fmt::format("memory read {:.1f} GB/s, int8 {:.2f} TOPS, fp32 {:.2f} TFLOPS ({} thread{}, {} probes)",
                     p.read_bytes_per_s / 1e9, p.int8_ops_per_s / 1e12, p.fp32_flops_per_s / 1e12, p.threads,
                     p.threads == 1 ? "" : "s", p.isa);
}

nlohmann::ordered_json ToJson(const Context& c, const TestResult& r) {
  nlohmann::ordered_json j;
  j["build_commit"] = WEFT_GIT_COMMIT;
  j["build_number"] = 0;
  j["cpu_info"] = CpuModelName();
  j["gpu_info"] = "";
  j["backends"] = "CPU";
  j["model_filename"] = c.path;
  j["model_type"] = c.model_type;
  j["model_size"] = c.cost.size_bytes;
  j["model_n_params"] = c.cost.n_params;
  j["n_batch"] = c.args.ubatch;
  j["n_ubatch"] = c.args.ubatch;
  j["n_threads"] = r.threads;
  j["cpu_mask"] = "0x0";
  j["cpu_strict"] = false;
  j["poll"] = 50;
  j["type_k"] = "f16";
  j["type_v"] = "f16";
  j["n_gpu_layers"] = 0;
  j["split_mode"] = "layer";
  j["main_gpu"] = 0;
  j["no_kv_offload"] = false;
  j["flash_attn"] = true;  // weft's attention is online-softmax over KV blocks (no score matrix)
  j["tensor_split"] = "0.00";
  j["use_mmap"] = true;
  j["embeddings"] = false;
  j["n_prompt"] = r.n_prompt;
  j["n_gen"] = r.n_gen;
  j["n_depth"] = r.n_depth;
  if (r.verify) j["weft_verify_tokens"] = r.n_prompt;  // n_prompt tokens, all with logits
  j["test_time"] = r.test_time;
  j["avg_ns"] = static_cast<int64_t>(std::llround(r.ns.mean));
  j["stddev_ns"] = static_cast<int64_t>(std::llround(r.ns.stddev));
  j["avg_ts"] = r.ts.mean;
  j["stddev_ts"] = r.ts.stddev;
  j["samples_ns"] = r.samples_ns;
  j["samples_ts"] = r.samples_ts;
  // weft's own fields.
  j["weft_version"] = WEFT_VERSION;
  j["isa"] = c.isa;
  j["type_k"] = kernels::KvTypeName(r.kv_type.k);  // llama-bench's field names
  j["type_v"] = kernels::KvTypeName(r.kv_type.v);
  j["probe_isa"] = r.peaks->isa;
  j["mem_bw_gbs"] = r.peaks->read_bytes_per_s / 1e9;
  j["int8_tops"] = r.peaks->int8_ops_per_s / 1e12;
  j["fp32_tflops"] = r.peaks->fp32_flops_per_s / 1e12;
  j["weight_bytes_per_token"] = c.cost.weight_bytes_per_token;
  if (r.n_prompt > 0) {
    j["useful_ops_per_token"] = r.useful_ops_per_token;
    j["compute_peak"] = r.peak_kind;
    j["compute_fraction"] = r.fraction;
  } else {
    j["kv_bytes_per_token"] = r.kv_bytes_per_token;
    j["bandwidth_fraction"] = r.fraction;
  }
  j["median_ts"] = r.ts.median;
  if (r.moe) AddMoeJson(*r.moe, static_cast<int64_t>(r.n_prompt + r.n_gen) * static_cast<int64_t>(r.samples_ns.size()), &j);
  return j;
}

// A markdown table, columns padded like llama-bench's (numbers right-aligned).
void PrintTable(const Context& c, const std::vector<TestResult>& results) {
  std::vector<std::string> head = {"model", "size", "params", "backend", "isa", "threads", "test", "t/s",
                                   "of peak"};
  std::vector<bool> right = {false, true, true, false, false, true, true, true, true};
  // A KV type other than the default gets a column (as llama-bench's type_k / type_v).
  const bool kv_column = c.kv_type != kernels::KvType::kF16 || c.kv_ab.has_value();
  if (kv_column) head.insert(head.begin() + 6, "type_kv"), right.insert(right.begin() + 6, false);
  std::vector<std::vector<std::string>> rows;
  for (const TestResult& r : results) {
    rows.push_back({c.model_type, HumanBytes(c.cost.size_bytes), HumanCount(c.cost.n_params), "CPU", c.isa,
                    std::to_string(r.threads), r.Name(), fmt::format("{:.2f} ± {:.2f}", r.ts.mean, r.ts.stddev),
                    fmt::format("{:.1f}% {}", 100 * r.fraction, r.peak_kind)});
    if (kv_column) rows.back().insert(rows.back().begin() + 6, kernels::KvTypeName(r.kv_type));
  }
  std::vector<size_t> width(head.size());
  auto display_width = [](const std::string& s) {  // "±" is 2 bytes, 1 column
    size_t w = 0;
    for (unsigned char ch : s) w += (ch & 0xC0) != 0x80;
    return w;
  };
  for (size_t i = 0; i < head.size(); ++i) {
    width[i] = std::max<size_t>(head[i].size(), 3);
    for (const auto& row : rows) width[i] = std::max(width[i], display_width(row[i]));
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line = "|";
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(width[i] - display_width(cells[i]), ' ');
      line += " " + (right[i] ? pad + cells[i] : cells[i] + pad) + " |";
    }
    std::printf("%s\n", line.c_str());
  };
  print_row(head);
  std::string sep = "|";
  for (size_t i = 0; i < head.size(); ++i) sep += " " + std::string(width[i] - (right[i] ? 1 : 0), '-') + (right[i] ? ":" : "") + " |";
  std::printf("%s\n", sep.c_str());
  for (const auto& row : rows) print_row(row);
}

// x[i] / y[i] for the runs both have: runs of two tests that ran interleaved, side by side.
template <class T>
std::vector<double> PairedRatios(const std::vector<T>& x, const std::vector<T>& y) {
  std::vector<double> r;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) r.push_back(static_cast<double>(x[i]) / static_cast<double>(y[i]));
  return r;
}

// --kv-ab: each test's --kv-ab run beside its --kv-type run of the same repetition (the
// two ran back to back, in alternating order): the median ratio of their speeds, the
// range, and how often the --kv-ab type was faster.
void PrintKvAb(const Context& c, const std::vector<TestResult>& results) {
  const std::string a_name = kernels::KvTypeName(c.kv_type), b_name = kernels::KvTypeName(*c.kv_ab);
  for (const TestResult& b : results) {
    if (b.kv_type != *c.kv_ab) continue;
    for (const TestResult& a : results) {
      if (a.kv_type != c.kv_type || a.threads != b.threads || a.Name() != b.Name()) continue;
      const std::vector<double> ratios = PairedRatios(b.samples_ts, a.samples_ts);
      const auto wins = std::count_if(ratios.begin(), ratios.end(), [](double x) { return x > 1.0; });
      const SampleStats s = Summarize(ratios);
      std::printf("%s, %d thread%s: %s over %s %.2fx (median of %zu paired runs, %.2f..%.2f), %s faster in %d of %zu\n",
                  b.Name().c_str(), b.threads, b.threads == 1 ? "" : "s", b_name.c_str(), a_name.c_str(), s.median,
                  ratios.size(), s.min, s.max, b_name.c_str(), static_cast<int>(wins), ratios.size());
    }
  }
}

std::vector<int32_t> RandomTokens(size_t n, std::mt19937_64& rng, int64_t n_vocab) {
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(n_vocab - 1));
  std::vector<int32_t> tokens(n);
  for (auto& t : tokens) t = token(rng);
  return tokens;
}

// Fills `seq` with `depth` random tokens (untimed; the context a test runs after).
Status FillDepth(SingleSequence& seq, int depth, std::mt19937_64& rng, int64_t n_vocab, std::vector<float>& logits) {
  seq.Reset();
  if (depth == 0) return Status::Ok();
  const std::vector<int32_t> tokens = RandomTokens(static_cast<size_t>(depth), rng, n_vocab);
  const int32_t last = depth - 1;
  return seq.Append(tokens, std::span<const int32_t>(&last, 1), logits.data());
}

// One timed pass of a test on `seq`, after its first `depth` cached tokens, in nanoseconds.
// verify: the n_prompt tokens in one pass with the logits of every row (`logits` holds
// n_prompt rows).
StatusOr<int64_t> RunOnce(SingleSequence& seq, int depth, int n_prompt, int n_gen, bool verify, std::mt19937_64& rng,
                          int64_t n_vocab, std::vector<float>& logits) {
  const std::vector<int32_t> tokens = RandomTokens(static_cast<size_t>(std::max(n_prompt, n_gen)), rng, n_vocab);
  WEFT_RETURN_IF_ERROR(seq.Truncate(depth));
  std::vector<int32_t> rows;
  if (verify) {
    for (int32_t i = 0; i < n_prompt; ++i) rows.push_back(i);
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (verify) {
    WEFT_RETURN_IF_ERROR(seq.Append(tokens, rows, logits.data()));
  } else if (n_prompt > 0) {
    const int32_t last = n_prompt - 1;
    WEFT_RETURN_IF_ERROR(seq.Append(tokens, std::span<const int32_t>(&last, 1), logits.data()));
  } else {
    const int32_t row = 0;
    for (int i = 0; i < n_gen; ++i) {
      WEFT_RETURN_IF_ERROR(seq.Append(std::span<const int32_t>(&tokens[static_cast<size_t>(i)], 1),
                                      std::span<const int32_t>(&row, 1), logits.data()));
    }
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
}

// One test's shape: pp (n_prompt), tg (n_gen) or verifyK (n_prompt = K, verify).
struct TestShape {
  int n_prompt = 0, n_gen = 0;
  bool verify = false;
};

// What RunTestGroup works with: one thread count's runner state.
struct GroupEnv {
  const LlamaBenchArgs& a;
  const Context& c;
  const ModelConfig& cfg;
  const Model& model;
  const kernels::MachinePeaks* peaks;
  int threads;
  std::vector<std::unique_ptr<SingleSequence>>& seqs;  // one per KV type (--kv-type, then --kv-ab)
  const std::vector<kernels::KvTypes>& kv_types;
  std::vector<float>& logits;
  ProgressBar* bar;  // nullptr: none
  int64_t& done_runs;
  int64_t total_runs;
};

// Runs `shapes` after `depth` cached tokens on every sequence and appends a TestResult per
// (sequence, shape). Run i of every (sequence, shape) comes before run i + 1 of any, the
// order reversed every other run, so that a change of machine speed during the group hits
// them alike and run i of one can be set beside run i of another. Every sequence draws the
// same tokens (its own copy of rng); rng continues from the first sequence's.
Status RunTestGroup(GroupEnv& e, int depth, const std::vector<TestShape>& shapes, std::mt19937_64& rng,
                    std::vector<TestResult>* results) {
  const size_t nv = e.seqs.size(), ns = shapes.size();
  std::vector<std::vector<TestResult>> rs(nv, std::vector<TestResult>(ns));
  std::vector<std::mt19937_64> rngs(nv, rng);
  const std::string label = fmt::format("{}, {} thread{}", TestName(shapes[0].n_prompt, shapes[0].n_gen, depth,
                                                                   shapes[0].verify),
                                        e.threads, e.threads == 1 ? "" : "s");
  for (size_t v = 0; v < nv; ++v) {
    if (e.bar && depth > 0) e.bar->Update(e.done_runs, e.total_runs, fmt::format("{}, filling {} tokens", label, depth));
    WEFT_RETURN_IF_ERROR(FillDepth(*e.seqs[v], depth, rngs[v], e.cfg.n_vocab, e.logits));
    for (size_t k = 0; k < ns; ++k) {
      const TestShape& sh = shapes[k];
      TestResult& r = rs[v][k];
      r.threads = e.threads;
      r.n_depth = depth;
      r.n_prompt = sh.n_prompt;
      r.n_gen = sh.n_gen;
      r.verify = sh.verify;
      r.kv_type = e.kv_types[v];
      r.peaks = e.peaks;
      r.test_time = UtcNow();
      if (!e.a.no_warmup) {  // as llama-bench: the whole prompt, or one generated token
        WEFT_RETURN_IF_ERROR(RunOnce(*e.seqs[v], depth, sh.n_prompt, sh.n_prompt > 0 ? 0 : 1, sh.verify, rngs[v],
                                     e.cfg.n_vocab, e.logits)
                                 .status());
      }
    }
  }
  const std::optional<MoeStats> moe_before = e.model.moe_stats();
  for (int rep = 0; rep < e.a.repetitions; ++rep) {
    if (e.bar) e.bar->Update(e.done_runs, e.total_runs, fmt::format("{}, run {}/{}", label, rep + 1, e.a.repetitions));
    for (size_t i = 0; i < nv * ns; ++i) {
      const size_t j = rep % 2 == 0 ? i : nv * ns - 1 - i;  // forward, then backward, ...
      const size_t v = j / ns, k = j % ns;
      const TestShape& sh = shapes[k];
      WEFT_ASSIGN_OR_RETURN(int64_t t_ns, RunOnce(*e.seqs[v], depth, sh.n_prompt, sh.n_gen, sh.verify, rngs[v],
                                                  e.cfg.n_vocab, e.logits));
      rs[v][k].samples_ns.push_back(t_ns);
      rs[v][k].samples_ts.push_back(static_cast<double>(sh.n_prompt + sh.n_gen) * 1e9 / static_cast<double>(t_ns));
    }
    e.done_runs += static_cast<int64_t>(ns);
  }
  rng = rngs[0];
  const ModelCost& cost = e.c.cost;
  for (auto& per_seq : rs) {
    for (TestResult& r : per_seq) {
      if (moe_before && nv * ns == 1) r.moe = MoeDelta(*moe_before, *e.model.moe_stats());
      r.ts = Summarize(r.samples_ts);
      std::vector<double> t_ns(r.samples_ns.begin(), r.samples_ns.end());
      r.ns = Summarize(t_ns);
      if (r.n_prompt > 0) {
        // A verify pass computes the output matrix for every row, not once.
        const double extra_heads = r.verify ? 2.0 * static_cast<double>(cost.output_params) * (r.n_prompt - 1) : 0.0;
        r.useful_ops_per_token = (PromptOps(e.cfg, cost, r.n_prompt, depth) + extra_heads) / r.n_prompt;
        const double peak = cost.quantised ? r.peaks->int8_ops_per_s : r.peaks->fp32_flops_per_s;
        r.peak_kind = cost.quantised ? "int8" : "fp32";
        r.fraction = r.useful_ops_per_token * r.ts.mean / peak;
      } else {
        r.peak_kind = "mem";
        r.kv_bytes_per_token = GenKvBytesPerToken(e.cfg, r.kv_type, r.n_gen, depth);
        r.fraction = (static_cast<double>(cost.weight_bytes_per_token) + r.kv_bytes_per_token) * r.ts.mean /
                     r.peaks->read_bytes_per_s;
      }
      results->push_back(std::move(r));
    }
  }
  return Status::Ok();
}

// Options both modes take (CLI11 names: the positional's, else the long name).
const std::set<std::string> kSharedOptions = {"model",      "--model",        "--threads",     "--json",
                                               "--seed",     "--help",         "--n-gpu-layers", "--flash-attn",
                                               "--gpu-memory-utilization", "--expert-cache-mem", "--kv-type"};

}  // namespace

void AddLlamaBenchOptions(CLI::App* cmd, LlamaBenchArgs* a) {
  auto own = [a](CLI::Option* o) {
    a->own_options.push_back(o);
    return o;
  };
  // A comma list, or the flag given again: -p 128,512 or -p 128 -p 512.
  auto list = [cmd](const char* name, std::vector<int>* v, const std::string& help, int lo, int hi) {
    return cmd->add_option(name, *v, help)
        ->delimiter(',')
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->check(CLI::Range(lo, hi));
  };
  own(list("-p,--n-prompt", &a->n_prompt, "pp tests: prompt lengths in tokens, a comma list; 0 skips (default: 512)", 0,
           1 << 20));
  own(list("-n,--n-gen", &a->n_gen, "tg tests: tokens to generate, a comma list; 0 skips (default: 128)", 0, 1 << 20));
  own(list("-d,--n-depth", &a->n_depth,
           "Run each test after this many tokens already in the KV cache (untimed), a comma list; attention then "
           "reads that context (default: 0)",
           0, 1 << 20));
  own(list("--verify-tokens", &a->n_verify,
           "verifyK tests (weft's own): one forward pass of K tokens with the logits of all K rows, as a "
           "speculative-decoding verification pass of K - 1 drafts; a comma list, e.g. 1,5, whose sizes run "
           "interleaved run by run; each verifyK's time is then given over verify1's (default: none)",
           1, 4096));
  own(cmd->add_option("-r,--repetitions", a->repetitions, "Timed runs of each test, after one untimed warm-up (default: 5)")
          ->check(CLI::Range(1, 1000)));
  own(cmd->add_option("-o,--output", a->output,
                      "stdout format: md (a table like llama-bench's), json (an array of llama-bench's objects), jsonl "
                      "(one object per line), csv (llama-bench's fields, one quoted line per test) (default: md)")
          ->check(CLI::IsMember({"md", "json", "jsonl", "csv"})));
  own(cmd->add_option("--ubatch-size", a->ubatch, "Tokens per forward pass of a pp test (default: 512)")
          ->check(CLI::Range(1, 1 << 16)));
  own(cmd->add_option("--probe-mem", a->probe_mem,
                      "Buffer streamed to measure memory read bandwidth; keep it well above the L3 size (default: 1G)"));
  own(cmd->add_flag("--no-warmup", a->no_warmup, "Skip the untimed warm-up run of each test"));
  own(cmd->add_option("--kv-ab", a->kv_ab,
                      "A/B of KV cache types (weft's own): every test also runs with this type (T or K,V, as "
                      "--kv-type), on a second cache, the two alternating run by run on the same tokens; after the "
                      "table, this type's speed over --kv-type's per test (median of the paired runs, range, wins)"));
  // Shared with the engine mode, which takes the first value.
  list("-t,--threads", &a->threads,
       "Compute threads, a comma list: each pp/tg test runs with each (default: one per physical core; --batch uses "
       "one value)",
       1, 4096);
}

bool EngineOptionsGiven(const CLI::App& cmd, const LlamaBenchArgs& a) {
  for (const CLI::Option* o : cmd.get_options()) {
    if (o->count() == 0 || kSharedOptions.count(o->get_name()) > 0) continue;
    if (std::find(a.own_options.begin(), a.own_options.end(), o) != a.own_options.end()) continue;
    return true;
  }
  return false;
}

bool LlamaBenchOptionsGiven(const LlamaBenchArgs& a) {
  return std::any_of(a.own_options.begin(), a.own_options.end(), [](const CLI::Option* o) { return o->count() > 0; });
}

void GroupBenchOptions(CLI::App* cmd, const LlamaBenchArgs& a) {
  for (CLI::Option* o : cmd->get_options()) {
    if (std::find(a.own_options.begin(), a.own_options.end(), o) != a.own_options.end()) {
      o->group("pp/tg tests (the default mode)");
    } else if (kSharedOptions.count(o->get_name()) == 0) {
      o->group("Engine mode (--batch N, or any of these)");
    }
  }
}

std::string BenchHelpFooter() {
  return "Without --batch or another engine flag, weft bench runs llama-bench's tests on one sequence:\n"
         "pp N evaluates a prompt of N random tokens from an empty KV cache, tg N generates N tokens one\n"
         "forward pass at a time. Each test runs once untimed, then -r times; t/s is mean ± sample stddev.\n"
         "The same run measures the machine with each thread count (memory read bandwidth over a --probe-mem\n"
         "buffer, int8 VNNI and fp32 FMA peaks) and says what share of it each test reached: tg as the weight\n"
         "and K/V bytes read per token x t/s / bandwidth; pp as useful ops (2 per weight per token, plus causal\n"
         "attention) x t/s / the int8 peak for quantised weights, the fp32 peak for float ones.\n"
         "-d D runs each test after D tokens already in the cache (filled untimed once per test, each timed\n"
         "run starts again from them), like llama-bench's -d: decode and prefill at a long context.\n"
         "With --batch N (or any engine flag), N synthetic requests go through the engine at once.\n\n"
         "Examples:\n"
         "  weft bench tinyllama-v0                          # pp512 and tg128, 5 timed runs each\n"
         "  weft bench MODEL -p 128,512 -n 0 -t 1,2 -r 3     # prefill only, two sizes x two thread counts\n"
         "  weft bench MODEL -p 512 -n 128 -d 0,4096         # the same tests at an empty and a 4096-token context\n"
         "  weft bench MODEL -p 0 -n 64 -d 4096 --kv-ab q8   # f16 against int8 KV at depth, run by run\n"
         "  weft bench MODEL -o json > results.json          # llama-bench's JSON fields, plus weft's\n"
         "  weft bench MODEL --json results.json             # the table, and the JSON in a file\n"
         "  weft bench MODEL --batch 16 --prompt-len 128 --gen-len 128   # the engine under load";
}

Status RunLlamaBench(const LlamaBenchArgs& a) {
  std::vector<int> prompts, gens;
  for (int p : a.n_prompt) if (p > 0) prompts.push_back(p);
  for (int n : a.n_gen) if (n > 0) gens.push_back(n);
  const std::vector<int> verifies = a.n_verify;
  if (prompts.empty() && gens.empty() && verifies.empty()) {
    return InvalidArgumentError("nothing to run: every -p and -n value is 0 and no --verify-tokens");
  }
  for (int v : verifies) {
    if (v > a.ubatch) {
      return InvalidArgumentError(fmt::format("--verify-tokens {} is more than --ubatch-size {}: a verify test is one pass", v, a.ubatch));
    }
  }
  std::vector<int> threads = a.threads;
  if (threads.empty()) threads.push_back(PhysicalCoreCount());
  WEFT_ASSIGN_OR_RETURN(int64_t probe_bytes, ParseByteSize("--probe-mem", a.probe_mem));

  OpenModelOptions no_tokenizer;
  no_tokenizer.load_tokenizer = false;  // random token ids
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(a.model_flags, no_tokenizer));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  const std::string& path = m.path;
  const ModelConfig& cfg = m.model->config();
  std::vector<int> depths = a.n_depth;
  if (depths.empty()) depths.push_back(0);
  int longest_test = 0;
  for (int v : prompts) longest_test = std::max(longest_test, v);
  for (int v : gens) longest_test = std::max(longest_test, v);
  int most_logit_rows = 1;
  for (int v : verifies) longest_test = std::max(longest_test, v), most_logit_rows = std::max(most_logit_rows, v);
  const int deepest = *std::max_element(depths.begin(), depths.end());
  const int longest = deepest + longest_test;
  if (longest > cfg.context_length) {
    return OutOfRangeError(fmt::format("a test of {} tokens{} does not fit the model's context of {} tokens",
                                       longest_test, deepest > 0 ? fmt::format(" after {} (-d)", deepest) : "",
                                       cfg.context_length));
  }
  Context c{a, path, cfg, ComputeCost(*m.model), "", ""};
  WEFT_RETURN_IF_ERROR(RefuseKvWindow(a.model_flags, "weft bench without --batch"));
  WEFT_ASSIGN_OR_RETURN(c.kv_type, KvTypeFrom(a.model_flags));
  if (!a.kv_ab.empty()) {
    WEFT_ASSIGN_OR_RETURN(const kernels::KvTypes b, KvTypesFromFlag("--kv-ab", a.kv_ab));
    if (b == c.kv_type) {
      return InvalidArgumentError(fmt::format("--kv-ab {} is the --kv-type already measured: name another type to "
                                              "compare with it",
                                              a.kv_ab))
          .WithField("--kv-ab");
    }
    c.kv_ab = b;
  }
  c.model_type = fmt::format("{} {} {}", cfg.arch, SizeLabel(c.cost.n_params), c.cost.type_label);
  const bool md = a.output == "md";
  std::FILE* info = md ? stdout : stderr;  // stdout stays parseable JSON otherwise

  // The machine, with each thread count (before any model runner exists, so that no
  // idle pool competes with the probes).
  std::map<int, kernels::MachinePeaks> peaks;
  {
    WEFT_ASSIGN_OR_RETURN(auto probe, kernels::MachineProbe::Create(static_cast<size_t>(probe_bytes)));
    for (int t : threads) {
      if (peaks.count(t) > 0) continue;
      ThreadPool pool(t);
      peaks[t] = probe->Measure(pool);
      std::fprintf(info, "%s\n", MachineLine(peaks[t]).c_str());
      std::fflush(info);
    }
  }

  std::unique_ptr<ProgressBar> bar;
  if (::isatty(STDERR_FILENO) == 1) bar = std::make_unique<ProgressBar>("weft bench");
  const int64_t total_runs =
      static_cast<int64_t>(threads.size() * depths.size() * (prompts.size() + gens.size() + verifies.size())) *
      a.repetitions;
  int64_t done_runs = 0;
  std::mt19937_64 rng(a.seed);
  std::vector<float> logits(static_cast<size_t>(cfg.n_vocab) * static_cast<size_t>(most_logit_rows));
  std::vector<TestResult> results;
  for (int t : threads) {
    RunnerOptions ro;
    ro.threads = t;
    ro.max_tokens_per_step = a.ubatch;
    ro.max_logit_rows = most_logit_rows;
    WEFT_ASSIGN_OR_RETURN(auto runner, ModelRunner::Create(m.model, ro));
    c.isa = runner->isa_name();
    // One sequence per KV type (--kv-type, then --kv-ab's), each with its own cache.
    std::vector<kernels::KvTypes> kv_types = {c.kv_type};
    if (c.kv_ab) kv_types.push_back(*c.kv_ab);
    std::vector<std::unique_ptr<SingleSequence>> seqs;
    for (const kernels::KvTypes& kv : kv_types) {
      WEFT_ASSIGN_OR_RETURN(auto seq, SingleSequence::Create(runner.get(), longest, 16, kv));
      seqs.push_back(std::move(seq));
    }
    // A group runs its tests interleaved (RunTestGroup): one pp or tg test alone; all the
    // verifyK tests of a depth together, since their ratio to verify1 is the figure.
    std::vector<std::pair<int, std::vector<TestShape>>> groups;  // (n_depth, shapes)
    for (int d : depths) {
      for (int p : prompts) groups.push_back({d, {TestShape{p, 0, false}}});
      for (int n : gens) groups.push_back({d, {TestShape{0, n, false}}});
      if (verifies.empty()) continue;
      std::vector<TestShape> vs;
      for (int v : verifies) vs.push_back(TestShape{v, 0, true});
      groups.push_back({d, vs});
    }
    GroupEnv env{a, c, cfg, *m.model, &peaks[t], t, seqs, kv_types, logits, bar.get(), done_runs, total_runs};
    for (const auto& [depth, shapes] : groups) WEFT_RETURN_IF_ERROR(RunTestGroup(env, depth, shapes, rng, &results));
  }
  if (bar) {
    bar->Update(total_runs, total_runs, "done");
    bar->Finish();
  }

  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const TestResult& r : results) all.push_back(ToJson(c, r));
  if (md) {
    PrintTable(c, results);
    for (const TestResult& r : results) {
      if (!r.moe) continue;
      const int64_t tokens = static_cast<int64_t>(r.n_prompt + r.n_gen) * static_cast<int64_t>(r.samples_ns.size());
      std::printf("%s: %s\n", r.Name().c_str(), MoeSummary(*r.moe, tokens).c_str());
    }
    // Each verifyK beside verify1 of the same threads, depth and KV type: the cost of a
    // pass of K tokens in units of a 1-token pass, from the medians and run by run (the
    // verify tests of a depth ran interleaved).
    for (const TestResult& r : results) {
      if (!r.verify || r.n_prompt == 1) continue;
      for (const TestResult& one : results) {
        if (!one.verify || one.n_prompt != 1 || one.threads != r.threads || one.n_depth != r.n_depth ||
            one.kv_type != r.kv_type) {
          continue;
        }
        const SampleStats paired = Summarize(PairedRatios(r.samples_ns, one.samples_ns));
        const std::string kv = c.kv_ab ? ", " + kernels::KvTypeName(r.kv_type) : "";
        std::printf("%s, %d thread%s%s: %.1f ms a pass, %.2fx verify1's %.1f ms (medians); run by run %.2fx "
                    "(%.2f..%.2f)\n",
                    r.Name().c_str(), r.threads, r.threads == 1 ? "" : "s", kv.c_str(), r.ns.median / 1e6,
                    r.ns.median / one.ns.median, one.ns.median / 1e6, paired.median, paired.min, paired.max);
      }
    }
    if (c.kv_ab) PrintKvAb(c, results);
    std::printf("\nbuild: %s (weft %s)\n", WEFT_GIT_COMMIT, WEFT_VERSION);
  } else if (a.output == "json") {
    std::printf("%s\n", all.dump(2).c_str());
  } else if (a.output == "csv") {
    std::fputs(JsonRowsToCsv(all).c_str(), stdout);
  } else {
    for (const auto& j : all) std::printf("%s\n", j.dump().c_str());
  }
  if (!a.json_out.empty()) {
    std::ofstream out(a.json_out);
    out << all.dump(2) << "\n";
    if (!out) return InternalError(a.json_out + ": cannot write the JSON results");
  }
  return Status::Ok();
}

}  // namespace weft::cli
