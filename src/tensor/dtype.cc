#include "tensor/dtype.h"

#include <array>
#include <cctype>

#include "base/check.h"

namespace weft {
namespace {

// Block layouts are those of the GGUF specification (ggml's block_* structs).
constexpr std::array<DTypeInfo, 21> kTable = {{
    {DType::kF32, "F32", 1, 4, true},
    {DType::kF16, "F16", 1, 2, true},
    {DType::kQ4_0, "Q4_0", 32, 18, true},   // f16 d; 16 bytes of 4-bit q
    {DType::kQ4_1, "Q4_1", 32, 20, true},   // f16 d, m; 16 bytes of 4-bit q
    {DType::kQ5_0, "Q5_0", 32, 22, true},   // f16 d; u32 high bits; 16 bytes low nibbles
    {DType::kQ5_1, "Q5_1", 32, 24, true},   // f16 d, m; u32 high bits; 16 bytes
    {DType::kQ8_0, "Q8_0", 32, 34, true},   // f16 d; 32 x int8
    {DType::kQ8_1, "Q8_1", 32, 36, true},   // f16 d, s; 32 x int8
    {DType::kQ2_K, "Q2_K", 256, 84, true},  // 16 scales, 64 qs, f16 d, dmin
    {DType::kQ3_K, "Q3_K", 256, 110, true}, // 32 hmask, 64 qs, 12 scales, f16 d
    {DType::kQ4_K, "Q4_K", 256, 144, true}, // f16 d, dmin; 12 scales; 128 qs
    {DType::kQ5_K, "Q5_K", 256, 176, true}, // f16 d, dmin; 12 scales; 32 qh; 128 qs
    {DType::kQ6_K, "Q6_K", 256, 210, true}, // 128 ql, 64 qh, 16 int8 scales, f16 d
    {DType::kQ8_K, "Q8_K", 256, 292, true}, // f32 d; 256 int8; 16 x i16 bsums
    {DType::kIQ4_NL, "IQ4_NL", 32, 18, true}, // f16 d; 16 bytes of 4-bit codebook indices (iq4_nl.h)
    {DType::kI8, "I8", 1, 1, true},
    {DType::kI16, "I16", 1, 2, true},
    {DType::kI32, "I32", 1, 4, true},
    {DType::kI64, "I64", 1, 8, false},
    {DType::kF64, "F64", 1, 8, true},
    {DType::kBF16, "BF16", 1, 2, true},
}};

}  // namespace

const DTypeInfo* FindDTypeInfo(uint32_t id) {
  for (const auto& info : kTable) {
    if (static_cast<uint32_t>(info.type) == id) return &info;
  }
  return nullptr;
}

const DTypeInfo& GetDTypeInfo(DType type) {
  const DTypeInfo* info = FindDTypeInfo(static_cast<uint32_t>(type));
  WEFT_CHECK(info != nullptr, "DType {} not in the table", static_cast<uint32_t>(type));
  return *info;
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& info : kTable) {
    if (info.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      same = std::toupper(static_cast<unsigned char>(name[i])) == info.name[i];
    }
    if (same) return info.type;
  }
  return std::nullopt;
}

size_t BytesForElements(DType type, int64_t n) {
  const DTypeInfo& info = GetDTypeInfo(type);
  WEFT_CHECK(n >= 0 && n % info.block_size == 0, "{} elements is not a whole number of {} blocks", n, info.name);
  return static_cast<size_t>(n / info.block_size) * static_cast<size_t>(info.block_bytes);
}

}  // namespace weft
