// Tests for DequantizeRow (tensor/dequantize.cc). Every block here is built byte by byte
// and every expected value is worked out by hand from the ggml block definitions (the
// arithmetic is in the comments); all chosen values are exact in float, so comparisons
// are exact. fp16 constants are written as bits: 0x3C00 = 1, 0x3800 = 0.5,
// 0x3400 = 0.25, 0x4000 = 2, 0xBC00 = -1, 0xB800 = -0.5, 0xC000 = -2.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tensor/dtype.h"

namespace weft {
namespace {

using Bytes = std::vector<uint8_t>;

void PutU16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v & 0xFF);
  b[off + 1] = static_cast<uint8_t>(v >> 8);
}

void PutU32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Dequantises `blocks` (whole blocks of `type`, checked) and returns the floats.
std::vector<float> Deq(DType type, const Bytes& blocks) {
  const DTypeInfo& info = GetDTypeInfo(type);
  EXPECT_EQ(blocks.size() % static_cast<size_t>(info.block_bytes), 0u);
  const int64_t n = static_cast<int64_t>(blocks.size() / info.block_bytes) * info.block_size;
  std::vector<float> out(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN());
  DequantizeRow(type, blocks.data(), out.data(), n);
  return out;
}

void ExpectAt(const std::vector<float>& out, std::initializer_list<std::pair<int, float>> expected) {
  for (const auto& [index, value] : expected) {
    ASSERT_LT(static_cast<size_t>(index), out.size());
    EXPECT_EQ(out[index], value) << "element " << index;
  }
}

Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes r = a;
  r.insert(r.end(), b.begin(), b.end());
  return r;
}

// ---- plain types ------------------------------------------------------------------------

TEST(DequantizeTest, F32) {
  const float in[] = {1.5f, -0.0f, std::numeric_limits<float>::infinity(), -3.25e-40f /* subnormal */};
  Bytes b(sizeof(in));
  std::memcpy(b.data(), in, sizeof(in));
  const auto out = Deq(DType::kF32, b);
  ExpectAt(out, {{0, 1.5f}, {2, std::numeric_limits<float>::infinity()}, {3, -3.25e-40f}});
  EXPECT_TRUE(std::signbit(out[1]));
}

TEST(DequantizeTest, F16) {
  Bytes b(2 * 10);
  const uint16_t bits[] = {
      0x3C00,  // 1
      0xC000,  // -2
      0x0001,  // smallest subnormal: 1 * 2^-24
      0x03FF,  // largest subnormal: 1023 * 2^-24
      0x8000,  // -0
      0x7C00,  // inf
      0xFC00,  // -inf
      0x7E00,  // NaN
      0x7BFF,  // 65504: (1 + 1023/1024) * 2^15
      0x3555,  // (1 + 341/1024) * 2^-2 = 0.333251953125
  };
  for (int i = 0; i < 10; ++i) PutU16(b, 2 * i, bits[i]);
  const auto out = Deq(DType::kF16, b);
  ExpectAt(out, {{0, 1.0f},
                 {1, -2.0f},
                 {2, 0x1p-24f},
                 {3, 1023 * 0x1p-24f},
                 {4, 0.0f},
                 {5, std::numeric_limits<float>::infinity()},
                 {6, -std::numeric_limits<float>::infinity()},
                 {8, 65504.0f},
                 {9, 0.333251953125f}});
  EXPECT_TRUE(std::signbit(out[4]));
  EXPECT_TRUE(std::isnan(out[7]));
}

TEST(DequantizeTest, Bf16) {
  Bytes b(2 * 8);
  const uint16_t bits[] = {
      0x3F80,  // 1
      0xC040,  // -(1 + 64/128) * 2^1 = -3
      0x0001,  // smallest subnormal: 2^-133
      0x8000,  // -0
      0x7F80,  // inf
      0xFF80,  // -inf
      0x7FC0,  // NaN
      0x4049,  // (1 + 73/128) * 2 = 3.140625
  };
  for (int i = 0; i < 8; ++i) PutU16(b, 2 * i, bits[i]);
  const auto out = Deq(DType::kBF16, b);
  ExpectAt(out, {{0, 1.0f},
                 {1, -3.0f},
                 {2, 0x1p-133f},
                 {3, 0.0f},
                 {4, std::numeric_limits<float>::infinity()},
                 {5, -std::numeric_limits<float>::infinity()},
                 {7, 3.140625f}});
  EXPECT_TRUE(std::signbit(out[3]));
  EXPECT_TRUE(std::isnan(out[6]));
}

TEST(DequantizeTest, F64) {
  const double in[] = {1.5, -2.25, 1e300, 0.1};
  Bytes b(sizeof(in));
  std::memcpy(b.data(), in, sizeof(in));
  // 1e300 overflows float -> inf; 0.1 rounds to the float nearest 0.1.
  ExpectAt(Deq(DType::kF64, b), {{0, 1.5f}, {1, -2.25f}, {2, std::numeric_limits<float>::infinity()}, {3, 0.1f}});
}

TEST(DequantizeTest, Integers) {
  const int8_t i8[] = {-128, 127, 0, -1};
  Bytes b8(sizeof(i8));
  std::memcpy(b8.data(), i8, sizeof(i8));
  ExpectAt(Deq(DType::kI8, b8), {{0, -128.0f}, {1, 127.0f}, {2, 0.0f}, {3, -1.0f}});

  const int16_t i16[] = {-32768, 32767, 1234};
  Bytes b16(sizeof(i16));
  std::memcpy(b16.data(), i16, sizeof(i16));
  ExpectAt(Deq(DType::kI16, b16), {{0, -32768.0f}, {1, 32767.0f}, {2, 1234.0f}});

  const int32_t i32[] = {std::numeric_limits<int32_t>::min(), 16777217, 123};
  Bytes b32(sizeof(i32));
  std::memcpy(b32.data(), i32, sizeof(i32));
  // 2^24 + 1 is a tie between 2^24 and 2^24 + 2: rounds to the even 2^24.
  ExpectAt(Deq(DType::kI32, b32), {{0, -2147483648.0f}, {1, 16777216.0f}, {2, 123.0f}});
}

// ---- legacy quants ----------------------------------------------------------------------

// qs[j] = j | (15 - j) << 4: element j has nibble j, element 16 + j has nibble 15 - j.
void FillRampNibbles(Bytes& b, size_t off) {
  for (int j = 0; j < 16; ++j) b[off + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
}

TEST(DequantizeTest, Q4_0) {
  Bytes b(18);
  PutU16(b, 0, 0x3800);  // d = 0.5
  FillRampNibbles(b, 2);
  const auto out = Deq(DType::kQ4_0, b);
  // Element j < 16: (j - 8) * 0.5; element 16 + j: (15 - j - 8) * 0.5.
  const float expected[32] = {-4.0f, -3.5f, -3.0f, -2.5f, -2.0f, -1.5f, -1.0f, -0.5f,  //
                              0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  2.5f,  3.0f,  3.5f,   //
                              3.5f,  3.0f,  2.5f,  2.0f,  1.5f,  1.0f,  0.5f,  0.0f,   //
                              -0.5f, -1.0f, -1.5f, -2.0f, -2.5f, -3.0f, -3.5f, -4.0f};
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], expected[j]) << j;
}

TEST(DequantizeTest, IQ4_NL) {
  Bytes b(18);
  PutU16(b, 0, 0xB800);  // d = -0.5
  FillRampNibbles(b, 2);
  const auto out = Deq(DType::kIQ4_NL, b);
  // The GGUF codebook, by index; element j < 16 has index j, element 16 + j index 15 - j.
  const float levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], -0.5f * levels[j]) << j;
    EXPECT_EQ(out[16 + j], -0.5f * levels[15 - j]) << j;
  }
}

TEST(DequantizeTest, Q4_0MultiBlockNegativeScale) {
  Bytes first(18);
  PutU16(first, 0, 0x3800);  // d = 0.5
  FillRampNibbles(first, 2);
  Bytes second(18);
  PutU16(second, 0, 0xC000);  // d = -2
  for (int j = 0; j < 16; ++j) second[2 + j] = 0x1F;  // low nibble 15, high nibble 1
  const auto out = Deq(DType::kQ4_0, Concat(first, second));
  ASSERT_EQ(out.size(), 64u);
  ExpectAt(out, {{0, -4.0f},    // block 0: (0 - 8) * 0.5
                 {31, -4.0f},   // block 0: (0 - 8) * 0.5
                 {32, -14.0f},  // block 1: (15 - 8) * -2
                 {47, -14.0f},
                 {48, 14.0f},  // block 1: (1 - 8) * -2
                 {63, 14.0f}});
}

TEST(DequantizeTest, Q4_1) {
  Bytes b(20);
  PutU16(b, 0, 0x3400);  // d = 0.25
  PutU16(b, 2, 0xBC00);  // m = -1
  FillRampNibbles(b, 4);
  ExpectAt(Deq(DType::kQ4_1, b), {{0, -1.0f},    // 0 * 0.25 - 1
                                  {4, 0.0f},     // 4 * 0.25 - 1
                                  {15, 2.75f},   // 15 * 0.25 - 1
                                  {16, 2.75f},   // high nibble of qs[0] = 15
                                  {20, 1.75f},   // high nibble of qs[4] = 11: 2.75 - 1
                                  {31, -1.0f}});  // high nibble of qs[15] = 0
}

TEST(DequantizeTest, Q5_0) {
  Bytes b(22);
  PutU16(b, 0, 0x4000);      // d = 2
  PutU32(b, 2, 0x80010003);  // fifth bits set for elements 0, 1, 16, 31
  FillRampNibbles(b, 6);
  ExpectAt(Deq(DType::kQ5_0, b), {{0, 0.0f},     // (0 | 16) - 16 = 0
                                  {1, 2.0f},     // (1 | 16) - 16 = 1 -> 2
                                  {2, -28.0f},   // 2 - 16 = -14 -> -28
                                  {15, -2.0f},   // 15 - 16 = -1 -> -2
                                  {16, 30.0f},   // (15 | 16) - 16 = 15 -> 30
                                  {17, -4.0f},   // 14 - 16 = -2 -> -4
                                  {30, -30.0f},  // 1 - 16 = -15 -> -30
                                  {31, 0.0f}});  // (0 | 16) - 16 = 0
}

TEST(DequantizeTest, Q5_1) {
  Bytes b(24);
  PutU16(b, 0, 0x3800);      // d = 0.5
  PutU16(b, 2, 0x3C00);      // m = 1
  PutU32(b, 4, 0xFFFF0004);  // fifth bits for element 2 and elements 16..31
  FillRampNibbles(b, 8);
  ExpectAt(Deq(DType::kQ5_1, b), {{0, 1.0f},     // 0 * 0.5 + 1
                                  {2, 10.0f},    // (2 | 16) = 18 -> 9 + 1
                                  {5, 3.5f},     // 5 * 0.5 + 1
                                  {15, 8.5f},    // 15 * 0.5 + 1
                                  {16, 16.5f},   // (15 | 16) = 31 -> 15.5 + 1
                                  {21, 14.0f},   // (10 | 16) = 26 -> 13 + 1
                                  {31, 9.0f}});  // (0 | 16) = 16 -> 8 + 1
}

TEST(DequantizeTest, Q8_0) {
  Bytes b(34);
  PutU16(b, 0, 0x3400);  // d = 0.25
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(-128 + 8 * j));
  b[2 + 1] = static_cast<uint8_t>(int8_t{127});
  b[2 + 2] = static_cast<uint8_t>(int8_t{-1});
  ExpectAt(Deq(DType::kQ8_0, b), {{0, -32.0f},    // -128 * 0.25
                                  {1, 31.75f},    // 127 * 0.25
                                  {2, -0.25f},    // -1 * 0.25
                                  {15, -2.0f},    // -8 * 0.25
                                  {16, 0.0f},     // 0
                                  {17, 2.0f},     // 8 * 0.25
                                  {31, 30.0f}});  // 120 * 0.25
}

TEST(DequantizeTest, Q8_1IgnoresSum) {
  Bytes b(36);
  PutU16(b, 0, 0xB800);  // d = -0.5
  PutU16(b, 2, 0x7C00);  // s = inf: only for dot products, must not leak in
  for (int j = 0; j < 32; ++j) b[4 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  ExpectAt(Deq(DType::kQ8_1, b), {{0, 8.0f},      // -16 * -0.5
                                  {15, 0.5f},     // -1 * -0.5
                                  {16, 0.0f},     // 0
                                  {31, -7.5f}});  // 15 * -0.5
}

// ---- K-quants ---------------------------------------------------------------------------

// Q2_K / Q3_K 2-bit planes: in half h, plane p of qs[32h + l] holds (l + p + h) & 3.
void FillTwoBitPlanes(Bytes& b, size_t off) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      int byte = 0;
      for (int p = 0; p < 4; ++p) byte |= ((l + p + h) & 3) << (2 * p);
      b[off + 32 * h + l] = static_cast<uint8_t>(byte);
    }
  }
}

// Element e = 128h + 32p + l is in sub-block 8h + 2p + l/16.
TEST(DequantizeTest, Q2_K) {
  Bytes b(84);
  // scales[s] = min << 4 | scale with scale = s % 15 + 1, min = 15 - s.
  for (int s = 0; s < 16; ++s) b[s] = static_cast<uint8_t>(((15 - s) << 4) | (s % 15 + 1));
  FillTwoBitPlanes(b, 16);
  PutU16(b, 80, 0x3800);  // d = 0.5
  PutU16(b, 82, 0x3400);  // dmin = 0.25
  // value = 0.5 * scale * q - 0.25 * min
  ExpectAt(Deq(DType::kQ2_K, b), {
                                     {1, -3.25f},    // s0  h0 p0 l1:  q1, sc1,  m15: 0.5 - 3.75
                                     {17, -2.5f},    // s1  h0 p0 l17: q1, sc2,  m14: 1 - 3.5
                                     {33, -0.25f},   // s2  h0 p1 l1:  q2, sc3,  m13: 3 - 3.25
                                     {49, 1.0f},     // s3  h0 p1 l17: q2, sc4,  m12: 4 - 3
                                     {65, 4.75f},    // s4  h0 p2 l1:  q3, sc5,  m11: 7.5 - 2.75
                                     {81, 6.5f},     // s5  h0 p2 l17: q3, sc6,  m10: 9 - 2.5
                                     {97, -2.25f},   // s6  h0 p3 l1:  q0, sc7,  m9:  0 - 2.25
                                     {113, -2.0f},   // s7  h0 p3 l17: q0, sc8,  m8:  0 - 2
                                     {129, 7.25f},   // s8  h1 p0 l1:  q2, sc9,  m7:  9 - 1.75
                                     {145, 8.5f},    // s9  h1 p0 l17: q2, sc10, m6:  10 - 1.5
                                     {161, 15.25f},  // s10 h1 p1 l1:  q3, sc11, m5:  16.5 - 1.25
                                     {177, 17.0f},   // s11 h1 p1 l17: q3, sc12, m4:  18 - 1
                                     {193, -0.75f},  // s12 h1 p2 l1:  q0, sc13, m3:  0 - 0.75
                                     {209, -0.5f},   // s13 h1 p2 l17: q0, sc14, m2:  0 - 0.5
                                     {225, 7.25f},   // s14 h1 p3 l1:  q1, sc15, m1:  7.5 - 0.25
                                     {241, 0.5f},    // s15 h1 p3 l17: q1, sc1,  m0:  0.5 - 0
                                     {0, -3.75f},    // s0  h0 p0 l0:  q0: 0 - 3.75
                                     {127, 6.0f},    // s7  h0 p3 l31: q2, sc8, m8: 8 - 2
                                     {130, 11.75f},  // s8  h1 p0 l2:  q3, sc9, m7: 13.5 - 1.75
                                     {255, 1.5f},    // s15 h1 p3 l31: q3, sc1, m0: 1.5
                                 });
}

TEST(DequantizeTest, Q3_K) {
  Bytes b(110);
  // hmask: bit 4h + p of hmask[l] is the third bit; 0x69 for l < 16, 0x96 for l >= 16.
  for (int l = 0; l < 32; ++l) b[l] = l < 16 ? 0x69 : 0x96;
  FillTwoBitPlanes(b, 32);
  // Six-bit scales S[i] = (7i + 3) % 64 = 3 10 17 24 31 38 45 52 59 2 9 16 23 30 37 44;
  // used as S - 32 = -29 -22 -15 -8 -1 6 13 20 27 -30 -23 -16 -9 -2 5 12.
  // Bytes 0-7: low nibble = low 4 bits of S[k], high nibble = low 4 bits of S[k + 8].
  // Bytes 8-11: bits 2g..2g+1 of byte 8 + k = bits 4-5 of S[k + 4g].
  const uint8_t scales[12] = {
      0xB3,  // S0 = 0x03 (low 3), S8 = 59 = 0b111011 (low 0xB)
      0x2A,  // S1 = 10 (low 0xA), S9 = 2
      0x91,  // S2 = 17 = 0b010001 (low 1), S10 = 9
      0x08,  // S3 = 24 = 0b011000 (low 8), S11 = 16 (low 0)
      0x7F,  // S4 = 31 (low 0xF), S12 = 23 = 0b010111 (low 7)
      0xE6,  // S5 = 38 = 0b100110 (low 6), S13 = 30 (low 0xE)
      0x5D,  // S6 = 45 = 0b101101 (low 0xD), S14 = 37 = 0b100101 (low 5)
      0xC4,  // S7 = 52 = 0b110100 (low 4), S15 = 44 = 0b101100 (low 0xC)
      0x74,  // high bits of S0=0, S4=1, S8=3, S12=1: 0 | 1<<2 | 3<<4 | 1<<6
      0x48,  // S1=0, S5=2, S9=0, S13=1: 2<<2 | 1<<6
      0x89,  // S2=1, S6=2, S10=0, S14=2: 1 | 2<<2 | 2<<6
      0x9D,  // S3=1, S7=3, S11=1, S15=2: 1 | 3<<2 | 1<<4 | 2<<6
  };
  std::memcpy(b.data() + 96, scales, 12);
  PutU16(b, 108, 0x3800);  // d = 0.5
  // value = 0.5 * (S - 32) * (low2 - (hbit ? 0 : 4)); low2 = (l + p + h) & 3.
  ExpectAt(Deq(DType::kQ3_K, b), {
                                     {1, -14.5f},    // s0  l1  bit0 of 0x69=1: q1;  -14.5 * 1
                                     {17, 33.0f},    // s1  l17 bit0 of 0x96=0: 1-4=-3; -11 * -3
                                     {33, 15.0f},    // s2  l1  bit1=0: 2-4=-2;  -7.5 * -2
                                     {49, -8.0f},    // s3  l17 bit1=1: q2;      -4 * 2
                                     {65, 0.5f},     // s4  l1  bit2=0: 3-4=-1;  -0.5 * -1
                                     {81, 9.0f},     // s5  l17 bit2=1: q3;      3 * 3
                                     {98, 6.5f},     // s6  l2  bit3=1: q1;      6.5 * 1
                                     {113, -40.0f},  // s7  l17 bit3=0: 0-4=-4;  10 * -4
                                     {129, -27.0f},  // s8  l1  bit4=0: 2-4=-2;  13.5 * -2
                                     {145, -30.0f},  // s9  l17 bit4=1: q2;      -15 * 2
                                     {161, -34.5f},  // s10 l1  bit5=1: q3;      -11.5 * 3
                                     {177, 8.0f},    // s11 l17 bit5=0: 3-4=-1;  -8 * -1
                                     {194, -4.5f},   // s12 l2  bit6=1: q1;      -4.5 * 1
                                     {209, 4.0f},    // s13 l17 bit6=0: 0-4=-4;  -1 * -4
                                     {225, -7.5f},   // s14 l1  bit7=0: 1-4=-3;  2.5 * -3
                                     {241, 6.0f},    // s15 l17 bit7=1: q1;      6 * 1
                                     {255, 18.0f},   // s15 l31 bit7=1: q3;      6 * 3
                                 });
}

// Q4_K / Q5_K sub-block scales and mins (6 bits each):
//   sc = 1 2 3 63 17 40 5 50,  m = 0 10 63 4 33 7 48 20.
// Byte k (0-3) = sc[k] | (sc[k+4] >> 4) << 6; byte 4+k = m[k] | (m[k+4] >> 4) << 6;
// byte 8+k = (sc[k+4] & 15) | (m[k+4] & 15) << 4.
constexpr uint8_t kK4Scales[12] = {
    0x41,  // sc0 = 1,  sc4 = 17 = 0b010001 -> top 0b01
    0x82,  // sc1 = 2,  sc5 = 40 = 0b101000 -> top 0b10
    0x03,  // sc2 = 3,  sc6 = 5             -> top 0
    0xFF,  // sc3 = 63, sc7 = 50 = 0b110010 -> top 0b11
    0x80,  // m0 = 0,   m4 = 33 = 0b100001  -> top 0b10
    0x0A,  // m1 = 10,  m5 = 7              -> top 0
    0xFF,  // m2 = 63,  m6 = 48 = 0b110000  -> top 0b11
    0x44,  // m3 = 4,   m7 = 20 = 0b010100  -> top 0b01
    0x11,  // sc4 low 1, m4 low 1
    0x78,  // sc5 low 8, m5 low 7
    0x05,  // sc6 low 5, m6 low 0
    0x42,  // sc7 low 2, m7 low 4
};

// qs[32c + l]: low nibble (l + c) & 15 (sub-block 2c), high nibble (3l + c) & 15 (2c + 1).
void FillK4Quants(Bytes& b, size_t off) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) b[off + 32 * c + l] = static_cast<uint8_t>(((l + c) & 15) | (((3 * l + c) & 15) << 4));
  }
}

Bytes MakeQ4_K(uint16_t d_bits) {
  Bytes b(144);
  PutU16(b, 0, d_bits);
  PutU16(b, 2, 0x3400);  // dmin = 0.25
  std::memcpy(b.data() + 4, kK4Scales, 12);
  FillK4Quants(b, 16);
  return b;
}

// Element e = 64c + 32 * nibble + l is in sub-block 2c + nibble.
TEST(DequantizeTest, Q4_K) {
  // value = 0.5 * sc * q - 0.25 * m
  ExpectAt(Deq(DType::kQ4_K, MakeQ4_K(0x3800 /* d = 0.5 */)), {
                                                                  {5, 2.5f},     // sub0 q5:  2.5 - 0
                                                                  {37, 12.5f},   // sub1 q15: 15 - 2.5
                                                                  {69, -6.75f},  // sub2 q6:  9 - 15.75
                                                                  {101, -1.0f},  // sub3 q0:  0 - 1
                                                                  {102, 93.5f},  // sub3 q3:  94.5 - 1
                                                                  {133, 51.25f},  // sub4 q7: 59.5 - 8.25
                                                                  {165, 18.25f},  // sub5 q1: 20 - 1.75
                                                                  {197, 8.0f},    // sub6 q8: 20 - 12
                                                                  {229, 45.0f},   // sub7 q2: 50 - 5
                                                                  {0, 0.0f},      // sub0 q0
                                                                  {31, 7.5f},     // sub0 q15: 7.5 - 0
                                                                  {224, 70.0f},   // sub7 q3: 75 - 5
                                                                  {255, -5.0f},   // sub7 q0: 0 - 5
                                                              });
}

TEST(DequantizeTest, Q4_KMultiBlock) {
  const auto out =
      Deq(DType::kQ4_K, Concat(MakeQ4_K(0x3800 /* d = 0.5 */), MakeQ4_K(0x3C00 /* d = 1 */)));
  ASSERT_EQ(out.size(), 512u);
  ExpectAt(out, {{5, 2.5f},          // block 0 as above
                 {256 + 5, 5.0f},    // block 1 sub0 q5: 1 * 1 * 5 - 0
                 {256 + 69, 2.25f},  // block 1 sub2 q6: 18 - 15.75
                 {256 + 229, 95.0f}});  // block 1 sub7 q2: 100 - 5
}

TEST(DequantizeTest, Q5_K) {
  Bytes b(176);
  PutU16(b, 0, 0x3800);  // d = 0.5
  PutU16(b, 2, 0x3400);  // dmin = 0.25
  std::memcpy(b.data() + 4, kK4Scales, 12);
  // qh[l]: bit s adds 16 to sub-block s. 0xA5 (bits 0 2 5 7) for l < 16, 0x5A (1 3 4 6) after.
  for (int l = 0; l < 32; ++l) b[16 + l] = l < 16 ? 0xA5 : 0x5A;
  FillK4Quants(b, 48);
  // At l = 5 and l = 21 the nibbles are the same: low 5 6 7 8, high 15 0 1 2 for c = 0..3.
  // value = 0.5 * sc * q - 0.25 * m
  ExpectAt(Deq(DType::kQ5_K, b), {
                                     {5, 10.5f},     // sub0 bit: 5 + 16 = 21 -> 10.5 - 0
                                     {37, 12.5f},    // sub1 no bit: 15 -> 15 - 2.5
                                     {69, 17.25f},   // sub2 bit: 22 -> 33 - 15.75
                                     {101, -1.0f},   // sub3 no bit: 0 -> 0 - 1
                                     {133, 51.25f},  // sub4 no bit: 7 -> 59.5 - 8.25
                                     {165, 338.25f},  // sub5 bit: 17 -> 340 - 1.75
                                     {197, 8.0f},     // sub6 no bit: 8 -> 20 - 12
                                     {229, 445.0f},   // sub7 bit: 18 -> 450 - 5
                                     {21, 2.5f},      // sub0 no bit: 5 -> 2.5
                                     {53, 28.5f},     // sub1 bit: 31 -> 31 - 2.5
                                     {85, -6.75f},    // sub2 no bit: 6 -> 9 - 15.75
                                     {117, 503.0f},   // sub3 bit: 16 -> 504 - 1
                                     {149, 187.25f},  // sub4 bit: 23 -> 195.5 - 8.25
                                     {181, 18.25f},   // sub5 no bit: 1 -> 20 - 1.75
                                     {213, 48.0f},    // sub6 bit: 24 -> 60 - 12
                                     {245, 45.0f},    // sub7 no bit: 2 -> 50 - 5
                                 });
}

TEST(DequantizeTest, Q6_K) {
  Bytes b(210);
  // ql[i] = (i & 15) | (15 - (i & 15)) << 4.
  for (int i = 0; i < 128; ++i) b[i] = static_cast<uint8_t>((i & 15) | ((15 - (i & 15)) << 4));
  // qh[i]: 0xE4 (2-bit fields 0 1 2 3 from the bottom) for even i, 0x1B (3 2 1 0) for odd i.
  for (int i = 0; i < 64; ++i) b[128 + i] = (i % 2 == 0) ? 0xE4 : 0x1B;
  const int8_t scales[16] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 127, -128};
  std::memcpy(b.data() + 192, scales, 16);
  PutU16(b, 208, 0x3400);  // d = 0.25
  // Element 128h + 32k + l: nibble from ql[64h + l + 32(k & 1)] (low for k < 2, high
  // otherwise), top bits = field k of qh[32h + l], q = that - 32, scale index e / 16.
  // l = 3 or 35-style indices have low nibble 3, high 12; l = 18 has low 2, high 13.
  ExpectAt(Deq(DType::kQ6_K, b), {
                                     {3, 4.75f},      // 3 | 3<<4 = 51 -> 19;   0.25 * 1 * 19
                                     {35, 2.25f},     // 3 | 2<<4 = 35 -> 3;    0.25 * 3 * 3
                                     {67, -5.0f},     // 12 | 1<<4 = 28 -> -4;  0.25 * 5 * -4
                                     {99, -35.0f},    // 12 | 0 = 12 -> -20;    0.25 * 7 * -20
                                     {18, 15.0f},     // 2 | 0 -> -30;          0.25 * -2 * -30
                                     {50, 14.0f},     // 2 | 1<<4 = 18 -> -14;  0.25 * -4 * -14
                                     {82, -19.5f},    // 13 | 2<<4 = 45 -> 13;  0.25 * -6 * 13
                                     {114, -58.0f},   // 13 | 3<<4 = 61 -> 29;  0.25 * -8 * 29
                                     {131, 42.75f},   // 19;  0.25 * 9 * 19
                                     {163, 8.25f},    // 3;   0.25 * 11 * 3
                                     {195, -13.0f},   // -4;  0.25 * 13 * -4
                                     {227, -635.0f},  // -20; 0.25 * 127 * -20
                                     {146, 75.0f},    // -30; 0.25 * -10 * -30
                                     {178, 42.0f},    // -14; 0.25 * -12 * -14
                                     {210, -45.5f},   // 13;  0.25 * -14 * 13
                                     {242, -928.0f},  // 29;  0.25 * -128 * 29
                                     {15, 7.75f},     // 15 | 3<<4 = 63 -> 31; 0.25 * 1 * 31
                                     {0, -8.0f},      // 0 | 0 -> -32;          0.25 * 1 * -32
                                 });
}

TEST(DequantizeTest, Q8_K) {
  Bytes b(292);
  const float d = -0.125f;
  std::memcpy(b.data(), &d, 4);
  for (int j = 0; j < 256; ++j) b[4 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 128));
  for (int j = 0; j < 32; ++j) b[260 + j] = 0xFF;  // bsums: unused by dequantisation
  ExpectAt(Deq(DType::kQ8_K, b), {{0, 16.0f},         // -128 * -0.125
                                  {100, 3.5f},        // -28 * -0.125
                                  {128, 0.0f},        // 0
                                  {255, -15.875f}});  // 127 * -0.125
}

// Each block of a row is decoded independently and lands at its own offset.
TEST(DequantizeTest, RowOfBlocksIsBlocksSideBySide) {
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ8_1,
                     DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K,
                     DType::kIQ4_NL}) {
    SCOPED_TRACE(std::string(DTypeName(type)));
    const DTypeInfo& info = GetDTypeInfo(type);
    Bytes row(static_cast<size_t>(3 * info.block_bytes));
    for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<uint8_t>((i * 37 + 11) & 0xFF);
    const auto whole = Deq(type, row);
    for (int k = 0; k < 3; ++k) {
      const Bytes one(row.begin() + k * info.block_bytes, row.begin() + (k + 1) * info.block_bytes);
      const auto part = Deq(type, one);
      for (int j = 0; j < info.block_size; ++j) {
        const float w = whole[static_cast<size_t>(k * info.block_size + j)];
        if (std::isnan(part[j])) {
          EXPECT_TRUE(std::isnan(w));
        } else {
          EXPECT_EQ(w, part[j]) << "block " << k << " element " << j;
        }
      }
    }
  }
}

TEST(DequantizeTest, EmptyRowWritesNothing) {
  float out = 42.0f;
  DequantizeRow(DType::kQ4_K, nullptr, &out, 0);
  EXPECT_EQ(out, 42.0f);
}

TEST(DequantizeDeathTest, RejectsPartialBlocks) {
  Bytes b(2 * 144);
  std::vector<float> out(512);
  EXPECT_DEATH(DequantizeRow(DType::kQ4_0, b.data(), out.data(), 33), "not a whole number");
  EXPECT_DEATH(DequantizeRow(DType::kQ4_K, b.data(), out.data(), 100), "not a whole number");
  EXPECT_DEATH(DequantizeRow(DType::kQ8_0, b.data(), out.data(), -32), "not a whole number");
}

TEST(DequantizeDeathTest, RejectsTypesWithoutDequantiser) {
  Bytes b(8);
  float out = 0;
  EXPECT_DEATH(DequantizeRow(DType::kI64, b.data(), &out, 1), "not dequantizable");
}

}  // namespace
}  // namespace weft
