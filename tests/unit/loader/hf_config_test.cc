#include "loader/hf_config.h"

#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/mapped_file.h"

namespace weft {
namespace {

using json = nlohmann::json;

json LlamaJson() {
  return json::parse(R"({
    "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": null, "tie_word_embeddings": false, "attention_bias": false,
    "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu"})");
}

StatusOr<ModelConfig> Parse(const json& j) { return ParseHfConfig(j.dump(), "config.json"); }

void ExpectError(const json& j, StatusCode code, const std::string& field) {
  auto r = Parse(j);
  ASSERT_FALSE(r.ok()) << j.dump();
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find("config.json"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().ToString();
}

TEST(HfConfigTest, Llama) {
  auto r = Parse(LlamaJson());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelConfig& c = *r;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_vocab, 32000);
  EXPECT_EQ(c.n_embd, 4096);
  EXPECT_EQ(c.n_layer, 32);
  EXPECT_EQ(c.n_head, 32);
  EXPECT_EQ(c.n_head_kv, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.rope_dim, 128);
  EXPECT_EQ(c.n_ff, 11008);
  EXPECT_EQ(c.context_length, 4096);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.rope_style, RopeStyle::kInterleaved);
  EXPECT_EQ(c.rope_scaling, RopeScaling{});
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.attn_qkv_bias);
  EXPECT_FALSE(c.attn_output_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
}

TEST(HfConfigTest, DefaultsForOptionalFields) {
  json j = LlamaJson();
  for (const char* key : {"num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                          "rope_scaling", "tie_word_embeddings", "attention_bias", "bos_token_id", "eos_token_id",
                          "hidden_act"}) {
    j.erase(key);
  }
  j["head_dim"] = nullptr;
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n_head_kv, 32);
  EXPECT_EQ(r->head_dim, 128);
  EXPECT_EQ(r->context_length, 2048);
  EXPECT_FLOAT_EQ(r->norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(r->rope_theta, 10000.0f);
  EXPECT_FALSE(r->tied_embeddings);
  EXPECT_EQ(r->bos_token_id, -1);
  EXPECT_EQ(r->eos_token_id, -1);
}

TEST(HfConfigTest, LlamaAttentionBiasAndEosList) {
  json j = LlamaJson();
  j["attention_bias"] = true;
  j["eos_token_id"] = {128001, 128008, 128009};
  j["tie_word_embeddings"] = true;
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->attn_qkv_bias);
  EXPECT_TRUE(r->attn_output_bias);
  EXPECT_TRUE(r->tied_embeddings);
  EXPECT_EQ(r->eos_token_id, 128001);
}

TEST(HfConfigTest, Mistral) {
  auto r = ParseHfConfig(R"({
    "model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
    "sliding_window": null, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2})",
                         "mistral/config.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "llama");
  EXPECT_EQ(r->rope_style, RopeStyle::kInterleaved);
  EXPECT_EQ(r->context_length, 32768);
  EXPECT_FALSE(r->attn_qkv_bias);
}

// Mistral 7B v0.1: every layer attends to its last 4096 positions.
TEST(HfConfigTest, MistralSlidingWindow) {
  auto r = ParseHfConfig(R"({
    "model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "sliding_window": 4096, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2})",
                         "mistral-v0.1/config.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->sliding_window, 4096);
  EXPECT_EQ(r->LayerWindow(0), 4096);
  EXPECT_EQ(r->LayerWindow(31), 4096);
}

// Qwen2's per-layer windows (max_window_layers) are refused, not run without them.
TEST(HfConfigTest, Qwen2SlidingWindowIsRefused) {
  auto r = ParseHfConfig(R"({
    "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
    "max_position_embeddings": 32768, "max_window_layers": 21, "rms_norm_eps": 1e-06,
    "sliding_window": 4096, "use_sliding_window": true, "tie_word_embeddings": true})",
                         "config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("use_sliding_window"), std::string::npos) << r.status().message();
}

// Gemma 2 2B's config.json (fields as published): scale from query_pre_attn_scalar, both
// soft-caps, a 4096 window on every other layer.
TEST(HfConfigTest, Gemma2) {
  auto r = ParseHfConfig(R"({
    "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "intermediate_size": 9216,
    "max_position_embeddings": 8192, "num_attention_heads": 8, "num_hidden_layers": 26,
    "num_key_value_heads": 4, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
    "sliding_window": 4096, "vocab_size": 256000, "bos_token_id": 2, "eos_token_id": 1})",
                         "gemma-2-2b/config.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "gemma2");
  EXPECT_EQ(r->rope_style, RopeStyle::kNeox);
  EXPECT_TRUE(r->tied_embeddings);
  EXPECT_FLOAT_EQ(r->attn_scale, 1.0f / 16.0f);
  EXPECT_FLOAT_EQ(r->attn_logit_softcap, 50.0f);
  EXPECT_FLOAT_EQ(r->final_logit_softcap, 30.0f);
  EXPECT_EQ(r->LayerWindow(0), 4096);
  EXPECT_EQ(r->LayerWindow(1), 0);
  EXPECT_EQ(r->LayerWindow(24), 4096);
}

// Gemma 3 1B (gemma3_text): q/k norms, five local layers (window 512, rope base 10000)
// then one global, no soft-caps (null), a layer_types list that must match.
TEST(HfConfigTest, Gemma3Text) {
  std::string layer_types;
  for (int l = 0; l < 26; ++l) layer_types += std::string(l ? "," : "") + ((l + 1) % 6 ? "\"sliding_attention\"" : "\"full_attention\"");
  const std::string text = R"({"model_type": "gemma3_text", "attn_logit_softcapping": null,
    "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
    "intermediate_size": 6912, "max_position_embeddings": 32768, "num_attention_heads": 4, "num_hidden_layers": 26,
    "num_key_value_heads": 1, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
    "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6, "vocab_size": 262144,
    "layer_types": [)" + layer_types + "]}";
  auto r = ParseHfConfig(text, "gemma-3-1b-it/config.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "gemma3");
  EXPECT_TRUE(r->qk_norm);
  EXPECT_FLOAT_EQ(r->attn_logit_softcap, 0.0f);
  EXPECT_FLOAT_EQ(r->final_logit_softcap, 0.0f);
  EXPECT_FLOAT_EQ(r->rope_theta_local, 10000.0f);
  EXPECT_EQ(r->LayerWindow(0), 512);
  EXPECT_EQ(r->LayerWindow(5), 0);
  EXPECT_EQ(r->LayerWindow(6), 512);
  // A layer list that is not the pattern is refused, not run with another layout.
  std::string other = text;
  other.replace(other.find("\"full_attention\""), 16, "\"sliding_attention\"");
  auto bad = ParseHfConfig(other, "gemma-3-1b-it/config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer_types"), std::string::npos) << bad.status().message();
}

TEST(HfConfigTest, Qwen2) {
  auto r = ParseHfConfig(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896,
    "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
    "max_position_embeddings": 32768, "max_window_layers": 21, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 32768, "use_sliding_window": false, "tie_word_embeddings": true,
    "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu", "torch_dtype": "bfloat16"})",
                         "config.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "qwen2");
  EXPECT_EQ(r->head_dim, 64);
  EXPECT_EQ(r->rope_style, RopeStyle::kNeox);
  EXPECT_TRUE(r->attn_qkv_bias);
  EXPECT_FALSE(r->attn_output_bias);
  EXPECT_FALSE(r->qk_norm);
  EXPECT_TRUE(r->tied_embeddings);
  EXPECT_FLOAT_EQ(r->norm_eps, 1e-6f);
  EXPECT_EQ(r->eos_token_id, 151645);
}

TEST(HfConfigTest, Qwen3) {
  auto r = ParseHfConfig(R"({
    "model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
    "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
    "max_position_embeddings": 40960, "rms_norm_eps": 1e-06, "rope_theta": 1000000,
    "rope_scaling": null, "attention_bias": false, "tie_word_embeddings": true,
    "bos_token_id": 151643, "eos_token_id": 151645})",
                         "config.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "qwen3");
  EXPECT_EQ(r->head_dim, 128);  // not hidden / heads (64)
  EXPECT_EQ(r->rope_dim, 128);
  EXPECT_EQ(r->rope_style, RopeStyle::kNeox);
  EXPECT_TRUE(r->qk_norm);
  EXPECT_FALSE(r->attn_qkv_bias);
  EXPECT_FALSE(r->attn_output_bias);
  EXPECT_FLOAT_EQ(r->rope_theta, 1e6f);
}

TEST(HfConfigTest, RopeScalingLinear) {
  json j = LlamaJson();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_FLOAT_EQ(r->rope_scaling.factor, 4.0f);
}

TEST(HfConfigTest, RopeScalingYarn) {
  json j = LlamaJson();
  j["model_type"] = "qwen2";
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kYarn);
  EXPECT_FLOAT_EQ(r->rope_scaling.factor, 4.0f);
  EXPECT_EQ(r->rope_scaling.original_context, 32768);
  EXPECT_FLOAT_EQ(r->rope_scaling.yarn_beta_fast, 32.0f);
  EXPECT_FLOAT_EQ(r->rope_scaling.yarn_beta_slow, 1.0f);
  EXPECT_FLOAT_EQ(r->rope_scaling.yarn_attn_factor, 1.0f);

  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2}, {"beta_fast", 16}, {"beta_slow", 2},
                       {"attention_factor", 1.5}};
  r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rope_scaling.original_context, 4096);  // defaults to max_position_embeddings
  EXPECT_FLOAT_EQ(r->rope_scaling.yarn_beta_fast, 16.0f);
  EXPECT_FLOAT_EQ(r->rope_scaling.yarn_beta_slow, 2.0f);
  EXPECT_FLOAT_EQ(r->rope_scaling.yarn_attn_factor, 1.5f);
}

TEST(HfConfigTest, RopeScalingLlama3) {
  json j = LlamaJson();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_FLOAT_EQ(r->rope_scaling.factor, 32.0f);
  EXPECT_FLOAT_EQ(r->rope_scaling.llama3_low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(r->rope_scaling.llama3_high_freq_factor, 4.0f);
  EXPECT_EQ(r->rope_scaling.original_context, 8192);

  j["rope_scaling"].erase("low_freq_factor");
  ExpectError(j, StatusCode::kInvalidArgument, "rope_scaling.low_freq_factor");
}

TEST(HfConfigTest, RopeScalingDefaultAndUnsupported) {
  json j = LlamaJson();
  j["rope_scaling"] = {{"rope_type", "default"}};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kNone);

  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  ExpectError(j, StatusCode::kUnimplemented, "dynamic");
  j["rope_scaling"] = {{"rope_type", "longrope"}};  // supported (Phi3LongRope), but incomplete
  ExpectError(j, StatusCode::kInvalidArgument, "original_max_position_embeddings");
  j["rope_scaling"] = {{"factor", 2.0}};
  ExpectError(j, StatusCode::kInvalidArgument, "rope_scaling.rope_type");
  j["rope_scaling"] = {{"type", "linear"}};
  ExpectError(j, StatusCode::kInvalidArgument, "rope_scaling.factor");
  j["rope_scaling"] = {{"type", "linear"}, {"factor", "2"}};
  ExpectError(j, StatusCode::kInvalidArgument, "rope_scaling.factor");
  j["rope_scaling"] = "linear";
  ExpectError(j, StatusCode::kInvalidArgument, "rope_scaling");
}

TEST(HfConfigTest, SmolLm2Config) {
  const std::string path = std::string(WEFT_SHARED_DIR) + "/models/tokenizers/smollm2-135m-instruct/config.json";
  auto text = ReadFileToString(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  auto r = ParseHfConfig(*text, path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "llama");
  EXPECT_EQ(r->n_vocab, 49152);
  EXPECT_EQ(r->n_embd, 576);
  EXPECT_EQ(r->n_layer, 30);
  EXPECT_EQ(r->n_head, 9);
  EXPECT_EQ(r->n_head_kv, 3);
  EXPECT_EQ(r->head_dim, 64);
  EXPECT_EQ(r->n_ff, 1536);
  EXPECT_EQ(r->context_length, 8192);
  EXPECT_FLOAT_EQ(r->rope_theta, 100000.0f);
  EXPECT_TRUE(r->tied_embeddings);
  EXPECT_EQ(r->bos_token_id, 1);
  EXPECT_EQ(r->eos_token_id, 2);
}

TEST(HfConfigTest, Stories260KConfig) {
  const std::string path = std::string(WEFT_SHARED_DIR) + "/models/stories260K/hf/config.json";
  auto text = ReadFileToString(path);
  ASSERT_TRUE(text.ok());
  auto r = ParseHfConfig(*text, path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->head_dim, 8);
  EXPECT_EQ(r->n_head_kv, 4);
  EXPECT_EQ(r->n_ff, 172);
  EXPECT_EQ(r->norm_eps, 1e-5f);  // 9.999999747378752e-06 is 1e-5f exactly
}

TEST(HfConfigTest, MissingAndMistypedFields) {
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "model_type"}) {
    json j = LlamaJson();
    j.erase(key);
    ExpectError(j, StatusCode::kInvalidArgument, std::string("'") + key + "' is missing");
  }
  json j = LlamaJson();
  j["hidden_size"] = "4096";
  ExpectError(j, StatusCode::kInvalidArgument, "'hidden_size' is a string");
  j = LlamaJson();
  j["hidden_size"] = 4096.5;
  ExpectError(j, StatusCode::kInvalidArgument, "'hidden_size'");
  j = LlamaJson();
  j["num_hidden_layers"] = -3;
  ExpectError(j, StatusCode::kInvalidArgument, "'num_hidden_layers'");
  j = LlamaJson();
  j["vocab_size"] = 0;
  ExpectError(j, StatusCode::kInvalidArgument, "'vocab_size'");
  j = LlamaJson();
  j["vocab_size"] = 18446744073709551615ull;
  ExpectError(j, StatusCode::kInvalidArgument, "'vocab_size'");
  j = LlamaJson();
  j["tie_word_embeddings"] = 1;
  ExpectError(j, StatusCode::kInvalidArgument, "'tie_word_embeddings' is a number");
  j = LlamaJson();
  j["rms_norm_eps"] = "1e-5";
  ExpectError(j, StatusCode::kInvalidArgument, "'rms_norm_eps'");
  j = LlamaJson();
  j["eos_token_id"] = {"x"};
  ExpectError(j, StatusCode::kInvalidArgument, "'eos_token_id'");
  j = LlamaJson();
  j["num_key_value_heads"] = 5;
  ExpectError(j, StatusCode::kInvalidArgument, "'num_key_value_heads'");
  j = LlamaJson();
  j["num_attention_heads"] = 33;
  j["num_key_value_heads"] = 33;
  ExpectError(j, StatusCode::kInvalidArgument, "'num_attention_heads'");
  j = LlamaJson();
  j["head_dim"] = 127;
  j["num_key_value_heads"] = 32;
  ExpectError(j, StatusCode::kInvalidArgument, "'head_dim'");
}

TEST(HfConfigTest, Unsupported) {
  json j = LlamaJson();
  j["model_type"] = "mamba";
  ExpectError(j, StatusCode::kUnimplemented, "mamba");
  j = LlamaJson();
  j["model_type"] = "gemma2";
  j["hidden_activation"] = "gelu";  // Gemma's GeGLU is the tanh-approximated gelu only
  ExpectError(j, StatusCode::kUnimplemented, "gelu");
  j = LlamaJson();
  j["hidden_act"] = "gelu";
  ExpectError(j, StatusCode::kUnimplemented, "gelu");
  j = LlamaJson();
  j["mlp_bias"] = true;
  ExpectError(j, StatusCode::kUnimplemented, "mlp_bias");
}

TEST(HfConfigTest, Mixtral) {
  json j = LlamaJson();
  j["model_type"] = "mixtral";
  j["num_local_experts"] = 8;
  j["num_experts_per_tok"] = 2;
  j["intermediate_size"] = 14336;
  j["sliding_window"] = nullptr;
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "llama");
  EXPECT_EQ(r->n_expert, 8);
  EXPECT_EQ(r->n_expert_used, 2);
  EXPECT_EQ(r->ExpertFf(), 14336);
  EXPECT_TRUE(r->expert_weights_norm);
  EXPECT_EQ(r->rope_style, RopeStyle::kInterleaved);
  j["num_experts_per_tok"] = 9;  // more than there are
  ExpectError(j, StatusCode::kInvalidArgument, "num_experts_per_tok");
}

TEST(HfConfigTest, QwenMoe) {
  json j = LlamaJson();
  j["model_type"] = "qwen2_moe";
  j["num_experts"] = 60;
  j["num_experts_per_tok"] = 4;
  j["moe_intermediate_size"] = 1408;
  j["shared_expert_intermediate_size"] = 5632;
  j["norm_topk_prob"] = false;
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "qwen2moe");
  EXPECT_EQ(r->n_expert, 60);
  EXPECT_EQ(r->n_expert_used, 4);
  EXPECT_EQ(r->ExpertFf(), 1408);
  EXPECT_EQ(r->n_ff_shared_expert, 5632);
  EXPECT_FALSE(r->expert_weights_norm);
  EXPECT_TRUE(r->attn_qkv_bias);
  EXPECT_EQ(r->rope_style, RopeStyle::kNeox);
  j["mlp_only_layers"] = {0, 3};  // dense layers among the sparse ones: refused, not ignored
  ExpectError(j, StatusCode::kInvalidArgument, "mlp_only_layers");
  j["mlp_only_layers"] = json::array();
  j["decoder_sparse_step"] = 2;
  ExpectError(j, StatusCode::kInvalidArgument, "decoder_sparse_step");

  j = LlamaJson();
  j["model_type"] = "qwen3_moe";
  j["num_experts"] = 128;
  j["num_experts_per_tok"] = 8;
  j["moe_intermediate_size"] = 768;
  j["norm_topk_prob"] = true;
  r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "qwen3moe");
  EXPECT_TRUE(r->qk_norm);
  EXPECT_TRUE(r->expert_weights_norm);
  EXPECT_EQ(r->n_ff_shared_expert, 0);
  j.erase("moe_intermediate_size");
  ExpectError(j, StatusCode::kInvalidArgument, "moe_intermediate_size");
}

TEST(HfConfigTest, Olmoe) {
  json j = LlamaJson();
  j["model_type"] = "olmoe";
  j["num_experts"] = 64;
  j["num_experts_per_tok"] = 8;
  j["intermediate_size"] = 1024;
  j["clip_qkv"] = nullptr;
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "olmoe");
  EXPECT_EQ(r->n_expert, 64);
  EXPECT_EQ(r->ExpertFf(), 1024);
  EXPECT_FALSE(r->expert_weights_norm);
  EXPECT_TRUE(r->qk_norm);
  EXPECT_TRUE(r->qk_norm_full);
  EXPECT_EQ(r->rope_style, RopeStyle::kNeox);
  j["clip_qkv"] = 8.0;  // changes the answer and is not modelled: refused
  ExpectError(j, StatusCode::kInvalidArgument, "clip_qkv");
}

TEST(HfConfigTest, NotJson) {
  auto r = ParseHfConfig("{\"model_type\": ", "dir/config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("dir/config.json"), std::string::npos);
  r = ParseHfConfig("[]", "dir/config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not an object"), std::string::npos);
}

// DeepSeek-V2-Lite's config.json (the fields that matter), then V3's routing.
TEST(HfConfigTest, DeepSeek) {
  json j = json::parse(R"({
    "model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944,
    "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16, "num_key_value_heads": 16,
    "n_shared_experts": 2, "n_routed_experts": 64, "routed_scaling_factor": 1.0, "kv_lora_rank": 512,
    "q_lora_rank": null, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
    "topk_method": "greedy", "n_group": 1, "topk_group": 1, "num_experts_per_tok": 6, "moe_layer_freq": 1,
    "first_k_dense_replace": 1, "norm_topk_prob": false, "scoring_func": "softmax", "hidden_act": "silu",
    "max_position_embeddings": 163840, "rms_norm_eps": 1e-06, "rope_theta": 10000, "attention_bias": false,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
                     "original_max_position_embeddings": 4096, "type": "yarn"}})");
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "deepseek2");
  EXPECT_TRUE(r->is_mla());
  EXPECT_EQ(r->q_lora_rank, 0);  // null: no bottleneck
  EXPECT_EQ(r->kv_lora_rank, 512);
  EXPECT_EQ(r->head_dim, 192);
  EXPECT_EQ(r->rope_dim, 64);
  EXPECT_EQ(r->qk_nope_dim, 128);
  EXPECT_EQ(r->v_head_dim, 128);
  EXPECT_EQ(r->rope_style, RopeStyle::kInterleaved);
  EXPECT_EQ(r->n_expert, 64);
  EXPECT_EQ(r->n_expert_used, 6);
  EXPECT_EQ(r->ExpertFf(), 1408);
  EXPECT_EQ(r->n_ff_shared_expert, 2 * 1408);
  EXPECT_FALSE(r->shared_expert_gated);
  EXPECT_EQ(r->n_dense_lead_layers, 1);
  EXPECT_FALSE(r->LayerIsMoe(0));
  EXPECT_TRUE(r->LayerIsMoe(1));
  EXPECT_EQ(r->expert_group_count, 0);
  EXPECT_EQ(r->expert_gating, ExpertGating::kSoftmax);
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kYarn);
  EXPECT_FLOAT_EQ(r->rope_yarn_log_mul, 0.0707f);
  EXPECT_EQ(r->KvBytesPerToken(2), 2 * 27 * 576 * 2);  // the latent row, not 16 heads

  j["model_type"] = "deepseek_v3";
  j["q_lora_rank"] = 1536;
  j["scoring_func"] = "sigmoid";
  j["topk_method"] = "noaux_tc";
  j["n_routed_experts"] = 256;
  j["num_experts_per_tok"] = 8;
  j["n_group"] = 8;
  j["topk_group"] = 4;
  j["norm_topk_prob"] = true;
  j["routed_scaling_factor"] = 2.5;
  r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->q_lora_rank, 1536);
  EXPECT_EQ(r->expert_gating, ExpertGating::kSigmoid);
  EXPECT_EQ(r->expert_group_count, 8);
  EXPECT_EQ(r->expert_group_used, 4);
  EXPECT_FLOAT_EQ(r->expert_weights_scale, 2.5f);
  EXPECT_TRUE(r->expert_weights_norm);
  // What weft does not run is refused by name, not run differently.
  json bad = j;
  bad["topk_method"] = "group_limited_greedy";  // V2's group scoring with sigmoid scores
  ExpectError(bad, StatusCode::kInvalidArgument, "topk_method");
  bad = j;
  bad["moe_layer_freq"] = 2;
  ExpectError(bad, StatusCode::kInvalidArgument, "moe_layer_freq");
  bad = j;
  bad["rope_scaling"]["mscale"] = 1.0;
  ExpectError(bad, StatusCode::kInvalidArgument, "rope_scaling.mscale");
  bad = j;
  bad["attention_bias"] = true;
  ExpectError(bad, StatusCode::kInvalidArgument, "attention_bias");
}

// Phi-3-mini-4k-instruct's config.json (the fields that matter); LongRoPE is refused.
TEST(HfConfigTest, Phi3) {
  json j = json::parse(R"({
    "model_type": "phi3", "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu",
    "max_position_embeddings": 4096, "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0, "rope_scaling": null, "sliding_window": 2047, "tie_word_embeddings": false,
    "attention_bias": false})");
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->arch, "phi3");
  EXPECT_EQ(r->head_dim, 96);
  EXPECT_EQ(r->rope_style, RopeStyle::kNeox);
  EXPECT_EQ(r->sliding_window, 2047);
  EXPECT_EQ(r->LayerWindow(0), 2047);
}

// Phi-3.5-mini / Phi-3-128k: LongRoPE's two divisor sets, the original context at the top
// level, the attention factor derived from the extension (131072 / 4096 = 32) as
// transformers does when the config gives none.
TEST(HfConfigTest, Phi3LongRope) {
  json j = json::parse(R"({
    "model_type": "phi3", "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu",
    "max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0, "sliding_window": 262144, "tie_word_embeddings": false})");
  std::vector<double> long_f(48), short_f(48);
  for (int i = 0; i < 48; ++i) {
    long_f[static_cast<size_t>(i)] = 1.0 + i;
    short_f[static_cast<size_t>(i)] = 1.0 + 0.01 * i;
  }
  j["rope_scaling"] = {{"type", "longrope"}, {"long_factor", long_f}, {"short_factor", short_f}};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kLongRope);
  EXPECT_EQ(r->rope_scaling.original_context, 4096);
  EXPECT_FLOAT_EQ(r->rope_scaling.factor, 32.0f);
  EXPECT_NEAR(r->rope_scaling.yarn_attn_factor, std::sqrt(1.0 + std::log(32.0) / std::log(4096.0)), 1e-6);
  ASSERT_EQ(r->rope_scaling.longrope_long_factors.size(), 48u);
  EXPECT_FLOAT_EQ(r->rope_scaling.longrope_long_factors[47], 48.0f);
  EXPECT_FLOAT_EQ(r->rope_scaling.longrope_short_factors[1], 1.01f);
  // An explicit attention_factor and original context inside rope_scaling win.
  j["rope_scaling"]["attention_factor"] = 1.5;
  j["rope_scaling"]["original_max_position_embeddings"] = 8192;
  r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FLOAT_EQ(r->rope_scaling.yarn_attn_factor, 1.5f);
  EXPECT_EQ(r->rope_scaling.original_context, 8192);
  // Phi-4-mini: partial rotary, 0.75 of head_dim 128 = 96 dims (LongRoPE's sets then have 48).
  j["partial_rotary_factor"] = 0.75;
  j["hidden_size"] = 4096;
  r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->head_dim, 128);
  EXPECT_EQ(r->rope_dim, 96);
  j["partial_rotary_factor"] = 0.7;  // 89.6 dims
  ExpectError(j, StatusCode::kInvalidArgument, "partial_rotary_factor");
  j.erase("partial_rotary_factor");
  j["hidden_size"] = 3072;
  // Refused by name: a missing set, a non-positive factor, sets of different lengths.
  j["rope_scaling"].erase("short_factor");
  ExpectError(j, StatusCode::kInvalidArgument, "short_factor");
  j["rope_scaling"]["short_factor"] = std::vector<double>(48, 0.0);
  ExpectError(j, StatusCode::kInvalidArgument, "positive");
  j["rope_scaling"]["short_factor"] = std::vector<double>(47, 1.0);
  ExpectError(j, StatusCode::kInvalidArgument, "long_factor");
}

}  // namespace
}  // namespace weft
