#include "quant/quant_rows.h"

#include <cstring>

#include "base/check.h"
#include "base/half.h"

namespace weft::quant {
namespace {

using BlockFn = void (*)(const float*, uint8_t*);

BlockFn BlockFnFor(DType type) {
  switch (type) {
    case DType::kQ4_0: return QuantizeBlockQ4_0;
    case DType::kQ4_1: return QuantizeBlockQ4_1;
    case DType::kQ5_0: return QuantizeBlockQ5_0;
    case DType::kQ5_1: return QuantizeBlockQ5_1;
    case DType::kQ8_0: return QuantizeBlockQ8_0;
    case DType::kQ2_K: return QuantizeBlockQ2_K;
    case DType::kQ3_K: return QuantizeBlockQ3_K;
    case DType::kQ4_K: return QuantizeBlockQ4_K;
    case DType::kQ5_K: return QuantizeBlockQ5_K;
    case DType::kQ6_K: return QuantizeBlockQ6_K;
    case DType::kIQ4_NL: return QuantizeBlockIQ4_NL;
    default: return nullptr;
  }
}

}  // namespace

bool CanQuantizeTo(DType type) {
  return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16 || BlockFnFor(type) != nullptr;
}

void QuantizeRows(DType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row) {
  const int64_t n = nrows * n_per_row;
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = FloatToFp16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = FloatToBf16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    default: break;
  }
  const BlockFn fn = BlockFnFor(type);
  const DTypeInfo& info = GetDTypeInfo(type);
  WEFT_CHECK(fn != nullptr, "QuantizeRows: cannot quantise to {}", info.name);
  WEFT_CHECK(n_per_row % info.block_size == 0, "QuantizeRows: row of {} is not a whole number of {} blocks of {}",
             n_per_row, info.name, info.block_size);
  const int64_t nblocks = n / info.block_size;
  for (int64_t b = 0; b < nblocks; ++b) fn(src + b * info.block_size, out + b * info.block_bytes);
}

}  // namespace weft::quant
