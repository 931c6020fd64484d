// OpenSafetensorsModel on small synthetic HF directories written by the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loader/model_file.h"
#include "model/llama_weights.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Tiny llama: hidden 8, 2 heads of 4, 1 KV head, ffn 12, vocab 8, 1 layer.
json TinyConfig(const std::string& model_type = "llama") {
  return json{{"model_type", model_type},  {"vocab_size", 8},          {"hidden_size", 8},
              {"intermediate_size", 12},   {"num_hidden_layers", 1},   {"num_attention_heads", 2},
              {"num_key_value_heads", 1},  {"max_position_embeddings", 64}, {"rms_norm_eps", 1e-5},
              {"tie_word_embeddings", true}, {"bos_token_id", 1},      {"eos_token_id", 2}};
}

struct Tensor {
  std::vector<int64_t> shape;  // HF order
  std::string dtype = "F32";
};

// HF tensors of TinyConfig; each F32 element is row * 100 + column, so row moves show.
std::map<std::string, Tensor> TinyTensors(bool qkv_bias = false, bool o_bias = false, bool qk_norm = false) {
  std::map<std::string, Tensor> t = {
      {"model.embed_tokens.weight", {{8, 8}}},
      {"model.norm.weight", {{8}}},
      {"model.layers.0.input_layernorm.weight", {{8}}},
      {"model.layers.0.self_attn.q_proj.weight", {{8, 8}}},
      {"model.layers.0.self_attn.k_proj.weight", {{4, 8}}},
      {"model.layers.0.self_attn.v_proj.weight", {{4, 8}}},
      {"model.layers.0.self_attn.o_proj.weight", {{8, 8}}},
      {"model.layers.0.post_attention_layernorm.weight", {{8}}},
      {"model.layers.0.mlp.gate_proj.weight", {{12, 8}}},
      {"model.layers.0.mlp.up_proj.weight", {{12, 8}}},
      {"model.layers.0.mlp.down_proj.weight", {{8, 12}}},
      {"model.layers.0.self_attn.rotary_emb.inv_freq", {{2}}},
  };
  if (qkv_bias) {
    t["model.layers.0.self_attn.q_proj.bias"] = {{8}};
    t["model.layers.0.self_attn.k_proj.bias"] = {{4}};
    t["model.layers.0.self_attn.v_proj.bias"] = {{4}};
  }
  if (o_bias) t["model.layers.0.self_attn.o_proj.bias"] = {{8}};
  if (qk_norm) {
    t["model.layers.0.self_attn.q_norm.weight"] = {{4}};
    t["model.layers.0.self_attn.k_norm.weight"] = {{4}};
  }
  return t;
}

std::vector<uint8_t> SafetensorsBytes(const std::map<std::string, Tensor>& tensors) {
  json header = json::object();
  std::vector<uint8_t> data;
  for (const auto& [name, t] : tensors) {
    const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    const size_t begin = data.size();
    for (int64_t i = 0; i < n; ++i) {
      if (t.dtype == "F32") {
        const float v = t.shape.size() == 1 ? static_cast<float>(i) : static_cast<float>((i / cols) * 100 + i % cols);
        data.resize(data.size() + 4);
        std::memcpy(data.data() + data.size() - 4, &v, 4);
      } else {  // I32
        const int32_t v = static_cast<int32_t>(i);
        data.resize(data.size() + 4);
        std::memcpy(data.data() + data.size() - 4, &v, 4);
      }
    }
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h += ' ';
  const uint64_t len = h.size();
  std::vector<uint8_t> out(8 + h.size() + data.size());
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + h.size(), data.data(), data.size());
  return out;
}

class HfModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("weft_hf_model_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string WriteText(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  std::string WriteBytes(const std::string& name, const std::vector<uint8_t>& b) {
    std::ofstream(dir_ / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                       static_cast<std::streamsize>(b.size()));
    return (dir_ / name).string();
  }
  void WriteModel(const json& config, const std::map<std::string, Tensor>& tensors) {
    WriteText("config.json", config.dump());
    WriteBytes("model.safetensors", SafetensorsBytes(tensors));
  }
  void ExpectError(StatusCode code, const std::vector<std::string>& parts) {
    auto r = OpenSafetensorsModel(dir_.string());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    for (const std::string& p : parts) {
      EXPECT_NE(r.status().message().find(p), std::string::npos) << "'" << p << "' not in " << r.status().ToString();
    }
  }
  // Row r of an F32 tensor with ne[0] columns, as its first element / 100.
  static int RowTag(const TensorView& t, int64_t r) {
    const float* p = reinterpret_cast<const float*>(t.data);
    return static_cast<int>(p[r * t.ne[0]]) / 100;
  }
  static std::vector<int> RowTags(const TensorView& t) {
    std::vector<int> v;
    for (int64_t r = 0; r < t.ne[1]; ++r) v.push_back(RowTag(t, r));
    return v;
  }
  static std::vector<int> Values1d(const TensorView& t) {
    const float* p = reinterpret_cast<const float*>(t.data);
    return std::vector<int>(p, p + t.ne[0]);
  }

  fs::path dir_;
};

TEST_F(HfModelTest, LlamaMapsNamesAndInterleavesQkRows) {
  json config = TinyConfig();
  config["attention_bias"] = true;
  WriteModel(config, TinyTensors(/*qkv_bias=*/true, /*o_bias=*/true));
  auto r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFile& m = **r;
  EXPECT_EQ(m.format(), ModelFormat::kSafetensors);
  EXPECT_EQ(m.path(), dir_.string());
  EXPECT_EQ(m.file_bytes(), fs::file_size(dir_ / "model.safetensors"));
  EXPECT_EQ(m.tensors().size(), 15u);  // inv_freq skipped
  EXPECT_TRUE(m.config().tied_embeddings);
  EXPECT_EQ(m.FindTensor("output.weight"), nullptr);
  EXPECT_EQ(m.FindTensor("blk.0.ffn_down.weight")->ShapeString(), "[12, 8]");
  EXPECT_EQ(m.FindTensor("blk.0.attn_k.weight")->ShapeString(), "[8, 4]");
  // Per head of 4 rows, HF rows (0, 1 | 2, 3) = (x0, x1 halves) -> interleaved 0, 2, 1, 3.
  EXPECT_EQ(RowTags(*m.FindTensor("blk.0.attn_q.weight")), (std::vector<int>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(RowTags(*m.FindTensor("blk.0.attn_k.weight")), (std::vector<int>{0, 2, 1, 3}));
  EXPECT_EQ(Values1d(*m.FindTensor("blk.0.attn_q.bias")), (std::vector<int>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(Values1d(*m.FindTensor("blk.0.attn_k.bias")), (std::vector<int>{0, 2, 1, 3}));
  // Everything else is untouched.
  EXPECT_EQ(RowTags(*m.FindTensor("blk.0.attn_v.weight")), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(Values1d(*m.FindTensor("blk.0.attn_v.bias")), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_NE(m.FindTensor("blk.0.attn_output.bias"), nullptr);
  EXPECT_EQ(m.tokenizer().tokenizer_json_path, "");
  EXPECT_EQ(m.tokenizer().vocab_size, 8);
}

TEST_F(HfModelTest, Qwen2KeepsRowsAndNeedsBiases) {
  WriteModel(TinyConfig("qwen2"), TinyTensors(/*qkv_bias=*/true));
  auto r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->config().rope_style, RopeStyle::kNeox);
  EXPECT_EQ(RowTags(*(*r)->FindTensor("blk.0.attn_q.weight")), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(Values1d(*(*r)->FindTensor("blk.0.attn_k.bias")), (std::vector<int>{0, 1, 2, 3}));

  WriteModel(TinyConfig("qwen2"), TinyTensors(/*qkv_bias=*/false));
  ExpectError(StatusCode::kNotFound, {"blk.0.attn_q.bias", "missing"});
}

TEST_F(HfModelTest, Qwen3QkNorm) {
  WriteModel(TinyConfig("qwen3"), TinyTensors(false, false, /*qk_norm=*/true));
  auto r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->config().qk_norm);
  EXPECT_EQ((*r)->FindTensor("blk.0.attn_k_norm.weight")->ShapeString(), "[4]");
}

TEST_F(HfModelTest, SingleFileWithConfigBeside) {
  WriteModel(TinyConfig(), TinyTensors());
  auto r = OpenSafetensorsModel((dir_ / "model.safetensors").string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->tensors().size(), 11u);
  // And through the format dispatcher.
  auto d = OpenModelFile((dir_ / "model.safetensors").string());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)->format(), ModelFormat::kSafetensors);
}

TEST_F(HfModelTest, LmHeadUntiedAndKeptWhenPresent) {
  auto tensors = TinyTensors();
  json config = TinyConfig();
  config["tie_word_embeddings"] = false;
  WriteModel(config, tensors);
  ExpectError(StatusCode::kNotFound, {"lm_head.weight", "tie_word_embeddings"});

  tensors["lm_head.weight"] = {{8, 8}};
  WriteModel(config, tensors);
  auto r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE((*r)->config().tied_embeddings);
  EXPECT_EQ((*r)->FindTensor("output.weight")->ShapeString(), "[8, 8]");

  config["tie_word_embeddings"] = true;  // tied in config, but lm_head saved anyway
  WriteModel(config, tensors);
  r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE((*r)->config().tied_embeddings);
  EXPECT_NE((*r)->FindTensor("output.weight"), nullptr);
}

TEST_F(HfModelTest, Shards) {
  auto all = TinyTensors();
  std::map<std::string, Tensor> a, b;
  json weight_map = json::object();
  int i = 0;
  for (const auto& [name, t] : all) {
    const bool first = i++ % 2 == 0;
    (first ? a : b)[name] = t;
    weight_map[name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  WriteText("config.json", TinyConfig().dump());
  WriteBytes("model-00001-of-00002.safetensors", SafetensorsBytes(a));
  WriteBytes("model-00002-of-00002.safetensors", SafetensorsBytes(b));
  WriteText("model.safetensors.index.json", json{{"metadata", {{"total_size", 1}}}, {"weight_map", weight_map}}.dump());
  auto r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->tensors().size(), 11u);
  EXPECT_EQ((*r)->file_bytes(), fs::file_size(dir_ / "model-00001-of-00002.safetensors") +
                                    fs::file_size(dir_ / "model-00002-of-00002.safetensors"));
  EXPECT_EQ(RowTags(*(*r)->FindTensor("blk.0.attn_q.weight")), (std::vector<int>{0, 2, 1, 3, 4, 6, 5, 7}));

  // The index promises a tensor its shard does not hold.
  weight_map["model.layers.0.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors";
  a.erase("model.layers.0.mlp.up_proj.weight");
  b.erase("model.layers.0.mlp.up_proj.weight");
  WriteBytes("model-00001-of-00002.safetensors", SafetensorsBytes(a));
  WriteBytes("model-00002-of-00002.safetensors", SafetensorsBytes(b));
  WriteText("model.safetensors.index.json", json{{"weight_map", weight_map}}.dump());
  ExpectError(StatusCode::kDataLoss, {"model.safetensors.index.json", "model.layers.0.mlp.up_proj.weight"});

  // A shard outside the directory, a missing shard, a malformed index.
  WriteText("model.safetensors.index.json", json{{"weight_map", {{"x", "../evil.safetensors"}}}}.dump());
  ExpectError(StatusCode::kInvalidArgument, {"../evil.safetensors"});
  WriteText("model.safetensors.index.json", json{{"weight_map", {{"x", "nope.safetensors"}}}}.dump());
  ExpectError(StatusCode::kNotFound, {"nope.safetensors"});
  WriteText("model.safetensors.index.json", json{{"weight_map", {{"x", 3}}}}.dump());
  ExpectError(StatusCode::kInvalidArgument, {"weight_map.x"});
  WriteText("model.safetensors.index.json", "{");
  ExpectError(StatusCode::kInvalidArgument, {"not valid JSON"});
}

TEST_F(HfModelTest, DuplicateAcrossShards) {
  auto all = TinyTensors();
  json weight_map = json::object();
  for (const auto& [name, t] : all) weight_map[name] = "a.safetensors";
  WriteText("config.json", TinyConfig().dump());
  WriteBytes("a.safetensors", SafetensorsBytes(all));
  WriteBytes("b.safetensors", SafetensorsBytes(all));
  // Listed in both: the index maps each name to one shard, so b's copies are skipped.
  weight_map["model.norm.weight"] = "b.safetensors";
  WriteText("model.safetensors.index.json", json{{"weight_map", weight_map}}.dump());
  auto r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->tensors().size(), 11u);
}

TEST_F(HfModelTest, ShapeAndDtypeErrors) {
  auto tensors = TinyTensors();
  tensors.erase("model.layers.0.mlp.up_proj.weight");
  WriteModel(TinyConfig(), tensors);
  ExpectError(StatusCode::kNotFound, {"blk.0.ffn_up.weight", "missing", "[8, 12]"});

  tensors = TinyTensors();
  tensors["model.layers.0.self_attn.k_proj.weight"] = {{8, 8}};
  WriteModel(TinyConfig(), tensors);
  ExpectError(StatusCode::kDataLoss, {"blk.0.attn_k.weight", "[8, 8]", "expected [8, 4]"});

  tensors = TinyTensors();
  tensors["model.norm.weight"] = {{8}, "I32"};
  WriteModel(TinyConfig(), tensors);
  ExpectError(StatusCode::kUnimplemented, {"model.norm.weight", "I32"});

  tensors = TinyTensors();
  json config = TinyConfig();
  config["num_hidden_layers"] = 2;
  WriteModel(config, tensors);
  ExpectError(StatusCode::kNotFound, {"blk.1.attn_norm.weight"});
}

TEST_F(HfModelTest, MissingFiles) {
  auto none = OpenSafetensorsModel((dir_ / "absent").string());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("no such file"), std::string::npos) << none.status().ToString();
  ExpectError(StatusCode::kNotFound, {"model.safetensors"});
  WriteBytes("model.safetensors", SafetensorsBytes(TinyTensors()));
  ExpectError(StatusCode::kNotFound, {"config.json"});
  WriteText("config.json", "{\"model_type\": 3}");
  ExpectError(StatusCode::kInvalidArgument, {"config.json", "model_type"});
  WriteText("config.json", TinyConfig().dump());
  WriteBytes("model.safetensors", {1, 2, 3});
  ExpectError(StatusCode::kDataLoss, {"model.safetensors"});
}

TEST_F(HfModelTest, TokenizerInfo) {
  WriteModel(TinyConfig(), TinyTensors());
  WriteText("tokenizer.json", R"({"model": {"type": "BPE", "byte_fallback": false},
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "ByteLevel"}]}})");
  WriteText("tokenizer_config.json", R"({"chat_template": "{{ messages }}"})");
  auto r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const TokenizerInfo& t = (*r)->tokenizer();
  EXPECT_EQ(t.kind, "gpt2");
  EXPECT_EQ(t.tokenizer_json_path, (dir_ / "tokenizer.json").string());
  EXPECT_EQ(t.tokenizer_config_path, (dir_ / "tokenizer_config.json").string());
  EXPECT_EQ(t.chat_template, std::optional<std::string>("{{ messages }}"));

  WriteText("tokenizer.json", R"({"model": {"type": "WordPiece"}})");
  WriteText("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"},
                                                           {"name": "default", "template": "D"}]})");
  r = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->tokenizer().kind, "bert");
  EXPECT_EQ((*r)->tokenizer().chat_template, std::optional<std::string>("D"));

  WriteText("tokenizer.json", R"({"model": []})");
  ExpectError(StatusCode::kInvalidArgument, {"tokenizer.json", "model"});
}

TEST(HfModelRealTest, Stories260KTokenizer) {
  const std::string dir = std::string(WEFT_SHARED_DIR) + "/models/stories260K/hf";
  auto r = OpenSafetensorsModel(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const TokenizerInfo& t = (*r)->tokenizer();
  EXPECT_EQ(t.kind, "llama");
  EXPECT_EQ(t.vocab_size, 512);
  EXPECT_EQ(t.tokenizer_json_path, dir + "/tokenizer.json");
  EXPECT_EQ(t.tokenizer_config_path, dir + "/tokenizer_config.json");
  EXPECT_FALSE(t.chat_template.has_value());
  EXPECT_EQ((*r)->file_bytes(), 1044992u);
}

// A "llama3" rope_scaling reaches the forward pass as per-pair divisors. head_dim 4 with
// theta 10000: pair 0's wavelength is 2 pi (between 8 / 4 and 8 / 1, so blended), pair
// 1's is 200 pi (past 8 / 1, so slowed by the whole factor 8).
TEST_F(HfModelTest, Llama3RopeScalingGivesFrequencyDivisors) {
  json config = TinyConfig();
  config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8}};
  WriteModel(config, TinyTensors());
  auto file = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto w = LlamaWeights::Bind(*file);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const float* f = (*w)->rope_freq_factors();
  ASSERT_NE(f, nullptr);
  EXPECT_GT(f[0], 1.0f);
  EXPECT_LT(f[0], 8.0f);
  EXPECT_EQ(f[1], 8.0f);

  WriteModel(TinyConfig(), TinyTensors());  // no rope_scaling: no divisors
  auto plain = OpenSafetensorsModel(dir_.string());
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  auto pw = LlamaWeights::Bind(*plain);
  ASSERT_TRUE(pw.ok()) << pw.status().ToString();
  EXPECT_EQ((*pw)->rope_freq_factors(), nullptr);
}

}  // namespace
}  // namespace weft
