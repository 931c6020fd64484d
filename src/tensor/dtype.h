// Tensor element types: the GGML/GGUF type table (ids match the GGUF file format) and a
// scalar reference dequantiser per type. Quantised types store blocks of `block_size`
// elements in `block_bytes` bytes; a tensor's data is a flat sequence of blocks.
// Thread-safety: the table is constant; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace weft {

// Values are the GGUF `ggml_type` ids as stored in files.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ4_NL = 20,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // as llama.cpp prints it: "F32", "Q4_K", ...
  int32_t block_size;     // elements per block (1 for plain types)
  int32_t block_bytes;    // bytes per block
  bool dequantizable;     // DequantizeRow supports it
};

// nullptr for an id that is not in the table (unknown or retired types).
const DTypeInfo* FindDTypeInfo(uint32_t ggml_type_id);
// For a DType value (always in the table).
const DTypeInfo& GetDTypeInfo(DType type);
inline std::string_view DTypeName(DType type) { return GetDTypeInfo(type).name; }
// Case-insensitive name lookup ("q8_0" -> kQ8_0).
std::optional<DType> DTypeFromName(std::string_view name);

// Bytes taken by n elements; n must be a multiple of the block size (checked).
size_t BytesForElements(DType type, int64_t n);

// Scalar reference dequantisation of n elements (a multiple of the block size, checked)
// from `src` (n / block_size blocks) into dst[0..n). Kernels are tested against this.
void DequantizeRow(DType type, const void* src, float* dst, int64_t n);

}  // namespace weft
