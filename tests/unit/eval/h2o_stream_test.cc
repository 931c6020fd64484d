// Heavy hitters (kv/kv_budget.h) through the model on stories260K:
//  * one forward with ForwardBatch::attn_mass gives the same logits bits as without, and
//    the mass it adds sums to layers x heads x query rows;
//  * batch invariance and greedy determinism with eviction: an h2o sequence stepped token
//    by token in one batch with a dense and a window sequence (all three in one pool,
//    each evicting under its own policy, its K re-rotated) gets the same logits bits at
//    every step as when it runs alone, and its greedy choices are those of
//    ComputeStreamingPerplexity under the same budget;
//  * the streaming evaluator: h2o with a budget larger than the text equals dense exactly;
//    a small budget evicts, stays within the budget and is deterministic; block size 1
//    (token level) runs too; a budget too small, or with a window, is refused.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "eval/streaming_perplexity.h"
#include "kv/kv_budget.h"
#include "kv/kv_cache_manager.h"
#include "kv/kv_cache_storage.h"
#include "support/golden.h"
#include "support/test_model.h"

namespace weft {
namespace {

using testing::TestModel;

const TestModel& Stories() {
  static const TestModel m = testing::LoadTestModel(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
  return m;
}

std::unique_ptr<ModelRunner> Runner(int64_t max_tokens) {
  RunnerOptions ro;
  ro.max_tokens_per_step = max_tokens;
  ro.max_logit_rows = max_tokens;
  ro.threads = 2;
  auto r = ModelRunner::Create(Stories().model, ro);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

std::vector<int32_t> Text(size_t n) {
  const std::string s =
      "Once upon a time, there was a little girl named Lily. She loved to play in the park with her dog Max. One "
      "day, Lily found a shiny red ball under a big tree. She wanted to show it to her mom, so she ran home fast. ";
  std::vector<int32_t> t = {Stories().tokenizer->bos_id()};
  while (t.size() < n) {
    const std::vector<int32_t> more = Stories().tokenizer->Encode(s);
    t.insert(t.end(), more.begin(), more.end());
  }
  t.resize(n);
  return t;
}

TEST(H2oStream, MassLeavesLogitsAloneAndSumsToLayersHeadsRows) {
  auto runner = Runner(16);
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> text = Text(12);
  KvCacheConfig kc;
  kc.num_blocks = 4;
  kc.enable_prefix_caching = false;
  KvCacheManager kv(kc);
  auto storage = KvCacheStorage::Create(runner->KvShape(kc.num_blocks, 16));
  ASSERT_TRUE(storage.ok());
  KvBlockTable t;
  kv.InitTable(t);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.Allocate(t, 0, 12, copies));
  std::vector<int32_t> pos(12), rows(12);
  std::vector<int64_t> slots(12);
  for (int i = 0; i < 12; ++i) pos[i] = rows[i] = i, slots[i] = kv.Slot(t, i);
  const int32_t qs[2] = {0, 12}, len[1] = {12};
  ForwardBatch b;
  b.tokens = text;
  b.positions = pos;
  b.slot_mapping = slots;
  b.query_start = qs;
  b.seq_len = len;
  b.block_table = t.blocks;
  b.max_blocks_per_seq = t.num_blocks();
  b.logit_rows = rows;
  const int64_t nv = runner->config().n_vocab;
  std::vector<float> plain(12 * nv), with(12 * nv), mass(16, 0.0f);
  ASSERT_TRUE(runner->Execute(b, **storage, plain.data()).ok());
  float* ptr[1] = {mass.data()};
  b.attn_mass = ptr;
  ASSERT_TRUE(runner->Execute(b, **storage, with.data()).ok());
  EXPECT_EQ(std::memcmp(plain.data(), with.data(), plain.size() * sizeof(float)), 0);
  double total = 0;
  for (float m : mass) total += m;
  const double want = double(runner->config().n_layer) * runner->config().n_head * 12;
  EXPECT_NEAR(total, want, 1e-4 * want);
  EXPECT_EQ(mass[12], 0.0f);  // past the sequence: untouched
  // A malformed mass list is refused.
  float* two[2] = {mass.data(), nullptr};
  b.attn_mass = two;
  EXPECT_FALSE(runner->Execute(b, **storage, with.data()).ok());
}

// One sequence of a token-by-token run under a budget policy (disabled: dense).
struct Stream {
  std::vector<int32_t> text;
  KvBudget budget;
  KvBlockTable table;
  int32_t computed = 0;
  std::vector<std::vector<float>> logits;  // per step
  std::vector<int32_t> argmax;
};

// Steps every stream one token at a time, all in one batch, in one pool of 64 blocks.
void RunTogether(ModelRunner* runner, std::vector<Stream*> streams, int32_t steps, int32_t bs) {
  KvCacheConfig kc;
  kc.num_blocks = 64;
  kc.block_size = bs;
  kc.enable_prefix_caching = false;
  KvCacheManager kv(kc);
  auto storage = KvCacheStorage::Create(runner->KvShape(kc.num_blocks, bs));
  ASSERT_TRUE(storage.ok());
  for (Stream* s : streams) {
    s->table.window = WindowForBudget(s->budget, bs, 1);
    kv.InitTable(s->table);
    if (s->budget.enabled() && s->budget.policy == KvPolicy::kH2o) {
      s->table.attn_mass.assign(static_cast<size_t>(kc.num_blocks) * bs, 0.0f);
    }
  }
  const auto n = static_cast<int>(streams.size());
  const int64_t nv = runner->config().n_vocab;
  std::vector<KvShift> shifts;
  std::vector<int32_t> evict;
  std::vector<BlockCopy> copies;
  for (int32_t step = 0; step < steps; ++step) {
    std::vector<int32_t> tokens, pos, qs{0}, len, rows, table;
    std::vector<int64_t> slots;
    std::vector<float*> mass;
    int32_t max_blocks = 0;
    for (Stream* s : streams) {
      int32_t cache_len = KvCacheManager::CachePos(s->table, s->computed);
      shifts.clear();
      kv.EvictOutOfWindow(s->table, cache_len, shifts);
      if (!s->table.attn_mass.empty()) {
        ChooseH2oEvictions(s->budget, bs, 1, s->table.attn_mass, cache_len, evict);
        kv.EvictBlocks(s->table, cache_len, evict, shifts);
      }
      ASSERT_TRUE(runner->ShiftKPositions(**storage, shifts).ok());
      cache_len = KvCacheManager::CachePos(s->table, s->computed);
      ASSERT_TRUE(kv.Allocate(s->table, cache_len, 1, copies));
      tokens.push_back(s->text[static_cast<size_t>(s->computed)]);
      pos.push_back(cache_len);
      slots.push_back(kv.Slot(s->table, cache_len));
      qs.push_back(qs.back() + 1);
      len.push_back(cache_len + 1);
      rows.push_back(static_cast<int32_t>(rows.size()));
      mass.push_back(s->table.attn_mass.empty() ? nullptr : s->table.attn_mass.data());
      max_blocks = std::max(max_blocks, s->table.num_blocks());
    }
    for (Stream* s : streams) {
      table.insert(table.end(), s->table.blocks.begin(), s->table.blocks.end());
      table.resize(table.size() + static_cast<size_t>(max_blocks - s->table.num_blocks()), 0);
    }
    ForwardBatch b;
    b.tokens = tokens;
    b.positions = pos;
    b.slot_mapping = slots;
    b.query_start = qs;
    b.seq_len = len;
    b.block_table = table;
    b.max_blocks_per_seq = max_blocks;
    b.logit_rows = rows;
    b.attn_mass = mass;
    std::vector<float> logits(static_cast<size_t>(n * nv));
    ASSERT_TRUE(runner->Execute(b, **storage, logits.data()).ok());
    for (int i = 0; i < n; ++i) {
      Stream* s = streams[static_cast<size_t>(i)];
      const float* row = logits.data() + i * nv;
      s->logits.emplace_back(row, row + nv);
      s->argmax.push_back(static_cast<int32_t>(std::max_element(row, row + nv) - row));
      ++s->computed;
    }
  }
  for (Stream* s : streams) kv.Free(s->table);
  EXPECT_EQ(kv.pool().num_used(), 0);
}

TEST(H2oStream, MixedBatchIsBatchInvariantAndMatchesTheEvaluator) {
  auto runner = Runner(4);
  ASSERT_NE(runner, nullptr);
  const int32_t steps = 150;
  const KvBudget h2o{48, KvPolicy::kH2o, 4};
  Stream a, b, c, alone;
  a.text = alone.text = Text(steps + 1);
  a.budget = alone.budget = h2o;
  b.text = Text(steps + 40);
  b.text.erase(b.text.begin() + 1, b.text.begin() + 40);  // another text
  c.text = b.text;
  c.budget = {48, KvPolicy::kWindow, 0};
  RunTogether(runner.get(), {&b, &a, &c}, steps, 16);
  RunTogether(runner.get(), {&alone}, steps, 16);
  ASSERT_EQ(a.logits.size(), alone.logits.size());
  for (size_t i = 0; i < a.logits.size(); ++i) {
    ASSERT_EQ(std::memcmp(a.logits[i].data(), alone.logits[i].data(), a.logits[i].size() * sizeof(float)), 0)
        << "step " << i;
  }
  // The evaluator runs the same policy on the same text: the same greedy choices.
  StreamingPerplexityOptions so;
  so.budget = h2o;
  auto r = ComputeStreamingPerplexity(Runner(1).get(), a.text, so, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->argmax, a.argmax);
  EXPECT_GT(r->evicted_tokens, steps - 48 - 16);
  EXPECT_LE(r->mean_kv_tokens, 48.0);
}

TEST(H2oStream, EvaluatorBudgetsTokenLevelAndRefusals) {
  auto runner = Runner(1);
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> text = Text(400);
  StreamingPerplexityOptions dense;
  auto d = ComputeStreamingPerplexity(runner.get(), text, dense, nullptr);
  ASSERT_TRUE(d.ok()) << d.status().message();
  // A budget above the text: nothing is evicted, the numbers are dense's.
  StreamingPerplexityOptions big;
  big.budget = {512, KvPolicy::kH2o, 0};
  auto g = ComputeStreamingPerplexity(runner.get(), text, big, nullptr);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->evicted_tokens, 0);
  EXPECT_EQ(g->nll, d->nll);
  for (const int32_t bs : {16, 1}) {
    SCOPED_TRACE(bs);
    StreamingPerplexityOptions o;
    o.budget = {64, KvPolicy::kH2o, 4};
    o.block_size = bs;
    auto r1 = ComputeStreamingPerplexity(runner.get(), text, o, nullptr);
    auto r2 = ComputeStreamingPerplexity(runner.get(), text, o, nullptr);
    ASSERT_TRUE(r1.ok() && r2.ok());
    EXPECT_EQ(r1->nll, r2->nll);  // deterministic
    EXPECT_GE(r1->evicted_tokens, 399 - 64);
    EXPECT_LE(r1->mean_kv_tokens, 64.0);
    EXPECT_LE(r1->peak_used_blocks, (64 + bs - 1) / bs);
    for (float x : r1->nll) ASSERT_TRUE(std::isfinite(x));
    // The first 63 tokens are scored before anything is evicted: the same as dense.
    for (int i = 0; i < 63; ++i) EXPECT_EQ(r1->nll[static_cast<size_t>(i)], d->nll[static_cast<size_t>(i)]) << i;
  }
  StreamingPerplexityOptions bad;
  bad.budget = {40, KvPolicy::kH2o, 4};  // below 16 + 1 + 30
  auto e = ComputeStreamingPerplexity(runner.get(), text, bad, nullptr);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--kv-budget"), std::string::npos) << e.status().message();
  bad.budget = {64, KvPolicy::kH2o, 0};
  bad.window = {0, 32};
  EXPECT_FALSE(ComputeStreamingPerplexity(runner.get(), text, bad, nullptr).ok());
}

}  // namespace
}  // namespace weft
