// Experts on disk (model/expert_cache.h, --expert-cache-mem): logits bit-identical to the
// fully resident model at every capacity, from one expert up to all of them, on Mixtral's
// layout (tinymoe) and Qwen2-MoE's (tinyqmoe, with a shared expert) in Q8_0 and Q4_0, and
// DeepSeek's (tests/tools/synth_arch.py deepseek2: a dense first layer); the
// cache's accounting (hits + misses = expert uses, resident bytes within the capacity
// plus the layer in use, bytes read = misses' and prefetches' bytes) and the routing
// counters (every token routed to n_expert_used experts per layer).
#include "model/expert_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "eval/single_sequence.h"
#include "kernels/kernel_table.h"
#include "model/model_registry.h"
#include "model/model_runner.h"
#include "support/golden.h"

namespace weft {
namespace {

struct Evaluation {
  std::vector<float> logits;
  MoeStats stats;
};

// Logits at every position of `tokens`, evaluated in chunks of 8.
Evaluation Evaluate(const std::string& path, const std::vector<int32_t>& tokens, int64_t cache_bytes) {
  Evaluation out;
  auto file = OpenModelFile(path);
  EXPECT_TRUE(file.ok()) << file.status().message();
  BindOptions bind;
  bind.expert_cache_bytes = cache_bytes;
  auto model = BindModel(*file, bind);
  EXPECT_TRUE(model.ok()) << model.status().message();
  RunnerOptions opt;
  opt.max_tokens_per_step = 8;
  opt.max_logit_rows = 8;
  opt.threads = 2;
  auto runner = ModelRunner::Create(*model, opt);
  EXPECT_TRUE(runner.ok()) << runner.status().message();
  auto seq = SingleSequence::Create(runner->get(), static_cast<int64_t>(tokens.size()), 16, kernels::KvType::kF16);
  EXPECT_TRUE(seq.ok()) << seq.status().message();
  const int64_t V = (*model)->config().n_vocab;
  out.logits.resize(tokens.size() * static_cast<size_t>(V));
  for (size_t at = 0; at < tokens.size(); at += 8) {
    const size_t n = std::min<size_t>(8, tokens.size() - at);
    std::vector<int32_t> rows(n);
    std::iota(rows.begin(), rows.end(), 0);  // positions within this chunk
    Status s = (*seq)->Append(std::span(tokens).subspan(at, n), rows, out.logits.data() + at * V);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  out.stats = *(*model)->moe_stats();
  return out;
}

struct CacheCase {
  const char* preset;
  const char* type;
  int64_t dense_layers = 0;  // leading layers without experts
};
class ExpertCacheTest : public ::testing::TestWithParam<CacheCase> {};

TEST_P(ExpertCacheTest, LogitsIdenticalAtEveryCapacity) {
  auto path = testing::SynthModel(GetParam().preset, GetParam().type);
  ASSERT_TRUE(path.ok()) << path.status().message();
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(100 + (i * 7919) % 20000);

  const Evaluation resident = Evaluate(*path, tokens, 0);
  const MoeStats& rs = resident.stats;
  ASSERT_GT(rs.n_expert, 0);
  EXPECT_FALSE(rs.cache.has_value());
  // Every token routed to n_expert_used experts in each layer with experts; none in a
  // dense one (DeepSeek's first layer).
  int64_t moe_layers = 0;
  for (int64_t l = 0; l < rs.n_layer; ++l) {
    int64_t sum = 0;
    for (int64_t e = 0; e < rs.n_expert; ++e) sum += rs.routed[static_cast<size_t>(l * rs.n_expert + e)];
    const bool dense = l < GetParam().dense_layers;
    EXPECT_EQ(sum, dense ? 0 : static_cast<int64_t>(tokens.size()) * rs.n_expert_used) << "layer " << l;
    if (!dense) ++moe_layers;
  }

  // Capacity in experts: 1, half of one layer's, one layer's, all (plus one byte: no eviction).
  const Evaluation probe = Evaluate(*path, tokens, int64_t{1} << 40);
  ASSERT_TRUE(probe.stats.cache.has_value());
  const int64_t all = probe.stats.cache->total_bytes;
  const int64_t one = all / (moe_layers * rs.n_expert);
  EXPECT_EQ(probe.stats.cache->resident_bytes, probe.stats.cache->bytes_read);
  for (int64_t experts : {int64_t{1}, rs.n_expert / 2, rs.n_expert, moe_layers * rs.n_expert}) {
    const int64_t capacity = experts * one;
    SCOPED_TRACE("capacity of " + std::to_string(experts) + " experts");
    const Evaluation cached = Evaluate(*path, tokens, capacity);
    ASSERT_EQ(cached.logits.size(), resident.logits.size());
    EXPECT_EQ(std::memcmp(cached.logits.data(), resident.logits.data(), cached.logits.size() * sizeof(float)), 0);
    EXPECT_EQ(cached.stats.routed, rs.routed);
    const ExpertCacheStats& c = *cached.stats.cache;
    EXPECT_EQ(c.capacity_bytes, capacity);
    EXPECT_EQ(c.total_bytes, all);
    EXPECT_LE(c.resident_bytes, std::max(capacity, one));
    EXPECT_GT(c.misses, 0);
    EXPECT_EQ(c.bytes_read, (c.misses + c.prefetches) * one);
    if (experts == rs.n_layer * rs.n_expert) {
      EXPECT_EQ(c.misses + c.prefetches, c.bytes_read / one);
      EXPECT_LE(c.bytes_read, all);  // each expert read at most once: nothing evicted
      EXPECT_GT(c.hits, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Synthetic, ExpertCacheTest,
                         ::testing::Values(CacheCase{"tinymoe", "Q8_0"}, CacheCase{"tinymoe", "Q4_0"},
                                           CacheCase{"tinyqmoe", "Q8_0"}, CacheCase{"tinyqmoe", "Q4_0"},
                                           // DeepSeek: a dense first layer, ungated shared experts
                                           CacheCase{"deepseek2", "Q8_0", 1}),
                         [](const auto& info) { return std::string(info.param.preset) + "_" + info.param.type; });

TEST(ExpertCacheTest, ADenseModelBindsWithoutExpertStats) {
  auto path = testing::SynthModel("tiny", "Q8_0");
  ASSERT_TRUE(path.ok());
  auto file = OpenModelFile(*path);
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE((*file)->config().is_moe());
  BindOptions bind;
  bind.expert_cache_bytes = 1 << 20;
  auto model = BindModel(*file, bind);  // no experts to cache (OpenModel refuses the flag: cli.moe)
  ASSERT_TRUE(model.ok());
  EXPECT_FALSE((*model)->moe_stats().has_value());
}

}  // namespace
}  // namespace weft
