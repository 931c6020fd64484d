// Llama 3.1 rope scaling: the per-pair divisors computed from the config, and the
// rope_freqs.weight tensor of a GGUF file bound in their place.
#include "loader/rope_freq_factors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>

#include "model/llama_weights.h"
#include "support/gguf_builder.h"

namespace weft {
namespace {

RopeScaling Llama31Scaling() {  // the values of Llama 3.1's config.json
  RopeScaling s;
  s.type = RopeScalingType::kLlama3;
  s.factor = 8.0f;
  s.llama3_low_freq_factor = 1.0f;
  s.llama3_high_freq_factor = 4.0f;
  s.original_context = 8192;
  return s;
}

TEST(RopeFreqFactorsTest, Llama3KeepsFastPairsSlowsSlowOnesAndBlendsBetween) {
  const int rope_dim = 128;
  const float theta = 500000.0f;
  const auto f = Llama3RopeFreqFactors(Llama31Scaling(), rope_dim, theta);
  ASSERT_EQ(f.size(), 64u);
  int kept = 0, slowed = 0, blended = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const double wavelength = 2 * std::numbers::pi * std::pow(theta, 2.0 * static_cast<double>(i) / rope_dim);
    if (wavelength < 8192.0 / 4) {
      EXPECT_EQ(f[i], 1.0f) << i;
      ++kept;
    } else if (wavelength > 8192.0 / 1) {
      EXPECT_EQ(f[i], 8.0f) << i;
      ++slowed;
    } else {
      // The frequency is a convex mix of the original and the slowed one, weighted by
      // how many original contexts the wavelength fits: (8192 / wavelength - 1) / 3.
      const double smooth = (8192.0 / wavelength - 1.0) / 3.0;
      EXPECT_NEAR(1.0 / f[i], smooth + (1.0 - smooth) / 8.0, 1e-6) << i;
      EXPECT_GT(f[i], 1.0f);
      EXPECT_LT(f[i], 8.0f);
      ++blended;
    }
    if (i > 0) {
      EXPECT_GE(f[i], f[i - 1]) << "slower pairs are never slowed less";
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(slowed, 0);
  EXPECT_GT(blended, 0);
}

std::vector<uint8_t> FloatBytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

StatusOr<std::shared_ptr<const LlamaWeights>> BindTiny(const std::string& name, const std::vector<float>* rope_freqs) {
  testing::GgufBuilder b;
  b.AddTinyLlama();  // head_dim 4: two rotated pairs
  if (rope_freqs != nullptr) b.AddTensor("rope_freqs.weight", {rope_freqs->size()}, 0, FloatBytes(*rope_freqs));
  auto file = OpenGgufModel(testing::WriteTempFile(name, b.Build()));
  if (!file.ok()) return file.status();
  return LlamaWeights::Bind(*file);
}

TEST(RopeFreqFactorsTest, GgufRopeFreqsTensorIsBound) {
  const std::vector<float> freqs = {1.5f, 8.0f};
  auto w = BindTiny("rope_freqs.gguf", &freqs);
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_NE((*w)->rope_freq_factors(), nullptr);
  EXPECT_EQ((*w)->rope_freq_factors()[0], 1.5f);
  EXPECT_EQ((*w)->rope_freq_factors()[1], 8.0f);

  auto plain = BindTiny("no_rope_freqs.gguf", nullptr);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ((*plain)->rope_freq_factors(), nullptr);
}

TEST(RopeFreqFactorsTest, RopeFreqsOfTheWrongLengthIsRefused) {
  const std::vector<float> freqs = {1.0f, 2.0f, 4.0f};
  auto w = BindTiny("rope_freqs_bad.gguf", &freqs);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("rope_freqs.weight"), std::string::npos) << w.status().message();
}

}  // namespace
}  // namespace weft
