// quant/scale_fold.h: folding AWQ / SmoothQuant scales leaves a llama layer's function
// unchanged in float (q/k/v after the scaled attn_norm, o after the scaled v rows under
// grouped-query attention (4 query heads, 2 value heads), down after the scaled up rows
// of a gated FFN) while the scales are not all 1; a weight that also reads a group's input
// leaves that group unscaled (named in `skipped`); a mixture-of-experts layer keeps its
// FFN unscaled; an architecture weft cannot fold into is refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "loader/gguf.h"
#include "quant/scale_fold.h"
#include "support/gguf_builder.h"

namespace weft::quant {
namespace {

constexpr int64_t kEmbd = 64, kHeads = 4, kKvHeads = 2, kHd = 16, kFf = 96;

std::vector<float> Random(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<uint8_t> Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

struct Layer {
  std::vector<uint8_t> bytes;
  std::shared_ptr<const GgufFile> file;
};

Layer MakeLayer(const std::string& arch, bool moe, bool extra_reader = false) {
  testing::GgufBuilder b;
  b.AddString("general.architecture", arch);
  b.AddU32(arch + ".block_count", 1);
  b.AddU32(arch + ".attention.head_count", kHeads);
  b.AddU32(arch + ".attention.head_count_kv", kKvHeads);
  uint32_t seed = 1;
  auto add = [&](const std::string& name, std::vector<uint64_t> dims, float lo, float hi) {
    int64_t n = 1;
    for (uint64_t d : dims) n *= static_cast<int64_t>(d);
    b.AddTensor(name, dims, 0, Bytes(Random(n, seed++, lo, hi)));
  };
  add("blk.0.attn_norm.weight", {kEmbd}, 0.5f, 1.5f);
  add("blk.0.attn_q.weight", {kEmbd, kHeads * kHd}, -1, 1);
  add("blk.0.attn_k.weight", {kEmbd, kKvHeads * kHd}, -1, 1);
  add("blk.0.attn_v.weight", {kEmbd, kKvHeads * kHd}, -1, 1);
  add("blk.0.attn_v.bias", {kKvHeads * kHd}, -1, 1);
  add("blk.0.attn_output.weight", {kHeads * kHd, kEmbd}, -1, 1);
  add("blk.0.ffn_norm.weight", {kEmbd}, 0.5f, 1.5f);
  if (moe) add("blk.0.ffn_gate_inp.weight", {kEmbd, 4}, -1, 1);
  add("blk.0.ffn_gate.weight", {kEmbd, kFf}, -1, 1);
  add("blk.0.ffn_up.weight", {kEmbd, kFf}, -1, 1);
  add("blk.0.ffn_down.weight", {kFf, kEmbd}, -1, 1);
  if (extra_reader) add("blk.0.extra.weight", {kEmbd, 8}, -1, 1);
  Layer l;
  l.bytes = b.Build();
  auto f = ParseGgufBuffer(l.bytes, "layer");
  EXPECT_TRUE(f.ok()) << f.status().message();
  l.file = *f;
  return l;
}

// A tensor as floats, with its folded scales applied (or not).
std::vector<float> Load(const GgufFile& f, const std::string& name, const FoldPlan* plan) {
  const TensorView* t = f.FindTensor(name);
  EXPECT_NE(t, nullptr) << name;
  std::vector<float> v(static_cast<size_t>(t->NumElements()));
  std::memcpy(v.data(), t->data, v.size() * 4);
  if (plan != nullptr) {
    auto it = plan->tensors.find(name);
    if (it != plan->tensors.end()) ApplyTensorScales(it->second, 0, t->NumRows(), t->ne[0], v.data());
  }
  return v;
}

std::vector<float> MatVec(const std::vector<float>& w, const std::vector<float>& x, int64_t rows) {
  const int64_t k = static_cast<int64_t>(x.size());
  std::vector<float> y(static_cast<size_t>(rows), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t j = 0; j < k; ++j) s += static_cast<double>(w[static_cast<size_t>(r * k + j)]) * x[static_cast<size_t>(j)];
    y[static_cast<size_t>(r)] = static_cast<float>(s);
  }
  return y;
}

// The layer's pieces: q, k, v (of the normed input x), o of v broadcast to the query
// heads (one token: attention returns v), down of silu(gate) * up.
std::vector<float> Forward(const GgufFile& f, const FoldPlan* plan, const std::vector<float>& x) {
  std::vector<float> out;
  auto norm = [&](const std::string& n) {
    const std::vector<float> w = Load(f, n, plan);
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * w[i];
    return y;
  };
  const std::vector<float> xa = norm("blk.0.attn_norm.weight");
  for (const char* n : {"attn_q", "attn_k"}) {
    const std::vector<float> y = MatVec(Load(f, std::string("blk.0.") + n + ".weight", plan), xa,
                                        (n[5] == 'q' ? kHeads : kKvHeads) * kHd);
    out.insert(out.end(), y.begin(), y.end());
  }
  std::vector<float> v = MatVec(Load(f, "blk.0.attn_v.weight", plan), xa, kKvHeads * kHd);
  const std::vector<float> vb = Load(f, "blk.0.attn_v.bias", plan);
  for (size_t i = 0; i < v.size(); ++i) v[i] += vb[i];
  std::vector<float> o_in(static_cast<size_t>(kHeads * kHd));
  for (int64_t h = 0; h < kHeads; ++h) {
    for (int64_t d = 0; d < kHd; ++d) o_in[static_cast<size_t>(h * kHd + d)] = v[static_cast<size_t>((h / (kHeads / kKvHeads)) * kHd + d)];
  }
  const std::vector<float> o = MatVec(Load(f, "blk.0.attn_output.weight", plan), o_in, kEmbd);
  out.insert(out.end(), o.begin(), o.end());
  const std::vector<float> xf = norm("blk.0.ffn_norm.weight");
  const std::vector<float> g = MatVec(Load(f, "blk.0.ffn_gate.weight", plan), xf, kFf);
  const std::vector<float> u = MatVec(Load(f, "blk.0.ffn_up.weight", plan), xf, kFf);
  std::vector<float> a(static_cast<size_t>(kFf));
  for (int64_t i = 0; i < kFf; ++i) {
    const float gi = g[static_cast<size_t>(i)];
    a[static_cast<size_t>(i)] = gi / (1.0f + std::exp(-gi)) * u[static_cast<size_t>(i)];
  }
  const std::vector<float> d = MatVec(Load(f, "blk.0.ffn_down.weight", plan), a, kEmbd);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

// Statistics for the four inputs: attn (q/k/v), o, ffn (gate/up), down.
struct Stats {
  std::vector<float> mean[4], max[4];
  std::vector<std::string> readers[4];
  InputStats s[4];
  std::map<std::string, const InputStats*> by_weight;
  Stats(bool extra_reader) {
    const int64_t ks[4] = {kEmbd, kHeads * kHd, kEmbd, kFf};
    readers[0] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"};
    if (extra_reader) readers[0].push_back("blk.0.extra.weight");
    readers[1] = {"blk.0.attn_output.weight"};
    readers[2] = {"blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"};
    readers[3] = {"blk.0.ffn_down.weight"};
    for (int i = 0; i < 4; ++i) {
      mean[i] = Random(ks[i], 100 + i, 0.01f, 5.0f);
      max[i] = Random(ks[i], 200 + i, 0.1f, 50.0f);
      s[i] = {ks[i], nullptr, mean[i].data(), max[i].data(), &readers[i]};
      for (const std::string& r : readers[i]) by_weight[r] = &s[i];
    }
  }
  InputStatsFn Fn() const {
    return [this](const std::string& w) -> const InputStats* {
      auto it = by_weight.find(w);
      return it == by_weight.end() ? nullptr : it->second;
    };
  }
};

void ExpectEquivalent(ScaleRule rule) {
  ThreadPool pool(2);
  const Layer l = MakeLayer("llama", false);
  const Stats st(false);
  FoldOptions o;
  o.rule = rule;
  o.awq.fixed_alpha = 0.5;
  o.smooth_alpha = 0.5;
  auto plan = PlanScaleFolding(*l.file, {}, st.Fn(), o, pool);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_TRUE(plan->skipped.empty()) << plan->skipped[0];
  EXPECT_EQ(plan->groups.size(), 4u);
  // Every group's tensors carry scales, not all 1.
  for (const char* n : {"blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_v.weight", "blk.0.attn_v.bias",
                        "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_up.weight",
                        "blk.0.ffn_down.weight"}) {
    auto it = plan->tensors.find(n);
    ASSERT_NE(it, plan->tensors.end()) << n;
    bool nontrivial = false;
    for (float v : it->second.col) nontrivial = nontrivial || std::fabs(v - 1.0f) > 1e-3f;
    for (float v : it->second.row) nontrivial = nontrivial || std::fabs(v - 1.0f) > 1e-3f;
    EXPECT_TRUE(nontrivial) << n;
  }
  EXPECT_FALSE(plan->tensors.at("blk.0.ffn_up.weight").row.empty());  // up: columns (ffn_norm) and rows (down)
  EXPECT_FALSE(plan->tensors.at("blk.0.ffn_up.weight").col.empty());
  // Query heads 0 and 1 read value head 0: o's columns d and 16 + d share a scale.
  const std::vector<float>& oc = plan->tensors.at("blk.0.attn_output.weight").col;
  for (int64_t d = 0; d < kHd; ++d) EXPECT_EQ(oc[static_cast<size_t>(d)], oc[static_cast<size_t>(kHd + d)]);
  const std::vector<float> x = Random(kEmbd, 77, -2, 2);
  const std::vector<float> want = Forward(*l.file, nullptr, x);
  const std::vector<float> got = Forward(*l.file, &*plan, x);
  ASSERT_EQ(want.size(), got.size());
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(want[i]) - got[i]) / (1.0 + std::fabs(want[i])));
  EXPECT_LT(worst, 1e-4);
}

TEST(ScaleFold, AwqFoldKeepsTheLayerFunction) { ExpectEquivalent(ScaleRule::kAwq); }

TEST(ScaleFold, SmoothQuantFoldKeepsTheLayerFunction) { ExpectEquivalent(ScaleRule::kSmoothQuant); }

TEST(ScaleFold, AnotherReaderLeavesTheGroupUnscaled) {
  ThreadPool pool(1);
  const Layer l = MakeLayer("llama", false, true);
  const Stats st(true);
  FoldOptions o;
  o.awq.fixed_alpha = 0.5;
  auto plan = PlanScaleFolding(*l.file, {}, st.Fn(), o, pool);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->skipped.size(), 1u);
  EXPECT_NE(plan->skipped[0].find("blk.0.extra.weight"), std::string::npos) << plan->skipped[0];
  EXPECT_EQ(plan->tensors.count("blk.0.attn_norm.weight"), 0u);
  EXPECT_EQ(plan->tensors.count("blk.0.attn_q.weight"), 0u);
  EXPECT_EQ(plan->tensors.count("blk.0.ffn_norm.weight"), 1u);
}

TEST(ScaleFold, ExpertsAreLeftUnscaled) {
  ThreadPool pool(1);
  const Layer l = MakeLayer("qwen2moe", true);
  const Stats st(false);
  FoldOptions o;
  o.awq.fixed_alpha = 0.5;
  auto plan = PlanScaleFolding(*l.file, {}, st.Fn(), o, pool);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->groups.size(), 2u);  // attn_norm, attn_v
  EXPECT_EQ(plan->tensors.count("blk.0.ffn_norm.weight"), 0u);
  EXPECT_EQ(plan->tensors.count("blk.0.ffn_down.weight"), 0u);
  ASSERT_EQ(plan->skipped.size(), 1u);
  EXPECT_NE(plan->skipped[0].find("experts"), std::string::npos);
}

TEST(ScaleFold, UnknownArchitectureIsRefusedByName) {
  ThreadPool pool(1);
  const Layer l = MakeLayer("phi3", false);
  const Stats st(false);
  auto plan = PlanScaleFolding(*l.file, {}, st.Fn(), FoldOptions{}, pool);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("phi3"), std::string::npos) << plan.status().message();
}

}  // namespace
}  // namespace weft::quant
