#include "loader/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/mapped_file.h"

namespace weft {
namespace {

using json = nlohmann::json;

// "int" for an error message saying what a JSON value is.
std::string JsonTypeName(const json& v) { return v.type_name(); }

// Reads a non-negative JSON integer; false (with *why set) otherwise.
bool ReadNonNegative(const json& v, uint64_t* out, std::string* why) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    *why = fmt::format("is negative ({})", v.get<int64_t>());
    return false;
  }
  *why = fmt::format("is a {}, not an integer", JsonTypeName(v));
  return false;
}

struct ParsedTensor {
  TensorView view;
  uint64_t begin = 0;
  uint64_t end = 0;
};

Status ParseTensorEntry(const std::string& source, const std::string& name, const json& entry,
                        const uint8_t* data, uint64_t data_size, ParsedTensor* out) {
  auto err = [&](std::string_view field, std::string what) {
    return DataLossError(fmt::format("{}: tensor '{}': field '{}' {}", source, name, field, what));
  };
  if (!entry.is_object()) {
    return DataLossError(
        fmt::format("{}: tensor '{}': entry is a {}, not an object", source, name, JsonTypeName(entry)));
  }
  // dtype
  auto it = entry.find("dtype");
  if (it == entry.end()) return err("dtype", "is missing");
  if (!it->is_string()) return err("dtype", fmt::format("is a {}, not a string", JsonTypeName(*it)));
  const std::string dtype_name = it->get<std::string>();
  std::optional<DType> dtype = DTypeFromSafetensorsName(dtype_name);
  if (!dtype) {
    return UnimplementedError(
        fmt::format("{}: tensor '{}': dtype '{}' is not supported", source, name, dtype_name));
  }
  // shape
  it = entry.find("shape");
  if (it == entry.end()) return err("shape", "is missing");
  if (!it->is_array()) return err("shape", fmt::format("is a {}, not an array", JsonTypeName(*it)));
  const json& shape = *it;
  if (shape.size() > static_cast<size_t>(TensorView::kMaxDims)) {
    return UnimplementedError(fmt::format("{}: tensor '{}': {} dimensions (at most {} are supported)", source,
                                          name, shape.size(), TensorView::kMaxDims));
  }
  TensorView& view = out->view;
  view.name = name;
  view.type = *dtype;
  view.n_dims = static_cast<int>(shape.size());
  uint64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    uint64_t dim = 0;
    std::string why;
    if (!ReadNonNegative(shape[i], &dim, &why)) return err("shape", fmt::format("dimension {} {}", i, why));
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(numel, dim, &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return err("shape", "has too many elements (the element count overflows)");
    }
    // HF order is outermost first; GGUF order is innermost first.
    view.ne[shape.size() - 1 - i] = static_cast<int64_t>(dim);
  }
  const uint64_t elem_bytes = static_cast<uint64_t>(GetDTypeInfo(*dtype).block_bytes);
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, elem_bytes, &nbytes)) {
    return err("shape", "is too large (the byte size overflows)");
  }
  // data_offsets
  it = entry.find("data_offsets");
  if (it == entry.end()) return err("data_offsets", "is missing");
  if (!it->is_array() || it->size() != 2) {
    return err("data_offsets", fmt::format("must be an array of 2 integers (got a {}{})", JsonTypeName(*it),
                                           it->is_array() ? fmt::format(" of {}", it->size()) : ""));
  }
  uint64_t begin = 0, end = 0;
  std::string why;
  if (!ReadNonNegative((*it)[0], &begin, &why)) return err("data_offsets", "begin " + why);
  if (!ReadNonNegative((*it)[1], &end, &why)) return err("data_offsets", "end " + why);
  if (begin > end) return err("data_offsets", fmt::format("[{}, {}) has begin after end", begin, end));
  if (end > data_size) {
    return err("data_offsets", fmt::format("[{}, {}) runs past the end of the data section ({} bytes)", begin,
                                           end, data_size));
  }
  if (end - begin != nbytes) {
    return err("data_offsets",
               fmt::format("[{}, {}) holds {} bytes but shape {} of {} needs {}", begin, end, end - begin,
                           shape.dump(), dtype_name, nbytes));
  }
  view.data = data + begin;
  view.nbytes = static_cast<size_t>(nbytes);
  out->begin = begin;
  out->end = end;
  return Status::Ok();
}

Status ParseMetadata(const std::string& source, const json& meta, std::map<std::string, std::string>* out) {
  if (meta.is_null()) return Status::Ok();
  if (!meta.is_object()) {
    return DataLossError(
        fmt::format("{}: '__metadata__' is a {}, not an object", source, JsonTypeName(meta)));
  }
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string()) {
      return DataLossError(fmt::format("{}: '__metadata__' key '{}' is a {}, not a string", source, key,
                                       JsonTypeName(value)));
    }
    (*out)[key] = value.get<std::string>();
  }
  return Status::Ok();
}

}  // namespace

std::optional<DType> DTypeFromSafetensorsName(std::string_view name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  if (name == "F64") return DType::kF64;
  if (name == "I8") return DType::kI8;
  if (name == "I16") return DType::kI16;
  if (name == "I32") return DType::kI32;
  if (name == "I64") return DType::kI64;
  return std::nullopt;
}

const TensorView* SafetensorsFile::Find(std::string_view name) const {
  for (const TensorView& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

StatusOr<std::shared_ptr<const SafetensorsFile>> ParseSafetensorsBuffer(std::shared_ptr<const void> owner,
                                                                        std::span<const uint8_t> bytes,
                                                                        const std::string& source_name) {
  const std::string& src = source_name;
  const uint64_t size = bytes.size();
  if (size < 8) {
    return DataLossError(
        fmt::format("{}: file is {} bytes, too short for the 8-byte header length", src, size));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[static_cast<size_t>(i)];
  if (header_len > size - 8) {
    return DataLossError(fmt::format("{}: header length {} runs past the end of the file ({} bytes)", src,
                                     header_len, size));
  }
  if (header_len > SafetensorsFile::kMaxHeaderBytes) {
    return DataLossError(fmt::format("{}: header length {} is over the {} byte limit", src, header_len,
                                     SafetensorsFile::kMaxHeaderBytes));
  }
  if (header_len < 2) {
    return DataLossError(fmt::format("{}: header length {} is too short for a JSON object", src, header_len));
  }
  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  json header = json::parse(text, text + header_len, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) {
    return DataLossError(fmt::format("{}: header is not valid JSON", src));
  }
  if (!header.is_object()) {
    return DataLossError(fmt::format("{}: header is a JSON {}, not an object", src, JsonTypeName(header)));
  }

  auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  file->owner_ = std::move(owner);
  file->source_name_ = source_name;
  file->file_size_ = size;
  file->data_offset_ = 8 + header_len;
  const uint8_t* data = bytes.data() + file->data_offset_;
  const uint64_t data_size = size - file->data_offset_;

  std::vector<ParsedTensor> parsed;
  parsed.reserve(header.size());
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      WEFT_RETURN_IF_ERROR(ParseMetadata(src, entry, &file->metadata_));
      continue;
    }
    ParsedTensor t;
    WEFT_RETURN_IF_ERROR(ParseTensorEntry(src, name, entry, data, data_size, &t));
    parsed.push_back(std::move(t));
  }
  std::stable_sort(parsed.begin(), parsed.end(),
                   [](const ParsedTensor& a, const ParsedTensor& b) { return a.begin < b.begin; });
  // Overlapping tensors are allowed by nothing in the format and are a sign of a crafted
  // file, but harmless for read-only views, so they are accepted.
  file->tensors_.reserve(parsed.size());
  for (ParsedTensor& t : parsed) file->tensors_.push_back(std::move(t.view));
  return std::shared_ptr<const SafetensorsFile>(std::move(file));
}

StatusOr<std::shared_ptr<const SafetensorsFile>> OpenSafetensorsFile(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapped, MappedFile::Open(path));
  std::span<const uint8_t> bytes = mapped->bytes();
  return ParseSafetensorsBuffer(std::move(mapped), bytes, path);
}

}  // namespace weft
