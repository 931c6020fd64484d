// SafetensorsFile: a parsed .safetensors file (Hugging Face's weight container):
//   u64 LE header length N | N bytes of JSON header | data section
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)}
// (offsets relative to the start of the data section) plus an optional
// "__metadata__" object of string -> string.
//
// The file is treated as hostile: the header length, every JSON field's type, the dtype,
// each dimension (non-negative, product overflow-checked) and the data range (inside the
// data section, exactly numel * element size bytes) are checked, so a corrupt file gives
// a Status naming the file, tensor and field, never a crash or an exception.
//
// Tensors are zero-copy TensorViews into the mapping. Names are the file's own (HF)
// names; shapes are reversed into GGUF order (ne[0] = the innermost dimension), so an
// HF [out, in] weight has ne = {in, out}. Tensors are listed in data-offset order.
//
// Ownership: a SafetensorsFile keeps its bytes alive (the MappedFile, or the owner handed
// to ParseSafetensorsBuffer). Immutable after parsing; safe to read from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/tensor_view.h"
#include "weft/status.h"

namespace weft {

class SafetensorsFile {
 public:
  // Largest JSON header accepted (real headers are well under 10 MB).
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  const std::string& source_name() const { return source_name_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const TensorView* Find(std::string_view name) const;

 private:
  friend StatusOr<std::shared_ptr<const SafetensorsFile>> ParseSafetensorsBuffer(
      std::shared_ptr<const void> owner, std::span<const uint8_t> bytes, const std::string& source_name);
  SafetensorsFile() = default;

  std::shared_ptr<const void> owner_;
  std::string source_name_;
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Maps and parses a .safetensors file. NotFound when missing; DataLoss when corrupt;
// Unimplemented for a dtype weft cannot represent (e.g. F8_E4M3, BOOL, U32).
StatusOr<std::shared_ptr<const SafetensorsFile>> OpenSafetensorsFile(const std::string& path);

// Parses bytes that `owner` keeps alive (may be null if the caller guarantees the bytes
// outlive the result). `source_name` prefixes error messages. For tests and fuzzing.
StatusOr<std::shared_ptr<const SafetensorsFile>> ParseSafetensorsBuffer(
    std::shared_ptr<const void> owner, std::span<const uint8_t> bytes, const std::string& source_name);

// "F32" -> kF32, "F16", "BF16", "F64", "I8", "I16", "I32", "I64"; nullopt for others.
std::optional<DType> DTypeFromSafetensorsName(std::string_view name);

}  // namespace weft
