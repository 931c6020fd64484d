// Tests for base/half.h: exhaustive fp16/bf16 round trips, round-to-nearest-even at every
// midpoint between neighbouring representable values, overflow, subnormals, NaN.
#include "base/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace weft {
namespace {

bool IsFp16Nan(uint16_t h) { return (h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0; }
bool IsBf16Nan(uint16_t b) { return (b & 0x7F80u) == 0x7F80u && (b & 0x007Fu) != 0; }
float Bits(uint32_t x) { return std::bit_cast<float>(x); }

TEST(Fp16Test, KnownValues) {
  EXPECT_EQ(Fp16ToFloat(0x0000), 0.0f);
  EXPECT_FALSE(std::signbit(Fp16ToFloat(0x0000)));
  EXPECT_EQ(Fp16ToFloat(0x8000), 0.0f);
  EXPECT_TRUE(std::signbit(Fp16ToFloat(0x8000)));  // -0 keeps its sign
  EXPECT_EQ(Fp16ToFloat(0x3C00), 1.0f);
  EXPECT_EQ(Fp16ToFloat(0xC000), -2.0f);
  EXPECT_EQ(Fp16ToFloat(0x3555), 0.333251953125f);  // 2^-2 * (1 + 341/1024)
  EXPECT_EQ(Fp16ToFloat(0x7BFF), 65504.0f);         // largest finite
  EXPECT_EQ(Fp16ToFloat(0x0400), 0x1p-14f);         // smallest normal
  EXPECT_EQ(Fp16ToFloat(0x03FF), 1023.0f * 0x1p-24f);  // largest subnormal
  EXPECT_EQ(Fp16ToFloat(0x0001), 0x1p-24f);            // smallest subnormal
  EXPECT_EQ(Fp16ToFloat(0x8001), -0x1p-24f);
  EXPECT_EQ(Fp16ToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Fp16ToFloat(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Fp16ToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(Fp16ToFloat(0x7C01)));  // signalling-style payload is still NaN
}

TEST(Fp16Test, RoundTripsAllBitPatterns) {
  for (uint32_t i = 0; i < 0x10000u; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = Fp16ToFloat(h);
    const uint16_t back = FloatToFp16(f);
    if (IsFp16Nan(h)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      ASSERT_TRUE(IsFp16Nan(back)) << std::hex << i << " -> " << back;
      ASSERT_EQ(back & 0x8000u, h & 0x8000u) << std::hex << i;
    } else {
      ASSERT_EQ(back, h) << std::hex << i;
    }
  }
}

// For every pair of neighbouring finite fp16 values, the float midpoint (exact: it needs
// 12 significant bits) rounds to the even one, and the floats just either side of it
// round to the nearer one.
TEST(Fp16Test, RoundsToNearestEvenAtEveryMidpoint) {
  for (uint32_t sign : {0x0000u, 0x8000u}) {
    for (uint32_t i = 0; i < 0x7BFFu; ++i) {
      const auto lo = static_cast<uint16_t>(sign | i);
      const auto hi = static_cast<uint16_t>(sign | (i + 1));
      const float a = Fp16ToFloat(lo);
      const float b = Fp16ToFloat(hi);
      const float mid = (a + b) / 2;
      ASSERT_EQ(FloatToFp16(mid), (i & 1u) ? hi : lo) << std::hex << i;
      ASSERT_EQ(FloatToFp16(std::nextafter(mid, a)), lo) << std::hex << i;
      ASSERT_EQ(FloatToFp16(std::nextafter(mid, b)), hi) << std::hex << i;
    }
  }
}

TEST(Fp16Test, TiesAndRounding) {
  EXPECT_EQ(FloatToFp16(1.0f + 0x1p-11f), 0x3C00);        // tie, 1.0 is even
  EXPECT_EQ(FloatToFp16(1.0f + 3 * 0x1p-11f), 0x3C02);    // tie, 1 + 2^-9 is even
  EXPECT_EQ(FloatToFp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);  // just above the tie
  EXPECT_EQ(FloatToFp16(-(1.0f + 0x1p-11f)), 0xBC00);
  EXPECT_EQ(FloatToFp16(2047.0f + 0.5f), 0x67FF + 1);     // 2047.5: tie between 2047 (odd) and 2048
  EXPECT_EQ(FloatToFp16(0.1f), 0x2E66);                   // 0.0999755859375 is nearest
}

TEST(Fp16Test, OverflowsToInfinity) {
  EXPECT_EQ(FloatToFp16(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToFp16(std::nextafter(65520.0f, 0.0f)), 0x7BFF);  // below the midpoint
  EXPECT_EQ(FloatToFp16(65520.0f), 0x7C00);  // midpoint 65504|65536: ties to even = inf
  EXPECT_EQ(FloatToFp16(-65520.0f), 0xFC00);
  EXPECT_EQ(FloatToFp16(1e10f), 0x7C00);
  EXPECT_EQ(FloatToFp16(std::numeric_limits<float>::max()), 0x7C00);
  EXPECT_EQ(FloatToFp16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(FloatToFp16(-std::numeric_limits<float>::infinity()), 0xFC00);
}

TEST(Fp16Test, Subnormals) {
  EXPECT_EQ(FloatToFp16(0x1p-24f), 0x0001);
  EXPECT_EQ(FloatToFp16(0x1p-25f), 0x0000);               // 0.5 ulp: tie, 0 is even
  EXPECT_EQ(FloatToFp16(-0x1p-25f), 0x8000);              // to -0
  EXPECT_EQ(FloatToFp16(0x1p-25f + 0x1p-40f), 0x0001);    // just above the tie
  EXPECT_EQ(FloatToFp16(3 * 0x1p-25f), 0x0002);           // 1.5 ulp -> 2
  EXPECT_EQ(FloatToFp16(5 * 0x1p-25f), 0x0002);           // 2.5 ulp -> 2
  EXPECT_EQ(FloatToFp16(1023.5f * 0x1p-24f), 0x0400);     // tie at the top: to the smallest normal
  EXPECT_EQ(FloatToFp16(0x1p-14f), 0x0400);
  EXPECT_EQ(FloatToFp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FloatToFp16(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(FloatToFp16(-0.0f), 0x8000);
}

TEST(Fp16Test, NanStaysNan) {
  EXPECT_TRUE(IsFp16Nan(FloatToFp16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(IsFp16Nan(FloatToFp16(Bits(0x7F800001u))));  // payload only in low bits
  EXPECT_TRUE(IsFp16Nan(FloatToFp16(Bits(0xFFC00000u))));
  EXPECT_EQ(FloatToFp16(Bits(0xFFC00000u)) & 0x8000u, 0x8000u);
}

TEST(Bf16Test, KnownValues) {
  EXPECT_EQ(Bf16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xC040), -3.0f);
  EXPECT_EQ(Bf16ToFloat(0x4049), 3.140625f);  // 2 * (1 + 73/128)
  EXPECT_EQ(Bf16ToFloat(0x0001), 0x1p-133f);  // smallest subnormal
  EXPECT_TRUE(std::signbit(Bf16ToFloat(0x8000)));
  EXPECT_EQ(Bf16ToFloat(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Bf16ToFloat(0x7FC0)));
}

TEST(Bf16Test, RoundTripsAllBitPatterns) {
  for (uint32_t i = 0; i < 0x10000u; ++i) {
    const auto b = static_cast<uint16_t>(i);
    const float f = Bf16ToFloat(b);
    const uint16_t back = FloatToBf16(f);
    if (IsBf16Nan(b)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      ASSERT_TRUE(IsBf16Nan(back)) << std::hex << i << " -> " << back;
      ASSERT_EQ(back & 0x8000u, b & 0x8000u) << std::hex << i;
    } else {
      ASSERT_EQ(back, b) << std::hex << i;
    }
  }
}

TEST(Bf16Test, RoundsToNearestEvenAtEveryMidpoint) {
  for (uint32_t sign : {0x0000u, 0x8000u}) {
    for (uint32_t i = 0; i < 0x7F7Fu; ++i) {
      const auto lo = static_cast<uint16_t>(sign | i);
      const auto hi = static_cast<uint16_t>(sign | (i + 1));
      // The midpoint has exactly one more significant bit than bf16: bit 15 of the float.
      const float mid = Bits((static_cast<uint32_t>(lo) << 16) | 0x8000u);
      const float a = Bf16ToFloat(lo);
      const float b = Bf16ToFloat(hi);
      ASSERT_EQ(FloatToBf16(mid), (i & 1u) ? hi : lo) << std::hex << i;
      ASSERT_EQ(FloatToBf16(std::nextafter(mid, a)), lo) << std::hex << i;
      ASSERT_EQ(FloatToBf16(std::nextafter(mid, b)), hi) << std::hex << i;
    }
  }
}

TEST(Bf16Test, TiesOverflowAndNan) {
  EXPECT_EQ(FloatToBf16(1.0f + 0x1p-8f), 0x3F80);                // tie, 1.0 is even
  EXPECT_EQ(FloatToBf16(1.0f + 3 * 0x1p-8f), 0x3F82);            // tie, 1 + 2^-6 is even
  EXPECT_EQ(FloatToBf16(1.0f + 0x1p-8f + 0x1p-23f), 0x3F81);     // just above the tie
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds up past 0x7F7F
  EXPECT_EQ(FloatToBf16(Bf16ToFloat(0x7F7F)), 0x7F7F);
  EXPECT_EQ(FloatToBf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(FloatToBf16(-0.0f), 0x8000);
  EXPECT_EQ(FloatToBf16(0x1p-133f), 0x0001);
  EXPECT_TRUE(IsBf16Nan(FloatToBf16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(IsBf16Nan(FloatToBf16(Bits(0x7F800001u))));  // would truncate to inf
  EXPECT_TRUE(IsBf16Nan(FloatToBf16(Bits(0x7FFFFFFFu))));  // would round up into the sign bit
  EXPECT_EQ(FloatToBf16(Bits(0xFF800001u)) & 0x8000u, 0x8000u);
}

}  // namespace
}  // namespace weft
