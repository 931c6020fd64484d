#include "loader/weight_check.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace weft {
namespace {

ModelConfig Config() {
  ModelConfig c;
  c.arch = "qwen3";
  c.n_vocab = 10;
  c.n_embd = 8;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 4;  // q rows 16 != n_embd, as in qwen3
  c.n_ff = 12;
  c.tied_embeddings = true;
  c.attn_qkv_bias = true;
  c.attn_output_bias = true;
  c.qk_norm = true;
  return c;
}

TensorView T(const std::string& name, std::vector<int64_t> ne) {
  TensorView t;
  t.name = name;
  t.n_dims = static_cast<int>(ne.size());
  for (size_t i = 0; i < ne.size(); ++i) t.ne[i] = ne[i];
  return t;
}

std::vector<TensorView> Weights(const ModelConfig& c) {
  std::vector<TensorView> w = {T("token_embd.weight", {8, 10}), T("output_norm.weight", {8})};
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    for (auto [n, ne] : std::vector<std::pair<const char*, std::vector<int64_t>>>{
             {"attn_norm.weight", {8}},      {"attn_q.weight", {8, 16}},      {"attn_k.weight", {8, 8}},
             {"attn_v.weight", {8, 8}},      {"attn_output.weight", {16, 8}}, {"ffn_norm.weight", {8}},
             {"ffn_gate.weight", {8, 12}},   {"ffn_up.weight", {8, 12}},      {"ffn_down.weight", {12, 8}},
             {"attn_q.bias", {16}},          {"attn_k.bias", {8}},            {"attn_v.bias", {8}},
             {"attn_output.bias", {8}},      {"attn_q_norm.weight", {4}},     {"attn_k_norm.weight", {4}}}) {
      w.push_back(T(p + n, ne));
    }
  }
  return w;
}

TEST(WeightCheckTest, AcceptsCompleteWeights) {
  const ModelConfig c = Config();
  std::vector<TensorView> w = Weights(c);
  EXPECT_TRUE(CheckLlamaWeights(c, w, "m").ok());
  w.push_back(T("extra.weight", {3}));  // extras are fine
  EXPECT_TRUE(CheckLlamaWeights(c, w, "m").ok());
  w.push_back(T("output.weight", {8, 10}));  // an output projection despite tying is checked
  EXPECT_TRUE(CheckLlamaWeights(c, w, "m").ok());
  w.back().ne[1] = 11;
  Status s = CheckLlamaWeights(c, w, "m");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "m: tensor 'output.weight' has shape [8, 11], expected [8, 10]");
}

TEST(WeightCheckTest, Missing) {
  ModelConfig c = Config();
  c.tied_embeddings = false;
  Status s = CheckLlamaWeights(c, Weights(c), "model.gguf");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "model.gguf: tensor 'output.weight' is missing (expected shape [8, 10])");
  c.tied_embeddings = true;
  std::vector<TensorView> w = Weights(c);
  std::erase_if(w, [](const TensorView& t) { return t.name == "blk.1.attn_k_norm.weight"; });
  s = CheckLlamaWeights(c, w, "m");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("blk.1.attn_k_norm.weight"), std::string::npos);
}

TEST(WeightCheckTest, WrongShapesAndDuplicates) {
  const ModelConfig c = Config();
  std::vector<TensorView> w = Weights(c);
  for (TensorView& t : w) {
    if (t.name == "blk.0.attn_output.weight") t.ne = {8, 16, 1, 1};  // transposed
  }
  Status s = CheckLlamaWeights(c, w, "m");
  EXPECT_EQ(s.message(), "m: tensor 'blk.0.attn_output.weight' has shape [8, 16], expected [16, 8]");
  w = Weights(c);
  for (TensorView& t : w) {
    if (t.name == "blk.1.ffn_norm.weight") t = T(t.name, {8, 1});  // an extra dimension
  }
  s = CheckLlamaWeights(c, w, "m");
  EXPECT_EQ(s.message(), "m: tensor 'blk.1.ffn_norm.weight' has shape [8, 1], expected [8]");
  w = Weights(c);
  w.push_back(w[3]);
  s = CheckLlamaWeights(c, w, "m");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("appears more than once"), std::string::npos);
}

}  // namespace
}  // namespace weft
