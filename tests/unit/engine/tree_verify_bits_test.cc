// Token-tree verification is bit-identical to plain decoding (sched/scheduler.h, FillTree):
// the scheduler lays a draft tree out as the root + first-child chain (one causal run)
// and one single-query sequence per other node over a virtual block table (the prefix's
// full blocks, then scratch blocks that the forward pass fills in every layer with the
// prefix's partial block, the node's ancestors and itself). Every node's logits row must
// equal, byte for byte, the row plain decoding of the node's root-to-node path produces
// (prefill of the prefix, then one token per step through the same scheduler rules).
// Models: stories260K (F32) and TinyLLama-v0 (Q4_0); every ISA here; KV types f16, q8
// and q4; prefixes that end at a block boundary, mid-block and mid-span; the tree alone
// and beside another sequence's prefill chunk in the same batch. So that the check can
// fail, the rows of two different nodes must differ.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "kernels/kernel_table.h"
#include "kv/kv_cache_manager.h"
#include "kv/kv_cache_storage.h"
#include "model/model_registry.h"
#include "model/model_runner.h"
#include "sched/draft_tree.h"
#include "sched/scheduler.h"
#include "support/golden.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

std::string FindModelFile(const std::string& name) {
  for (const auto& e : fs::recursive_directory_iterator(testing::SharedDir() + "/models")) {
    if (e.path().filename() == name) return e.path().string();
  }
  return "";
}

constexpr int kBlock = 16, kBlocks = 48, kScratch = 64;
#if defined(__SANITIZE_ADDRESS__)
// ~10-20x slower (the full sweep takes ~60 s in Release): one quantised KV type and one
// mid-block prefix keep it well inside 300 s.
const std::vector<kernels::KvType> kTypes = {kernels::KvType::kQ4};
const std::vector<int> kPrefixes = {21};
#else
const std::vector<kernels::KvType> kTypes = {kernels::KvType::kF16, kernels::KvType::kQ8, kernels::KvType::kQ4};
const std::vector<int> kPrefixes = {16, 21, 47, 61};
#endif

struct Rig {
  KvCacheManager kv;
  Scheduler sched;
  std::unique_ptr<KvCacheStorage> storage;
  std::vector<std::unique_ptr<Sequence>> seqs;
  static KvCacheConfig Kv() {
    KvCacheConfig c;
    c.num_blocks = kBlocks;
    c.block_size = kBlock;
    c.enable_prefix_caching = false;
    return c;
  }
  static SchedulerConfig Sc(bool tree) {
    SchedulerConfig c;
    c.max_num_batched_tokens = 256;
    c.max_num_seqs = 8;
    c.max_draft_tokens_per_step = 63;
    if (tree) {
      c.tree_scratch_first_block = kBlocks;
      c.tree_scratch_blocks = kScratch;
    }
    return c;
  }
  Rig(ModelRunner& r, kernels::KvTypes type, bool tree) : kv(Kv()), sched(Sc(tree), &kv) {
    storage = std::move(KvCacheStorage::Create(r.KvShape(kBlocks + (tree ? kScratch : 0), kBlock, type))).value();
  }
  Sequence* Add(const std::vector<int32_t>& prompt) {
    seqs.push_back(std::make_unique<Sequence>(seqs.size() + 1, 0, prompt, 64, 0));
    sched.Add(seqs.back().get());
    return seqs.back().get();
  }
  // One step; the logits of its rows.
  std::vector<float> Step(ModelRunner& r, const SchedulerOutput** out_ptr = nullptr) {
    const SchedulerOutput& out = sched.Schedule();
    if (out_ptr != nullptr) *out_ptr = &out;
    for (const BlockCopy& c : out.copies) storage->CopyBlock(c.src, c.dst);
    std::vector<float> logits(out.logit_rows.size() * static_cast<size_t>(r.config().n_vocab));
    const Status st = r.Execute(out.batch(), *storage, logits.data());
    EXPECT_TRUE(st.ok()) << st.ToString();
    return logits;
  }
};

void CheckBits(const std::string& model_name) {
  const std::string path = FindModelFile(model_name);
  ASSERT_FALSE(path.empty()) << model_name;
  auto file = OpenModelFile(path);
  ASSERT_TRUE(file.ok());
  auto model = BindModel(*file);
  ASSERT_TRUE(model.ok());
  for (kernels::Isa isa : kernels::AvailableIsas()) {
    RunnerOptions opt;
    opt.kernel_table = kernels::GetKernelTable(isa);
    opt.threads = 2;
    opt.max_tokens_per_step = 256;
    opt.max_logit_rows = 128;
    auto runner = ModelRunner::Create(*model, opt);
    ASSERT_TRUE(runner.ok());
    ModelRunner& r = **runner;
    const auto vocab = static_cast<size_t>(r.config().n_vocab);
    std::mt19937 rng(11);
    std::uniform_int_distribution<int32_t> tok(259, static_cast<int32_t>(vocab) - 1);
    for (kernels::KvType type : kTypes) {
      for (int prefix_len : kPrefixes) {
        for (bool neighbour : {false, true}) {
          SCOPED_TRACE(::testing::Message() << kernels::IsaName(isa) << " kv " << kernels::KvTypeName(type) << " prefix "
                                            << prefix_len << (neighbour ? " beside a prefill" : " alone"));
          std::vector<int32_t> prefix(static_cast<size_t>(prefix_len));
          for (auto& t : prefix) t = tok(rng);
          const int32_t root = tok(rng);
          // A tree of 12 nodes and depth 4 (normalised: the first-child chain first).
          std::vector<int32_t> parent = {-1, 0, 1, 2, 0, 4, -1, 6, 6, 1, 9, 3};
          std::vector<int32_t> nodes(parent.size());
          for (auto& t : nodes) t = tok(rng);
          NormalizeDraftTree(nodes, parent);
          const auto n = static_cast<int32_t>(nodes.size());
          ASSERT_LT(FirstChildChainLength(parent, n), n);
          // The tree's step.
          Rig a(r, type, true);
          Sequence* s = a.Add(prefix);
          a.Step(r);
          a.sched.Update(std::vector<int32_t>{root});
          if (neighbour) {
            std::vector<int32_t> other(37);
            for (auto& t : other) t = tok(rng);
            a.Add(other);
          }
          s->draft = nodes;
          s->draft_parent = parent;
          const SchedulerOutput* out = nullptr;
          const std::vector<float> got = a.Step(r, &out);
          ASSERT_EQ(out->seqs[0].num_draft, n);
          ASSERT_FALSE(out->kv_copy_src.empty());
          ASSERT_EQ(out->seqs.size(), neighbour ? 2u : 1u);
          const float* tree_rows = got.data() + static_cast<size_t>(out->seqs[0].logits_row) * vocab;
          // Plain decoding of each node's path (and of the root alone: row 0).
          std::vector<std::vector<float>> wants;
          for (int32_t i = -1; i < n; ++i) {
            std::vector<int32_t> path;
            for (int32_t x = i; x >= 0; x = parent[static_cast<size_t>(x)]) path.insert(path.begin(), nodes[static_cast<size_t>(x)]);
            Rig b(r, type, false);
            b.Add(prefix);
            b.Step(r);
            b.sched.Update(std::vector<int32_t>{root});
            std::vector<float> last = b.Step(r);  // computes the root
            for (int32_t t : path) {
              b.sched.Update(std::vector<int32_t>{t});
              last = b.Step(r);
            }
            wants.push_back(last);
          }
          for (int32_t i = -1; i < n; ++i) {
            const float* g = tree_rows + static_cast<size_t>(i + 1) * vocab;
            EXPECT_EQ(std::memcmp(g, wants[static_cast<size_t>(i + 1)].data(), vocab * sizeof(float)), 0)
                << "node " << i << " is not bit-identical to plain decoding of its path";
          }
          EXPECT_NE(std::memcmp(wants[1].data(), wants[2].data(), vocab * sizeof(float)), 0);
        }
      }
    }
  }
}

TEST(TreeVerifyBits, NodesAreBitIdenticalToPlainDecodingOnStories260K) { CheckBits("stories260K.gguf"); }
TEST(TreeVerifyBits, NodesAreBitIdenticalToPlainDecodingOnTinyLlama) { CheckBits("TinyLLama-v0.Q4_0.gguf"); }

}  // namespace
}  // namespace weft
