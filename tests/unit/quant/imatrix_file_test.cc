// quant/imatrix_file.h: the llama.cpp imatrix format round-trips, Weights divides by the
// call count, and malformed files are refused. Compatibility with llama-imatrix's own
// files is tested on real output by tests/cli/quantize_imatrix.sh.
#include "quant/imatrix_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace weft::quant {
namespace {

std::string TempPath(const char* name) { return ::testing::TempDir() + name; }

TEST(ImatrixFileTest, RoundTripsEntriesChunksAndDataset) {
  Imatrix m;
  m.entries["blk.0.attn_q.weight"] = {3, {3.0f, 6.0f, 0.5f, 9.0f}};
  m.entries["blk.0.ffn_up_exps.weight"] = {2, std::vector<float>(2 * 4096, 1.25f)};
  m.chunks = 7;
  m.dataset = "calib.txt";
  const std::string path = TempPath("rt.imatrix");
  ASSERT_TRUE(WriteImatrix(m, path).ok());
  auto r = ReadImatrix(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->chunks, 7);
  EXPECT_EQ(r->dataset, "calib.txt");
  ASSERT_EQ(r->entries.size(), 2u);
  EXPECT_EQ(r->entries.at("blk.0.attn_q.weight").ncall, 3);
  EXPECT_EQ(r->entries.at("blk.0.attn_q.weight").values, m.entries["blk.0.attn_q.weight"].values);
  EXPECT_EQ(r->entries.at("blk.0.ffn_up_exps.weight").values.size(), 2u * 4096);
  // llama-quantize's weights: values / ncall.
  const std::vector<float> w = r->Weights("blk.0.attn_q.weight");
  ASSERT_EQ(w.size(), 4u);
  EXPECT_FLOAT_EQ(w[0], 1.0f);
  EXPECT_FLOAT_EQ(w[3], 3.0f);
  EXPECT_TRUE(r->Weights("output.weight").empty());
  std::remove(path.c_str());
}

TEST(ImatrixFileTest, RefusesTruncatedAndEmptyFiles) {
  Imatrix m;
  m.entries["blk.0.attn_k.weight"] = {1, std::vector<float>(64, 2.0f)};
  const std::string path = TempPath("trunc.imatrix");
  ASSERT_TRUE(WriteImatrix(m, path).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 8 - 100));  // cut into the values
  }
  EXPECT_FALSE(ReadImatrix(path).ok());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const int32_t zero = 0;
    out.write(reinterpret_cast<const char*>(&zero), 4);
  }
  EXPECT_FALSE(ReadImatrix(path).ok());
  EXPECT_FALSE(ReadImatrix(TempPath("does-not-exist.imatrix")).ok());
  std::remove(path.c_str());
}

// Files without the trailer (older llama-imatrix) still read.
TEST(ImatrixFileTest, TrailerIsOptional) {
  const std::string path = TempPath("old.imatrix");
  {
    std::ofstream out(path, std::ios::binary);
    auto put = [&](int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
    put(1);
    put(5);
    out.write("abcde", 5);
    put(2);
    put(2);
    const float v[2] = {4.0f, 8.0f};
    out.write(reinterpret_cast<const char*>(v), sizeof(v));
  }
  auto r = ReadImatrix(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->chunks, 0);
  EXPECT_EQ(r->Weights("abcde"), (std::vector<float>{2.0f, 4.0f}));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace weft::quant
