// GGUF parser: real files, every value type, and hostile files (each must give a
// clear error, never a crash, hang or giant allocation).
#include "loader/gguf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "loader/gguf_model.h"
#include "support/gguf_builder.h"

namespace weft {
namespace {

using ::testing::HasSubstr;
using testing::GgufBuilder;

const std::string kModels = std::string(WEFT_SHARED_DIR) + "/models/";

StatusOr<std::shared_ptr<const GgufFile>> Parse(const std::vector<uint8_t>& bytes) {
  return ParseGgufBuffer(bytes, "test.gguf");
}

// Expects a parse error with `code` whose message contains `needle`.
void ExpectError(const std::vector<uint8_t>& bytes, StatusCode code, const std::string& needle) {
  auto r = Parse(bytes);
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << needle;
  EXPECT_EQ(r.status().code(), code) << r.status().message();
  EXPECT_THAT(r.status().message(), HasSubstr(needle));
  EXPECT_THAT(r.status().message(), HasSubstr("test.gguf"));
}

TEST(GgufRealFiles, EveryGgufInSharedModelsParses) {
  int count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kModels)) {
    if (entry.path().extension() != ".gguf") continue;
    auto f = OpenGgufFile(entry.path().string());
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_GE((*f)->version(), 2u);
    ++count;
  }
  EXPECT_GE(count, 10);
}

TEST(GgufRealFiles, Stories260KMetadataAndTensors) {
  auto f = OpenGgufFile(kModels + "stories260K/stories260K.gguf");
  ASSERT_TRUE(f.ok()) << f.status().message();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(*g.GetString("general.architecture"), "llama");
  EXPECT_EQ(*g.GetInt("llama.embedding_length"), 64);
  EXPECT_EQ(*g.GetInt("llama.attention.head_count_kv"), 4);
  EXPECT_NEAR(*g.GetFloat("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  auto tokens = g.GetArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ((*tokens)->size, 512u);
  EXPECT_EQ((*tokens)->strings.size(), 512u);
  EXPECT_EQ((*tokens)->strings[1], "<s>");
  auto scores = g.GetArray("tokenizer.ggml.scores");
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ((*scores)->floats.size(), 512u);
  const TensorView* emb = g.FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::kF32);
  EXPECT_EQ(emb->ne[0], 64);
  EXPECT_EQ(emb->ne[1], 512);
  EXPECT_EQ(emb->nbytes, 64u * 512u * 4u);
  // Zero-copy: the view points inside the file, after the data offset.
  EXPECT_EQ(g.tensors().size(), 48u);  // 3 + 5 layers x 9
  // Wrong-type and missing look-ups name the key.
  auto wrong = g.GetInt("general.architecture");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("general.architecture"));
  auto missing = g.GetString("no.such.key");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no.such.key"));
}

TEST(GgufRealFiles, Q8_0FileWithBlocksAcrossRowsIsReadAndFlagged) {
  auto f = OpenGgufFile(kModels + "stories260K/tinyllamas-stories-260k-q8_0.gguf");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->version(), 2u);
  const TensorView* down = (*f)->FindTensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->type, DType::kQ8_0);
  EXPECT_EQ(down->ne[0], 172);
  EXPECT_FALSE(down->RowsAreBlockAligned());
  EXPECT_EQ(down->nbytes, 172u * 64u / 32u * 34u);
  const TensorView* q = (*f)->FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(q->RowsAreBlockAligned());
}

TEST(GgufRealFiles, ConfigFromMetadata) {
  auto f = OpenGgufFile(kModels + "tinyllama-v0/TinyLLama-v0.Q4_0.gguf");
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto c = ModelConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->arch, "llama");
  EXPECT_EQ(c->n_vocab, 32000);
  EXPECT_EQ(c->n_embd, 64);
  EXPECT_EQ(c->n_layer, 8);
  EXPECT_EQ(c->n_head, 16);
  EXPECT_EQ(c->n_head_kv, 16);
  EXPECT_EQ(c->head_dim, 4);
  EXPECT_EQ(c->n_ff, 256);
  EXPECT_EQ(c->context_length, 2048);
  EXPECT_EQ(c->rope_style, RopeStyle::kInterleaved);
  EXPECT_FALSE(c->tied_embeddings);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_id, 2);
}

TEST(GgufValues, EveryValueTypeRoundTrips) {
  GgufBuilder b;
  b.AddRawKv("u8", 0, {200});
  b.AddRawKv("i8", 1, {0xFE});          // -2
  b.AddRawKv("u16", 2, {0x34, 0x12});   // 0x1234
  b.AddRawKv("i16", 3, {0xFF, 0xFF});   // -1
  b.AddU32("u32", 4000000000u);
  b.AddI32("i32", -7);
  b.AddF32("f32", 1.5f);
  b.AddBool("bool", true);
  b.AddString("str", "héllo");
  b.AddU64("u64", 1ull << 40);
  b.AddU64("u64big", ~0ull);
  b.AddRawKv("i64", 11, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  b.AddF64("f64", -0.25);
  b.AddStringArray("strs", {"a", "", "ccc"});
  b.AddI32Array("ints", {1, -2, 3});
  b.AddF32Array("floats", {0.5f, 2.0f});
  testing::ByteWriter nested;  // array of 2 arrays of u8
  nested.U32(9);
  nested.U64(2);
  for (int i = 0; i < 2; ++i) {
    nested.U32(0);
    nested.U64(1);
    nested.U8(static_cast<uint8_t>(i));
  }
  b.AddRawKv("nested", 9, nested.bytes());
  auto f = Parse(b.Build());
  ASSERT_TRUE(f.ok()) << f.status().message();
  const GgufFile& g = **f;
  EXPECT_EQ(*g.GetInt("u8"), 200);
  EXPECT_EQ(*g.GetInt("i8"), -2);
  EXPECT_EQ(*g.GetInt("u16"), 0x1234);
  EXPECT_EQ(*g.GetInt("i16"), -1);
  EXPECT_EQ(*g.GetInt("u32"), 4000000000);
  EXPECT_EQ(*g.GetInt("i32"), -7);
  EXPECT_EQ(*g.GetFloat("f32"), 1.5);
  EXPECT_TRUE(*g.GetBool("bool"));
  EXPECT_EQ(*g.GetString("str"), "héllo");
  EXPECT_EQ(*g.GetInt("u64"), int64_t{1} << 40);
  EXPECT_FALSE(g.GetInt("u64big").ok());
  EXPECT_EQ(std::get<uint64_t>(g.Find("u64big")->value), ~0ull);
  EXPECT_EQ(*g.GetInt("i64"), -1);
  EXPECT_EQ(*g.GetFloat("f64"), -0.25);
  EXPECT_EQ(*g.GetFloat("i32"), -7.0);  // integers read as floats
  EXPECT_THAT((*g.GetArray("strs"))->strings, ::testing::ElementsAre("a", "", "ccc"));
  EXPECT_THAT((*g.GetArray("ints"))->ints, ::testing::ElementsAre(1, -2, 3));
  EXPECT_THAT((*g.GetArray("floats"))->floats, ::testing::ElementsAre(0.5, 2.0));
  EXPECT_EQ((*g.GetArray("nested"))->size, 2u);
  EXPECT_EQ((*g.GetArray("nested"))->elem_type, GgufType::kArray);
  EXPECT_EQ(g.Find("strs")->ToDisplayString(), "[array of 3 string]");
}

TEST(GgufValues, TensorViewsAndAlignment) {
  GgufBuilder b;
  b.alignment = 64;
  b.AddU32("general.alignment", 64);
  std::vector<uint8_t> a(4 * 3, 0), q(34, 0);
  a[0] = 0x11;
  q[0] = 0x22;
  b.AddTensor("a", {3}, 0, a);
  b.AddTensor("q", {32}, 8, q);
  auto bytes = b.Build();
  auto f = Parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  const TensorView* t = (*f)->FindTensor("q");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->data, bytes.data() + (*f)->data_offset() + 64);
  EXPECT_EQ(t->data[0], 0x22);
  EXPECT_EQ((*f)->FindTensor("a")->data[0], 0x11);
  EXPECT_EQ(t->nbytes, 34u);
}

TEST(GgufValues, TinyLlamaOpensAsModel) {
  GgufBuilder b;
  b.AddTinyLlama();
  auto path = testing::WriteTempFile("tiny.gguf", b.Build());
  auto m = OpenModelFile(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->format(), ModelFormat::kGguf);
  EXPECT_EQ((*m)->config().n_vocab, 4);
  EXPECT_TRUE((*m)->config().tied_embeddings);
  EXPECT_NE((*m)->FindTensor("blk.0.ffn_down.weight"), nullptr);
}

// ---- hostile files

std::vector<uint8_t> SmallValidFile() {
  GgufBuilder b;
  b.AddString("general.architecture", "llama");
  b.AddStringArray("tokenizer.ggml.tokens", {"a", "bb"});
  b.AddF32Array("tokenizer.ggml.scores", {0.0f, 1.0f});
  std::vector<uint8_t> data(34, 1);
  b.AddTensor("w", {32}, 8, data);
  return b.Build();
}

TEST(GgufHostile, EveryTruncationIsAnErrorNotACrash) {
  auto bytes = SmallValidFile();
  ASSERT_TRUE(Parse(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = Parse(cut);
    EXPECT_FALSE(r.ok()) << "truncated to " << n << " bytes parsed";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << n << ": " << r.status().message();
    }
  }
}

TEST(GgufHostile, EveryByteFlipIsHandled) {
  // Not every flip is invalid (it may change a value), but none may crash or hang.
  auto bytes = SmallValidFile();
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xFF}) {
      auto mutated = bytes;
      mutated[i] ^= x;
      auto r = Parse(mutated);
      if (!r.ok()) {
        EXPECT_FALSE(r.status().message().empty());
      }
    }
  }
}

TEST(GgufHostile, WrongMagic) {
  auto bytes = SmallValidFile();
  bytes[0] = 'X';
  ExpectError(bytes, StatusCode::kDataLoss, "not a GGUF file: the magic is 'XGUF'");
  ExpectError({'G', 'G'}, StatusCode::kDataLoss, "only 2 bytes long");
}

TEST(GgufHostile, Versions) {
  GgufBuilder b;
  b.version = 1;
  ExpectError(b.Build(), StatusCode::kUnimplemented, "GGUF version 1 is not supported");
  b.version = 4;
  ExpectError(b.Build(), StatusCode::kUnimplemented, "GGUF version 4 is not supported");
  b.version = 0x03000000;
  ExpectError(b.Build(), StatusCode::kUnimplemented, "big-endian");
  b.version = 2;
  EXPECT_TRUE(Parse(b.Build()).ok());
}

TEST(GgufHostile, AbsurdCounts) {
  GgufBuilder b;
  b.n_kv_override = 1ull << 60;
  ExpectError(b.Build(), StatusCode::kDataLoss, "metadata count 1152921504606846976 cannot fit");
  GgufBuilder t;
  t.n_tensors_override = ~0ull;
  ExpectError(t.Build(), StatusCode::kDataLoss, "tensor count");
}

TEST(GgufHostile, HugeStringAndArrayLengths) {
  GgufBuilder s;
  testing::ByteWriter w;
  w.U64(1ull << 62);
  w.Raw("abc", 3);
  s.AddRawKv("k", 8, w.bytes());
  ExpectError(s.Build(), StatusCode::kDataLoss, "metadata key 'k' has length 4611686018427387904");

  GgufBuilder a;
  testing::ByteWriter aw;
  aw.U32(4);
  aw.U64(1ull << 61);
  a.AddRawKv("arr", 9, aw.bytes());
  ExpectError(a.Build(), StatusCode::kDataLoss, "cannot fit");

  GgufBuilder key;
  key.AddRawKv(std::string(70000, 'k'), 4, {0, 0, 0, 0});
  ExpectError(key.Build(), StatusCode::kDataLoss, "over the limit");
}

TEST(GgufHostile, UnknownValueTypes) {
  GgufBuilder b;
  b.AddRawKv("weird", 13, {0});
  ExpectError(b.Build(), StatusCode::kDataLoss, "metadata key 'weird': unknown value type 13");
  GgufBuilder a;
  testing::ByteWriter w;
  w.U32(99);
  w.U64(1);
  a.AddRawKv("arr", 9, w.bytes());
  ExpectError(a.Build(), StatusCode::kDataLoss, "unknown array element type 99");
  GgufBuilder bad_bool;
  bad_bool.AddRawKv("flag", 7, {2});
  ExpectError(bad_bool.Build(), StatusCode::kDataLoss, "neither 0 nor 1");
}

TEST(GgufHostile, DeeplyNestedArrays) {
  testing::ByteWriter w;
  for (int i = 0; i < 100; ++i) {
    w.U32(9);
    w.U64(1);
  }
  w.U32(0);
  w.U64(0);
  GgufBuilder b;
  // The outer array header is written by AddRawKv's caller: start the value at the
  // element type of the first nested level.
  b.AddRawKv("deep", 9, w.bytes());
  ExpectError(b.Build(), StatusCode::kDataLoss, "nested deeper than");
}

TEST(GgufHostile, DuplicateKeysAndTensors) {
  GgufBuilder b;
  b.AddU32("x", 1);
  b.AddU32("x", 2);
  ExpectError(b.Build(), StatusCode::kDataLoss, "metadata key 'x' appears twice");
  GgufBuilder t;
  t.AddTensor("w", {4}, 0, std::vector<uint8_t>(16));
  t.AddTensor("w", {4}, 0, std::vector<uint8_t>(16));
  ExpectError(t.Build(), StatusCode::kDataLoss, "tensor 'w' appears twice");
}

TEST(GgufHostile, BadTensorDims) {
  GgufBuilder zero_dims;
  zero_dims.AddTensor("w", {}, 0, {});
  ExpectError(zero_dims.Build(), StatusCode::kDataLoss, "tensor 'w': has 0 dimensions");
  GgufBuilder five;
  five.AddTensor("w", {1, 1, 1, 1, 1}, 0, std::vector<uint8_t>(4));
  ExpectError(five.Build(), StatusCode::kDataLoss, "has 5 dimensions");
  GgufBuilder zero;
  zero.AddTensor("w", {4, 0}, 0, {});
  ExpectError(zero.Build(), StatusCode::kDataLoss, "dimension 1 is 0");
  GgufBuilder overflow;
  overflow.AddTensor("w", {1ull << 32, 1ull << 32}, 0, {});
  ExpectError(overflow.Build(), StatusCode::kDataLoss, "element count overflows");
  GgufBuilder negative;
  negative.AddTensor("w", {~0ull}, 0, {});
  ExpectError(negative.Build(), StatusCode::kDataLoss, "dimension 0 is 18446744073709551615");
  GgufBuilder bytes_overflow;  // elements fit in int64 but bytes (x4) do not fit in u64
  bytes_overflow.AddTensor("w", {1ull << 31, 1ull << 31}, 0, {});
  ExpectError(bytes_overflow.Build(), StatusCode::kDataLoss, "tensor 'w'");
}

TEST(GgufHostile, UnknownTensorTypeAndPartialBlocks) {
  GgufBuilder b;
  b.AddTensor("w", {32}, 99, std::vector<uint8_t>(32));
  ExpectError(b.Build(), StatusCode::kUnimplemented, "tensor 'w': unknown tensor type id 99");
  GgufBuilder q;
  q.AddTensor("w", {33}, 8, std::vector<uint8_t>(40));
  ExpectError(q.Build(), StatusCode::kDataLoss, "not a whole number of 32-element Q8_0 blocks");
}

TEST(GgufHostile, DataPastTheEndAndMisaligned) {
  GgufBuilder past;
  past.AddTensor("w", {8}, 0, std::vector<uint8_t>(32), /*offset_override=*/1ull << 20);
  ExpectError(past.Build(), StatusCode::kDataLoss, "tensor 'w': data [1048576");
  GgufBuilder wrap;
  wrap.AddTensor("w", {8}, 0, std::vector<uint8_t>(32), /*offset_override=*/~0ull - 31);
  ExpectError(wrap.Build(), StatusCode::kDataLoss, "runs past the end");
  GgufBuilder misaligned;
  misaligned.AddTensor("w", {8}, 0, std::vector<uint8_t>(32), /*offset_override=*/4);
  ExpectError(misaligned.Build(), StatusCode::kDataLoss, "not a multiple of the alignment 32");
  GgufBuilder short_data;  // tensor info promises more than the file holds
  short_data.AddTensor("w", {8}, 0, std::vector<uint8_t>(16));
  ExpectError(short_data.Build(), StatusCode::kDataLoss, "runs past the end");
}

TEST(GgufHostile, BadAlignment) {
  GgufBuilder b;
  b.AddU32("general.alignment", 3);
  ExpectError(b.Build(), StatusCode::kDataLoss, "general.alignment = 3 is not a power of two");
  GgufBuilder s;
  s.AddString("general.alignment", "32");
  ExpectError(s.Build(), StatusCode::kDataLoss, "general.alignment");
}

TEST(GgufHostile, MissingFileAndDirectory) {
  auto r = OpenGgufFile("/nonexistent/x.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/x.gguf"));
  auto d = OpenGgufFile(kModels);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("not a regular file"));
}

}  // namespace
}  // namespace weft
