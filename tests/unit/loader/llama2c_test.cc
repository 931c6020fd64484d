#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "loader/model_file.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

const std::string kDir = std::string(WEFT_SHARED_DIR) + "/models/stories260K/llama2c";
const std::string kBin = kDir + "/stories260K.bin";

class Llama2cTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("weft_llama2c_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto text = ReadFileToString(kBin);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    real_.assign(text->begin(), text->end());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::vector<uint8_t>& bytes, const std::string& name = "model.bin") {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }
  // The real file with header field `i` set to `v`.
  std::vector<uint8_t> WithHeader(int i, int32_t v) const {
    std::vector<uint8_t> b = real_;
    std::memcpy(b.data() + 4 * i, &v, 4);
    return b;
  }
  void ExpectError(const std::vector<uint8_t>& bytes, StatusCode code, const std::vector<std::string>& parts) {
    const std::string path = Write(bytes);
    auto r = OpenLlama2cModel(path);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().ToString();
    for (const std::string& p : parts) {
      EXPECT_NE(r.status().message().find(p), std::string::npos) << "'" << p << "' not in " << r.status().ToString();
    }
  }

  fs::path dir_;
  std::vector<uint8_t> real_;
};

TEST_F(Llama2cTest, Stories260K) {
  auto r = OpenLlama2cModel(kBin);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFile& m = **r;
  EXPECT_EQ(m.format(), ModelFormat::kLlama2c);
  EXPECT_EQ(m.file_bytes(), 1056540u);
  const ModelConfig& c = m.config();
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_layer, 5);
  EXPECT_EQ(c.n_head, 8);
  EXPECT_EQ(c.n_head_kv, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.rope_dim, 8);
  EXPECT_EQ(c.n_ff, 172);
  EXPECT_EQ(c.context_length, 512);
  EXPECT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_style, RopeStyle::kInterleaved);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(m.tensors().size(), 47u);
  EXPECT_EQ(m.FindTensor("output.weight"), nullptr);
  const TensorView* embd = m.FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->ShapeString(), "[64, 512]");
  EXPECT_EQ(m.FindTensor("blk.4.attn_k.weight")->ShapeString(), "[64, 32]");
  EXPECT_EQ(m.FindTensor("blk.0.ffn_down.weight")->ShapeString(), "[172, 64]");
  EXPECT_EQ(m.FindTensor("blk.0.ffn_gate.weight")->ShapeString(), "[64, 172]");
  // The embedding starts right after the 28-byte header, and the values are as stored.
  float first = 0;
  std::memcpy(&first, real_.data() + 28, 4);
  EXPECT_EQ(reinterpret_cast<const float*>(embd->data)[0], first);
  EXPECT_EQ(m.tokenizer().kind, "llama");
  EXPECT_EQ(m.tokenizer().vocab_size, 512);
  EXPECT_EQ(m.tokenizer().llama2c_tokenizer_path, kDir + "/tok512.bin");
}

TEST_F(Llama2cTest, UnsharedClassifier) {
  // A negative vocab_size promises a separate classifier at the end: the real file lacks
  // it, so it is too short; appending one makes a valid untied model.
  std::vector<uint8_t> b = WithHeader(5, -512);
  ExpectError(b, StatusCode::kDataLoss, {"unshared classifier", "truncated"});
  b.resize(b.size() + 512 * 64 * 4, 0);
  const std::string path = Write(b);
  auto r = OpenLlama2cModel(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE((*r)->config().tied_embeddings);
  ASSERT_NE((*r)->FindTensor("output.weight"), nullptr);
  EXPECT_EQ((*r)->FindTensor("output.weight")->ShapeString(), "[64, 512]");
  EXPECT_EQ((*r)->tokenizer().llama2c_tokenizer_path, "");  // no tok512.bin beside it
}

TEST_F(Llama2cTest, CorruptHeaders) {
  ExpectError({}, StatusCode::kDataLoss, {"too short"});
  ExpectError({real_.begin(), real_.begin() + 20}, StatusCode::kDataLoss, {"too short"});
  ExpectError(WithHeader(0, 0), StatusCode::kDataLoss, {"dim is 0"});
  ExpectError(WithHeader(1, -5), StatusCode::kDataLoss, {"hidden_dim is -5"});
  ExpectError(WithHeader(2, 1 << 30), StatusCode::kDataLoss, {"n_layers"});
  ExpectError(WithHeader(3, 7), StatusCode::kDataLoss, {"n_heads 7 does not divide dim 64"});
  ExpectError(WithHeader(4, 3), StatusCode::kDataLoss, {"n_kv_heads 3 does not divide n_heads 8"});
  ExpectError(WithHeader(4, 16), StatusCode::kDataLoss, {"n_kv_heads 16"});
  ExpectError(WithHeader(3, 64), StatusCode::kDataLoss, {"head size 1 is odd"});
  ExpectError(WithHeader(6, 0), StatusCode::kDataLoss, {"seq_len"});
  // Header values that are valid but do not match the file's size.
  ExpectError(WithHeader(0, 128), StatusCode::kDataLoss, {"dim 128", "truncated"});
  ExpectError(WithHeader(6, 256), StatusCode::kDataLoss, {"seq_len 256", "1056540 bytes"});
  // Largest allowed values everywhere: the size computation must not overflow.
  std::vector<uint8_t> big = real_;
  for (int i = 0; i < 7; ++i) {
    const int32_t v = (i == 3 || i == 4) ? 1 << 22 : 1 << 24;  // head size 4
    std::memcpy(big.data() + 4 * i, &v, 4);
  }
  ExpectError(big, StatusCode::kDataLoss, {"more than 2^64"});
  std::vector<uint8_t> extra = real_;
  extra.push_back(0);
  ExpectError(extra, StatusCode::kDataLoss, {"1056541 bytes", "needs exactly 1056540"});
  std::vector<uint8_t> versioned = real_;
  std::memcpy(versioned.data(), "ak42", 4);
  ExpectError(versioned, StatusCode::kUnimplemented, {"ak42"});
}

TEST_F(Llama2cTest, Missing) {
  auto r = OpenLlama2cModel((dir_ / "nope.bin").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace weft
