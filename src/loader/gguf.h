// GgufFile: a parsed GGUF file (versions 2 and 3; version 1 is refused).
//
// The file is treated as hostile: every length, count, offset, dimension and type is
// bounds- and overflow-checked, so a truncated or corrupt file gives a Status naming
// what is wrong (key, tensor, field) and never a crash, a hang or an allocation larger
// than the file itself. Tensor data is not copied: TensorViews point into the buffer.
//
// Ownership: a GgufFile keeps its bytes alive (the MappedFile, or a caller's buffer
// that must outlive it for ParseGgufBuffer). Immutable after parsing; thread-safe reads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "tensor/tensor_view.h"
#include "weft/status.h"

namespace weft {

class MappedFile;

enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
  kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
std::string_view GgufTypeName(GgufType t);

// A metadata array. Elements live in the vector matching their kind: integer and bool
// elements in `ints` (uint64 values above INT64_MAX are refused at parse time), float
// elements in `floats`, strings in `strings`. Arrays of arrays are parsed and checked
// but their contents are not kept (no GGUF key that weft reads uses them).
struct GgufArray {
  GgufType elem_type = GgufType::kUint8;
  uint64_t size = 0;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
};

struct GgufValue {
  GgufType type = GgufType::kUint8;
  // uint*/int*/bool as int64_t (uint64 > INT64_MAX kept as uint64_t), floats as double.
  std::variant<int64_t, uint64_t, double, bool, std::string, GgufArray> value;

  bool IsInteger() const;
  bool IsFloat() const { return type == GgufType::kFloat32 || type == GgufType::kFloat64; }
  // A short rendering for `weft info` ("'llama'", "4096", "[array of 32000 string]").
  std::string ToDisplayString() const;
};

struct GgufTensorInfo {
  std::string name;
  DType type;
  int n_dims;
  std::array<int64_t, TensorView::kMaxDims> ne;
  uint64_t offset;   // from the start of the data section
  uint64_t nbytes;
};

class GgufFile {
 public:
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section
  uint64_t file_size() const { return bytes_.size(); }
  const std::string& source_name() const { return source_name_; }

  // Metadata in file order of keys (std::map: sorted; GGUF keys are unique).
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* Find(const std::string& key) const;

  // Typed look-ups: NotFound if the key is absent, InvalidArgument (naming key, expected
  // and actual type) if it has another type. Integers accept any integer type that fits.
  StatusOr<std::string> GetString(const std::string& key) const;
  StatusOr<int64_t> GetInt(const std::string& key) const;
  StatusOr<double> GetFloat(const std::string& key) const;  // float32/64, or an integer
  StatusOr<bool> GetBool(const std::string& key) const;
  StatusOr<const GgufArray*> GetArray(const std::string& key) const;
  // Same, but absent -> nullopt (a present key of the wrong type is still an error).
  StatusOr<std::optional<std::string>> FindString(const std::string& key) const;
  StatusOr<std::optional<int64_t>> FindInt(const std::string& key) const;
  StatusOr<std::optional<double>> FindFloat(const std::string& key) const;
  StatusOr<std::optional<bool>> FindBool(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensor_infos() const { return tensor_infos_; }
  // Views into the file's bytes, in file order.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // The file mapping the tensors point into; nullptr for ParseGgufBuffer.
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }
  const TensorView* FindTensor(std::string_view name) const;

 private:
  friend class GgufParser;
  GgufFile() = default;
  std::string source_name_;
  std::shared_ptr<const MappedFile> mapping_;  // may be null for ParseGgufBuffer
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensor_infos_;
  std::vector<TensorView> tensors_;
};

// Opens and parses a file (memory-mapped). Errors are prefixed with the path.
StatusOr<std::shared_ptr<const GgufFile>> OpenGgufFile(const std::string& path);
// Parses bytes the caller keeps alive for the GgufFile's lifetime (fuzzing, tests).
// `source_name` prefixes error messages.
StatusOr<std::shared_ptr<const GgufFile>> ParseGgufBuffer(std::span<const uint8_t> bytes,
                                                          const std::string& source_name);

}  // namespace weft
