#include "loader/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "base/mapped_file.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

const std::string kStoriesSafetensors = std::string(WEFT_SHARED_DIR) + "/models/stories260K/hf/model.safetensors";

// u64 LE header length (or `len_override`) + header + data.
std::vector<uint8_t> Build(const std::string& header, const std::vector<uint8_t>& data = {},
                           std::optional<uint64_t> len_override = std::nullopt) {
  std::vector<uint8_t> out(8);
  uint64_t len = len_override.value_or(header.size());
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(len >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

StatusOr<std::shared_ptr<const SafetensorsFile>> Parse(const std::vector<uint8_t>& bytes) {
  return ParseSafetensorsBuffer(nullptr, bytes, "test.safetensors");
}

// Parses and expects an error with `code` whose message contains every one of `parts`.
void ExpectError(const std::vector<uint8_t>& bytes, StatusCode code, std::vector<std::string> parts) {
  auto r = Parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find("test.safetensors"), std::string::npos) << r.status().ToString();
  for (const std::string& p : parts) {
    EXPECT_NE(r.status().message().find(p), std::string::npos) << "'" << p << "' not in: " << r.status().ToString();
  }
}

// One F32 tensor "w" with the given JSON fields.
std::vector<uint8_t> OneTensor(const std::string& fields, size_t data_bytes) {
  return Build(R"({"w": {)" + fields + "}}", std::vector<uint8_t>(data_bytes, 0));
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("weft_safetensors_test_" + std::to_string(::getpid()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::vector<uint8_t>& bytes) const {
    const fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }

 private:
  fs::path path_;
};

TEST(SafetensorsTest, ParsesRealFile) {
  auto r = OpenSafetensorsFile(kStoriesSafetensors);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SafetensorsFile& f = **r;
  EXPECT_EQ(f.tensors().size(), 47u);  // embed + final norm + 5 layers x 9
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorView* embed = f.Find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->type, DType::kF32);
  EXPECT_EQ(embed->n_dims, 2);
  EXPECT_EQ(embed->ne[0], 64);  // HF [512, 64] reversed
  EXPECT_EQ(embed->ne[1], 512);
  EXPECT_EQ(embed->nbytes, 512u * 64u * 4u);
  const TensorView* k = f.Find("model.layers.0.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->ShapeString(), "[64, 32]");
  const TensorView* norm = f.Find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->ShapeString(), "[64]");
  // Views are in data order and point into the file, zero-copy.
  for (size_t i = 1; i < f.tensors().size(); ++i) EXPECT_LT(f.tensors()[i - 1].data, f.tensors()[i].data);
  EXPECT_EQ(f.tensors().back().data + f.tensors().back().nbytes - f.tensors().front().data,
            static_cast<ptrdiff_t>(f.file_size() - f.data_offset()));
  EXPECT_EQ(f.Find("nope"), nullptr);
}

TEST(SafetensorsTest, ParsesTypesScalarsAndEmptyTensors) {
  const std::string header = R"({"__metadata__": {"a": "b"},
    "h": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]},
    "b": {"dtype": "BF16", "shape": [], "data_offsets": [12, 14]},
    "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [14, 14]},
    "i": {"dtype": "I32", "shape": [1, 1, 1, 2], "data_offsets": [14, 22]}})";
  auto r = Parse(Build(header, std::vector<uint8_t>(22, 0)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SafetensorsFile& f = **r;
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.Find("h")->type, DType::kF16);
  EXPECT_EQ(f.Find("h")->ShapeString(), "[3, 2]");
  EXPECT_EQ(f.Find("b")->type, DType::kBF16);
  EXPECT_EQ(f.Find("b")->n_dims, 0);
  EXPECT_EQ(f.Find("b")->NumElements(), 1);
  EXPECT_EQ(f.Find("e")->NumElements(), 0);
  EXPECT_EQ(f.Find("i")->type, DType::kI32);
  EXPECT_EQ(f.Find("i")->n_dims, 4);
  EXPECT_EQ(f.metadata().at("a"), "b");
}

TEST(SafetensorsTest, FileErrors) {
  TempDir dir;
  auto missing = OpenSafetensorsFile(dir.Write("x", {}) + ".missing");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto empty = OpenSafetensorsFile(dir.Write("empty.safetensors", {}));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(empty.status().message().find("empty.safetensors"), std::string::npos);
  // The real file cut inside its header, and inside its data.
  auto real = ReadFileToString(kStoriesSafetensors);
  ASSERT_TRUE(real.ok());
  std::vector<uint8_t> bytes(real->begin(), real->end());
  auto cut_header = OpenSafetensorsFile(dir.Write("h.safetensors", {bytes.begin(), bytes.begin() + 100}));
  ASSERT_FALSE(cut_header.ok());
  EXPECT_NE(cut_header.status().message().find("runs past the end of the file"), std::string::npos);
  auto cut_data = OpenSafetensorsFile(dir.Write("d.safetensors", {bytes.begin(), bytes.end() - 4}));
  ASSERT_FALSE(cut_data.ok());
  EXPECT_EQ(cut_data.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(cut_data.status().message().find("model.norm.weight"), std::string::npos) << cut_data.status().ToString();
}

TEST(SafetensorsTest, HeaderLengthErrors) {
  ExpectError({1, 2, 3}, StatusCode::kDataLoss, {"too short"});
  ExpectError(Build("{}", {}, 1000), StatusCode::kDataLoss, {"header length 1000", "past the end"});
  ExpectError(Build("{}", {}, ~uint64_t{0}), StatusCode::kDataLoss, {"past the end"});
  ExpectError(Build("{", {}), StatusCode::kDataLoss, {"too short"});
}

TEST(SafetensorsTest, JsonErrors) {
  ExpectError(Build("{not json"), StatusCode::kDataLoss, {"not valid JSON"});
  ExpectError(Build("[1, 2]"), StatusCode::kDataLoss, {"not an object"});
  ExpectError(Build(R"({"w": 5})"), StatusCode::kDataLoss, {"'w'", "not an object"});
  ExpectError(Build(R"({"__metadata__": [1]})"), StatusCode::kDataLoss, {"__metadata__"});
  ExpectError(Build(R"({"__metadata__": {"k": 1}})"), StatusCode::kDataLoss, {"__metadata__", "'k'"});
  // Trailing garbage after the object is not JSON either.
  ExpectError(Build(R"({} x)"), StatusCode::kDataLoss, {"not valid JSON"});
}

TEST(SafetensorsTest, DtypeErrors) {
  ExpectError(OneTensor(R"("shape": [1], "data_offsets": [0, 4])", 4), StatusCode::kDataLoss, {"'w'", "'dtype'", "missing"});
  ExpectError(OneTensor(R"("dtype": 7, "shape": [1], "data_offsets": [0, 4])", 4), StatusCode::kDataLoss,
              {"'w'", "'dtype'", "number"});
  ExpectError(OneTensor(R"("dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1])", 1), StatusCode::kUnimplemented,
              {"'w'", "F8_E4M3"});
  ExpectError(OneTensor(R"("dtype": "BOOL", "shape": [1], "data_offsets": [0, 1])", 1), StatusCode::kUnimplemented,
              {"BOOL"});
}

TEST(SafetensorsTest, ShapeErrors) {
  ExpectError(OneTensor(R"("dtype": "F32", "data_offsets": [0, 4])", 4), StatusCode::kDataLoss, {"'shape'", "missing"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": 4, "data_offsets": [0, 4])", 4), StatusCode::kDataLoss,
              {"'shape'", "not an array"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [-1], "data_offsets": [0, 4])", 4), StatusCode::kDataLoss,
              {"'w'", "'shape'", "negative"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1.5], "data_offsets": [0, 4])", 4), StatusCode::kDataLoss,
              {"'shape'", "not an integer"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": ["1"], "data_offsets": [0, 4])", 4), StatusCode::kDataLoss,
              {"'shape'", "not an integer"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1, 1, 1, 1, 1], "data_offsets": [0, 4])", 4),
              StatusCode::kUnimplemented, {"'w'", "5 dimensions"});
  // Element count overflows int64 / uint64; byte count overflows.
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4])", 4),
              StatusCode::kDataLoss, {"'shape'", "overflow"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 4])", 4),
              StatusCode::kDataLoss, {"'shape'", "overflow"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [4611686018427387904, 1], "data_offsets": [0, 4])", 4),
              StatusCode::kDataLoss, {"'shape'", "overflow"});
}

TEST(SafetensorsTest, DataOffsetErrors) {
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1])", 4), StatusCode::kDataLoss, {"'data_offsets'", "missing"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1], "data_offsets": [0])", 4), StatusCode::kDataLoss,
              {"'data_offsets'", "2 integers"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1], "data_offsets": {"a": 1})", 4), StatusCode::kDataLoss,
              {"'data_offsets'", "2 integers"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1], "data_offsets": [-4, 0])", 4), StatusCode::kDataLoss,
              {"'data_offsets'", "negative"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1], "data_offsets": [4, 0])", 4), StatusCode::kDataLoss,
              {"'data_offsets'", "begin after end"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1], "data_offsets": [0, 8])", 4), StatusCode::kDataLoss,
              {"'w'", "'data_offsets'", "past the end of the data section (4 bytes)"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551615])", 4),
              StatusCode::kDataLoss, {"past the end"});
  ExpectError(OneTensor(R"("dtype": "F32", "shape": [2], "data_offsets": [0, 4])", 4), StatusCode::kDataLoss,
              {"'w'", "'data_offsets'", "holds 4 bytes", "needs 8"});
}

// Every prefix of the real file is an error (the last tensor ends at the end of the
// file), and random corruption of the header never crashes.
TEST(SafetensorsTest, TruncationsAndCorruptionNeverCrash) {
  auto real = ReadFileToString(kStoriesSafetensors);
  ASSERT_TRUE(real.ok());
  const std::vector<uint8_t> bytes(real->begin(), real->end());
  for (size_t n = 0; n < bytes.size(); n += (n < 5000 ? 13 : 4099)) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_FALSE(Parse(prefix).ok()) << n;
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  std::mt19937 rng(42);
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<uint8_t> mutated(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(8 + header_len + 64));
    for (int k = 0; k < 1 + iter % 4; ++k) {
      const size_t pos = std::uniform_int_distribution<size_t>(0, 8 + header_len - 1)(rng);
      mutated[pos] = static_cast<uint8_t>(std::uniform_int_distribution<int>(0, 255)(rng));
    }
    auto r = Parse(mutated);  // any outcome but a crash
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

}  // namespace
}  // namespace weft
