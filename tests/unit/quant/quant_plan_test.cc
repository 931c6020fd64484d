// GgufWriter (loader/gguf_writer.h) round trips through the GGUF parser, and
// PlanQuantization (quant/quant_plan.h) gives llama-quantize's per-tensor types for
// its mixes, --pure, --leave-output and overrides, on a llama-shaped tensor list.
#include "quant/quant_plan.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>

#include "loader/gguf.h"
#include "loader/gguf_writer.h"

namespace weft::quant {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("weft_quant_plan_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

GgufValue Int(GgufType t, int64_t v) {
  GgufValue g;
  g.type = t;
  g.value = v;
  return g;
}

// A llama model of n_layer layers with F16 matrices (data all zero), written by GgufWriter.
std::string WriteLlama(const std::string& name, int n_layer, int64_t dim, int64_t ff) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  EXPECT_TRUE(w.SetValue("llama.block_count", Int(GgufType::kUint32, n_layer)).ok());
  EXPECT_TRUE(w.SetValue("llama.attention.head_count", Int(GgufType::kUint32, 8)).ok());
  EXPECT_TRUE(w.SetValue("llama.attention.head_count_kv", Int(GgufType::kUint32, 4)).ok());
  auto add = [&](const std::string& n, DType t, int nd, std::array<int64_t, 4> ne) {
    EXPECT_TRUE(w.AddTensor(n, t, nd, ne).ok()) << n;
  };
  add("token_embd.weight", DType::kF16, 2, {dim, 512, 1, 1});
  add("output_norm.weight", DType::kF32, 1, {dim, 1, 1, 1});
  add("output.weight", DType::kF16, 2, {dim, 512, 1, 1});
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", DType::kF32, 1, {dim, 1, 1, 1});
    for (const char* m : {"attn_q", "attn_output"}) add(p + m + ".weight", DType::kF16, 2, {dim, dim, 1, 1});
    for (const char* m : {"attn_k", "attn_v"}) add(p + m + ".weight", DType::kF16, 2, {dim, dim / 2, 1, 1});
    add(p + "ffn_norm.weight", DType::kF32, 1, {dim, 1, 1, 1});
    for (const char* m : {"ffn_gate", "ffn_up"}) add(p + m + ".weight", DType::kF16, 2, {dim, ff, 1, 1});
    add(p + "ffn_down.weight", DType::kF16, 2, {ff, dim, 1, 1});
  }
  const std::string path = TempPath(name);
  EXPECT_TRUE(w.Open(path).ok());
  for (size_t i = 0; i < w.num_tensors(); ++i) {
    std::vector<uint8_t> zeros(w.TensorBytes(i), 0);
    EXPECT_TRUE(w.WriteTensor(i, zeros).ok());
  }
  EXPECT_TRUE(w.Finish().ok());
  return path;
}

std::map<std::string, DType> Types(const std::vector<PlannedTensor>& plan) {
  std::map<std::string, DType> m;
  for (const auto& p : plan) m[p.name] = p.dst_type;
  return m;
}

TEST(GgufWriter, RoundTripsMetadataAndTensors) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  ASSERT_TRUE(w.SetValue("a.i8", Int(GgufType::kInt8, -5)).ok());
  ASSERT_TRUE(w.SetValue("a.u64", Int(GgufType::kUint64, 1ll << 40)).ok());
  ASSERT_TRUE(w.SetValue("a.bool", [] { GgufValue v; v.type = GgufType::kBool; v.value = true; return v; }()).ok());
  ASSERT_TRUE(w.SetValue("a.f32", [] { GgufValue v; v.type = GgufType::kFloat32; v.value = 0.5; return v; }()).ok());
  GgufValue arr;
  arr.type = GgufType::kArray;
  GgufArray a;
  a.elem_type = GgufType::kString;
  a.size = 2;
  a.strings = {"x", "yz"};
  arr.value = a;
  ASSERT_TRUE(w.SetValue("a.strs", arr).ok());
  ASSERT_TRUE(w.AddTensor("t0", DType::kF32, 1, {3, 1, 1, 1}).ok());
  ASSERT_TRUE(w.AddTensor("t1", DType::kQ8_0, 2, {32, 2, 1, 1}).ok());
  EXPECT_FALSE(w.AddTensor("bad", DType::kQ8_0, 2, {33, 2, 1, 1}).ok());
  const std::string path = TempPath("roundtrip.gguf");
  ASSERT_TRUE(w.Open(path).ok());
  std::vector<uint8_t> t0(12, 7), t1(68, 9);
  EXPECT_FALSE(w.WriteTensor(1, t1).ok());  // out of order
  ASSERT_TRUE(w.WriteTensor(0, t0).ok());
  ASSERT_TRUE(w.WriteTensor(1, t1).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto f = OpenGgufFile(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "llama");
  EXPECT_EQ(*(*f)->GetInt("a.i8"), -5);
  EXPECT_EQ(*(*f)->GetInt("a.u64"), 1ll << 40);
  EXPECT_EQ(*(*f)->GetBool("a.bool"), true);
  EXPECT_EQ(*(*f)->GetFloat("a.f32"), 0.5);
  EXPECT_EQ((*(*f)->GetArray("a.strs"))->strings, (std::vector<std::string>{"x", "yz"}));
  ASSERT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ((*f)->tensors()[1].type, DType::kQ8_0);
  EXPECT_EQ(std::vector<uint8_t>((*f)->tensors()[1].data, (*f)->tensors()[1].data + 68), t1);
  EXPECT_EQ((*f)->tensors()[1].data - (*f)->tensors()[0].data, 32);  // aligned
  std::filesystem::remove(path);
}

TEST(PlanQuantization, Q4_K_MFollowsLlamaQuantizeRules) {
  const std::string path = WriteLlama("q4km.gguf", 16, 256, 512);
  auto f = OpenGgufFile(path);
  ASSERT_TRUE(f.ok());
  auto plan = PlanQuantization(**f, *FindQuantMix("Q4_K_M"), {});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto t = Types(*plan);
  EXPECT_EQ(t["output.weight"], DType::kQ6_K);
  EXPECT_EQ(t["token_embd.weight"], DType::kQ4_K);
  EXPECT_EQ(t["output_norm.weight"], DType::kF32);
  EXPECT_EQ(t["blk.0.attn_norm.weight"], DType::kF32);
  // use_more_bits(i, 16): i < 2, i >= 14, or (i - 2) % 3 == 2.
  for (int l = 0; l < 16; ++l) {
    const bool more = l < 2 || l >= 14 || (l - 2) % 3 == 2;
    const DType want = more ? DType::kQ6_K : DType::kQ4_K;
    EXPECT_EQ(t["blk." + std::to_string(l) + ".attn_v.weight"], want) << l;
    EXPECT_EQ(t["blk." + std::to_string(l) + ".ffn_down.weight"], want) << l;
    EXPECT_EQ(t["blk." + std::to_string(l) + ".attn_q.weight"], DType::kQ4_K) << l;
  }
  // Order: global tensors first (by name), then layer by layer, by name.
  EXPECT_EQ((*plan)[0].name, "output.weight");
  EXPECT_EQ((*plan)[3].name, "blk.0.attn_k.weight");
  EXPECT_EQ((*plan).back().name, "blk.15.ffn_up.weight");
  std::filesystem::remove(path);
}

// With an importance matrix, llama-quantize's Q4_0 / Q5_0 put the first n_layer/8
// ffn_down tensors in Q4_1 / Q5_1 (and nothing else changes); without one they do not.
TEST(PlanQuantization, ImatrixMovesEarlyFfnDownOfQ4_0AndQ5_0) {
  const std::string path = WriteLlama("q40imx.gguf", 16, 256, 512);
  auto f = OpenGgufFile(path);
  ASSERT_TRUE(f.ok());
  for (const char* mix : {"Q4_0", "Q5_0"}) {
    const DType base = std::string(mix) == "Q4_0" ? DType::kQ4_0 : DType::kQ5_0;
    const DType early = std::string(mix) == "Q4_0" ? DType::kQ4_1 : DType::kQ5_1;
    PlanOptions with;
    with.has_imatrix = true;
    auto plain = PlanQuantization(**f, *FindQuantMix(mix), {});
    auto imx = PlanQuantization(**f, *FindQuantMix(mix), with);
    ASSERT_TRUE(plain.ok() && imx.ok());
    auto a = Types(*plain), b = Types(*imx);
    for (int l = 0; l < 16; ++l) {
      const std::string down = "blk." + std::to_string(l) + ".ffn_down.weight";
      EXPECT_EQ(a[down], base) << mix << " " << l;
      EXPECT_EQ(b[down], l < 2 ? early : base) << mix << " " << l;
      EXPECT_EQ(b["blk." + std::to_string(l) + ".ffn_up.weight"], base) << mix << " " << l;
    }
  }
  // Q4_K_M's rules do not depend on it.
  PlanOptions with;
  with.has_imatrix = true;
  auto k = PlanQuantization(**f, *FindQuantMix("Q4_K_M"), with);
  auto k0 = PlanQuantization(**f, *FindQuantMix("Q4_K_M"), {});
  ASSERT_TRUE(k.ok() && k0.ok());
  EXPECT_EQ(Types(*k), Types(*k0));
  std::filesystem::remove(path);
}

TEST(PlanQuantization, PureLeaveOutputOverridesAndFallbacks) {
  const std::string path = WriteLlama("pure.gguf", 4, 256, 320);  // ffn_down rows of 320: not /256
  auto f = OpenGgufFile(path);
  ASSERT_TRUE(f.ok());
  PlanOptions pure;
  pure.pure = true;
  auto plan = PlanQuantization(**f, *FindQuantMix("Q8_0"), pure);
  ASSERT_TRUE(plan.ok());
  for (const auto& p : *plan) {
    EXPECT_EQ(p.dst_type, p.name.find("norm") != std::string::npos ? DType::kF32 : DType::kQ8_0) << p.name;
  }
  // Without --pure, Q4_K_M's ffn_down (Q4_K or Q6_K) cannot hold rows of 320 and falls
  // back to Q5_0 / Q8_0; output.weight goes to Q6_K.
  auto mix = PlanQuantization(**f, *FindQuantMix("Q4_K_M"), {});
  ASSERT_TRUE(mix.ok()) << mix.status().message();
  auto t = Types(*mix);
  EXPECT_EQ(t["blk.3.ffn_down.weight"], DType::kQ8_0);  // last layer of 4: more bits -> Q6_K -> Q8_0
  EXPECT_EQ(t["blk.1.ffn_down.weight"], DType::kQ5_0);  // Q4_K -> Q5_0
  PlanOptions opt;
  opt.leave_output = true;
  auto over = ParseTensorTypeOverride("attn_(q|k)=q5_1");
  ASSERT_TRUE(over.ok());
  opt.overrides.push_back(*over);
  EXPECT_FALSE(ParseTensorTypeOverride("attn_q").ok());
  EXPECT_FALSE(ParseTensorTypeOverride("attn_q=q8_k").ok());  // in the table, not writable
  EXPECT_TRUE(ParseTensorTypeOverride("attn_q=iq4_nl").ok());
  auto o = PlanQuantization(**f, *FindQuantMix("Q4_0"), opt);
  ASSERT_TRUE(o.ok());
  t = Types(*o);
  EXPECT_EQ(t["output.weight"], DType::kF16);
  EXPECT_EQ(t["blk.2.attn_q.weight"], DType::kQ5_1);
  EXPECT_EQ(t["blk.2.attn_k.weight"], DType::kQ5_1);
  EXPECT_EQ(t["blk.2.attn_v.weight"], DType::kQ4_0);
  // Q3_K cannot hold rows of 320: llama-quantize's fallback is IQ4_NL (blocks of 32).
  auto q3 = PlanQuantization(**f, *FindQuantMix("Q3_K_S"), {});
  ASSERT_TRUE(q3.ok()) << q3.status().message();
  t = Types(*q3);
  EXPECT_EQ(t["blk.1.ffn_down.weight"], DType::kIQ4_NL);
  EXPECT_EQ(t["blk.1.ffn_up.weight"], DType::kQ3_K);
  // The IQ4_NL mix: IQ4_NL throughout, output.weight Q6_K; its Q5_K rules (attn_v at
  // n_gqa >= 4, the first n_layer/8 ffn_down) do not apply at n_gqa 2 and 4 layers.
  auto nl = PlanQuantization(**f, *FindQuantMix("iq4_nl"), {});
  ASSERT_TRUE(nl.ok()) << nl.status().message();
  t = Types(*nl);
  EXPECT_EQ(t["output.weight"], DType::kQ6_K);
  EXPECT_EQ(t["token_embd.weight"], DType::kIQ4_NL);
  EXPECT_EQ(t["blk.0.attn_v.weight"], DType::kIQ4_NL);
  EXPECT_EQ(t["blk.0.ffn_down.weight"], DType::kIQ4_NL);
  // --pure has no fallbacks: Q3_K on rows of 320 is refused, naming the tensor.
  PlanOptions pure_q3;
  pure_q3.pure = true;
  auto pq3 = PlanQuantization(**f, *FindQuantMix("Q3_K_S"), pure_q3);
  ASSERT_FALSE(pq3.ok());
  EXPECT_NE(pq3.status().message().find("ffn_down"), std::string::npos) << pq3.status().message();
  std::filesystem::remove(path);
}

TEST(PlanQuantization, NarrowModelsFallBackToIQ4_NLAndF16) {
  // stories260K's shape: rows of 64 (no K-quant block fits) and an FFN of 172 (no block
  // of 32 fits either).
  const std::string path = WriteLlama("narrow.gguf", 5, 64, 172);
  auto f = OpenGgufFile(path);
  ASSERT_TRUE(f.ok());
  auto q2 = PlanQuantization(**f, *FindQuantMix("Q2_K"), {});
  ASSERT_TRUE(q2.ok()) << q2.status().message();
  auto t = Types(*q2);
  EXPECT_EQ(t["output.weight"], DType::kQ8_0);            // rows not /256 -> Q8_0 (the output rule)
  EXPECT_EQ(t["token_embd.weight"], DType::kIQ4_NL);      // Q2_K -> IQ4_NL
  EXPECT_EQ(t["blk.0.attn_q.weight"], DType::kIQ4_NL);    // Q2_K -> IQ4_NL
  EXPECT_EQ(t["blk.0.attn_v.weight"], DType::kIQ4_NL);    // Q3_K (Q2_K's attn_v) -> IQ4_NL
  EXPECT_EQ(t["blk.0.attn_output.weight"], DType::kIQ4_NL);
  EXPECT_EQ(t["blk.0.ffn_gate.weight"], DType::kIQ4_NL);
  EXPECT_EQ(t["blk.0.ffn_down.weight"], DType::kF16);     // Q3_K -> IQ4_NL, rows of 172 -> F16
  auto q4 = PlanQuantization(**f, *FindQuantMix("Q4_K_M"), {});
  ASSERT_TRUE(q4.ok());
  t = Types(*q4);
  EXPECT_EQ(t["blk.0.attn_q.weight"], DType::kQ5_0);      // Q4_K -> Q5_0
  EXPECT_EQ(t["blk.0.attn_v.weight"], DType::kQ5_0);      // Q4_K -> Q5_0
  EXPECT_EQ(t["blk.4.attn_v.weight"], DType::kQ8_0);      // last eighth: Q6_K -> Q8_0
  EXPECT_EQ(t["blk.0.ffn_down.weight"], DType::kF16);
  // The IQ4_NL mix (llama-quantize's IQ4_NL file type) has no fallback for IQ4_NL itself:
  // rows of 172 are refused, as llama-quantize refuses them ("Unsupported tensor size").
  auto nl = PlanQuantization(**f, *FindQuantMix("iq4_nl"), {});
  ASSERT_FALSE(nl.ok());
  EXPECT_NE(nl.status().message().find("ffn_down"), std::string::npos) << nl.status().message();
  std::filesystem::remove(path);
}

TEST(QuantMix, NamesAndAliases) {
  EXPECT_EQ(FindQuantMix("q4_k")->name, "Q4_K_M");
  EXPECT_EQ(FindQuantMix("Q3_K_S")->ftype, 11u);
  EXPECT_EQ(FindQuantMix("Q8_0")->ftype, 7u);
  EXPECT_EQ(FindQuantMix("iq4_nl")->ftype, 25u);
  EXPECT_EQ(FindQuantMix("IQ4_NL")->default_type, DType::kIQ4_NL);
  EXPECT_EQ(FindQuantMix("IQ2_XS"), nullptr);
}

}  // namespace
}  // namespace weft::quant
