// The GGUF parser. Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv,
// n_kv x (string key, u32 type, value), n_tensors x (string name, u32 n_dims,
// u64 ne[n_dims], u32 type, u64 offset), padding to `general.alignment` (default 32),
// then the tensor data. Strings are u64 length + bytes (no terminator).
//
// Every read is bounds-checked against the buffer, every count is checked against the
// bytes left (so no allocation can exceed the file's size), and every size computation
// is overflow-checked.
#include <fmt/format.h>

#include <cstring>
#include <set>

#include "base/mapped_file.h"
#include "loader/gguf.h"

namespace weft {

namespace {
constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint64_t kMaxKeyLength = 65535;
constexpr int kMaxArrayNesting = 8;
constexpr uint64_t kMaxAlignment = 1u << 20;

bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Smallest number of bytes one value of type t can occupy; 0 for an unknown type.
uint64_t MinEncodedSize(uint32_t t) {
  switch (static_cast<GgufType>(t)) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kBool: return 1;
    case GgufType::kUint16: case GgufType::kInt16: return 2;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: return 4;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: return 8;
    case GgufType::kString: return 8;
    case GgufType::kArray: return 12;
  }
  return 0;
}
}  // namespace

class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, std::string source, std::shared_ptr<const MappedFile> mapping)
      : bytes_(bytes), source_(std::move(source)), mapping_(std::move(mapping)) {}

  StatusOr<std::shared_ptr<GgufFile>> Parse();

 private:
  uint64_t Remaining() const { return bytes_.size() - pos_; }

  Status Truncated(uint64_t need, const std::string& what) const {
    return DataLossError(fmt::format("file is truncated: {} needs {} bytes at offset {} but the file has {} bytes",
                                     what, need, pos_, bytes_.size()));
  }

  template <typename T>
  Status Read(T* out, const std::string& what) {
    if (Remaining() < sizeof(T)) return Truncated(sizeof(T), what);
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status ReadString(std::string* out, const std::string& what, uint64_t max_len) {
    uint64_t len = 0;
    WEFT_RETURN_IF_ERROR(Read(&len, what + " length"));
    if (len > max_len) return DataLossError(fmt::format("{} has length {}, over the limit of {}", what, len, max_len));
    if (len > Remaining()) {
      return DataLossError(fmt::format("{} of {} bytes at offset {} runs past the end of the file ({} bytes)", what,
                                       len, pos_, bytes_.size()));
    }
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

  Status ReadValue(uint32_t type, const std::string& what, int depth, GgufValue* out);
  Status ReadArray(const std::string& what, int depth, GgufArray* out);
  Status ReadTensorInfo(size_t index, GgufTensorInfo* info);

  std::span<const uint8_t> bytes_;
  std::string source_;
  std::shared_ptr<const MappedFile> mapping_;  // keeps bytes_ alive when set
  uint64_t pos_ = 0;
};

Status GgufParser::ReadValue(uint32_t type, const std::string& what, int depth, GgufValue* out) {
  out->type = static_cast<GgufType>(type);
  switch (static_cast<GgufType>(type)) {
#define WEFT_GGUF_INT(enumerator, ctype)                   \
  case GgufType::enumerator: {                             \
    ctype v{};                                             \
    WEFT_RETURN_IF_ERROR(Read(&v, what));                  \
    out->value = static_cast<int64_t>(v);                  \
    return Status::Ok();                                   \
  }
    WEFT_GGUF_INT(kUint8, uint8_t)
    WEFT_GGUF_INT(kInt8, int8_t)
    WEFT_GGUF_INT(kUint16, uint16_t)
    WEFT_GGUF_INT(kInt16, int16_t)
    WEFT_GGUF_INT(kUint32, uint32_t)
    WEFT_GGUF_INT(kInt32, int32_t)
    WEFT_GGUF_INT(kInt64, int64_t)
#undef WEFT_GGUF_INT
    case GgufType::kUint64: {
      uint64_t v = 0;
      WEFT_RETURN_IF_ERROR(Read(&v, what));
      if (v <= static_cast<uint64_t>(INT64_MAX)) out->value = static_cast<int64_t>(v);
      else out->value = v;
      return Status::Ok();
    }
    case GgufType::kFloat32: {
      float v = 0;
      WEFT_RETURN_IF_ERROR(Read(&v, what));
      out->value = static_cast<double>(v);
      return Status::Ok();
    }
    case GgufType::kFloat64: {
      double v = 0;
      WEFT_RETURN_IF_ERROR(Read(&v, what));
      out->value = v;
      return Status::Ok();
    }
    case GgufType::kBool: {
      uint8_t v = 0;
      WEFT_RETURN_IF_ERROR(Read(&v, what));
      if (v > 1) return DataLossError(fmt::format("{}: bool value {} is neither 0 nor 1", what, v));
      out->value = v == 1;
      return Status::Ok();
    }
    case GgufType::kString: {
      std::string s;
      WEFT_RETURN_IF_ERROR(ReadString(&s, what, Remaining()));
      out->value = std::move(s);
      return Status::Ok();
    }
    case GgufType::kArray: {
      GgufArray a;
      WEFT_RETURN_IF_ERROR(ReadArray(what, depth + 1, &a));
      out->value = std::move(a);
      return Status::Ok();
    }
  }
  return DataLossError(fmt::format("{}: unknown value type {}", what, type));
}

Status GgufParser::ReadArray(const std::string& what, int depth, GgufArray* out) {
  if (depth > kMaxArrayNesting) {
    return DataLossError(fmt::format("{}: arrays nested deeper than {}", what, kMaxArrayNesting));
  }
  uint32_t elem_type = 0;
  uint64_t count = 0;
  WEFT_RETURN_IF_ERROR(Read(&elem_type, what + " element type"));
  WEFT_RETURN_IF_ERROR(Read(&count, what + " element count"));
  const uint64_t min_size = MinEncodedSize(elem_type);
  if (min_size == 0) return DataLossError(fmt::format("{}: unknown array element type {}", what, elem_type));
  if (count > Remaining() / min_size) {
    return DataLossError(fmt::format("{}: array of {} {} elements cannot fit in the {} bytes left in the file", what,
                                     count, GgufTypeName(static_cast<GgufType>(elem_type)), Remaining()));
  }
  out->elem_type = static_cast<GgufType>(elem_type);
  out->size = count;
  GgufValue item;
  const bool is_float = out->elem_type == GgufType::kFloat32 || out->elem_type == GgufType::kFloat64;
  if (out->elem_type == GgufType::kString) out->strings.reserve(count);
  else if (is_float) out->floats.reserve(count);
  else if (out->elem_type != GgufType::kArray) out->ints.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    WEFT_RETURN_IF_ERROR(ReadValue(elem_type, what, depth, &item));
    switch (out->elem_type) {
      case GgufType::kString: out->strings.push_back(std::move(std::get<std::string>(item.value))); break;
      case GgufType::kFloat32: case GgufType::kFloat64: out->floats.push_back(std::get<double>(item.value)); break;
      case GgufType::kBool: out->ints.push_back(std::get<bool>(item.value) ? 1 : 0); break;
      case GgufType::kArray: break;  // checked, not kept
      default:
        if (const auto* v = std::get_if<int64_t>(&item.value)) {
          out->ints.push_back(*v);
        } else {
          return DataLossError(fmt::format("{}: element {} = {} does not fit in int64", what, i,
                                           std::get<uint64_t>(item.value)));
        }
    }
  }
  return Status::Ok();
}

Status GgufParser::ReadTensorInfo(size_t index, GgufTensorInfo* info) {
  const std::string what = fmt::format("tensor #{}", index);
  WEFT_RETURN_IF_ERROR(ReadString(&info->name, what + " name", kMaxKeyLength));
  const std::string where = fmt::format("tensor '{}'", info->name);
  uint32_t n_dims = 0;
  WEFT_RETURN_IF_ERROR(Read(&n_dims, where + " dimension count"));
  if (n_dims < 1 || n_dims > static_cast<uint32_t>(TensorView::kMaxDims)) {
    return DataLossError(fmt::format("{}: has {} dimensions (must be 1 to {})", where, n_dims, TensorView::kMaxDims));
  }
  info->n_dims = static_cast<int>(n_dims);
  info->ne = {1, 1, 1, 1};
  int64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    WEFT_RETURN_IF_ERROR(Read(&ne, where + " dimension"));
    if (ne == 0 || ne > static_cast<uint64_t>(INT64_MAX)) {
      return DataLossError(fmt::format("{}: dimension {} is {} (must be at least 1)", where, d, ne));
    }
    info->ne[d] = static_cast<int64_t>(ne);
    if (__builtin_mul_overflow(n_elements, info->ne[d], &n_elements)) {
      return DataLossError(fmt::format("{}: element count overflows (dimension {} is {})", where, d, ne));
    }
  }
  uint32_t type_id = 0;
  WEFT_RETURN_IF_ERROR(Read(&type_id, where + " type"));
  const DTypeInfo* dtype = FindDTypeInfo(type_id);
  if (dtype == nullptr) {
    return UnimplementedError(fmt::format("{}: unknown tensor type id {} (this weft knows the types of the GGUF "
                                          "specification: F32, F16, BF16, Q4_0 ... Q8_K)",
                                          where, type_id));
  }
  info->type = dtype->type;
  WEFT_RETURN_IF_ERROR(Read(&info->offset, where + " data offset"));
  if (n_elements % dtype->block_size != 0) {
    return DataLossError(fmt::format("{}: {} elements of shape {} are not a whole number of {}-element {} blocks",
                                     where, n_elements, TensorView{"", dtype->type, info->n_dims, info->ne}.ShapeString(),
                                     dtype->block_size, dtype->name));
  }
  const uint64_t blocks = static_cast<uint64_t>(n_elements / dtype->block_size);
  if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(dtype->block_bytes), &info->nbytes)) {
    return DataLossError(fmt::format("{}: byte size overflows", where));
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<GgufFile>> GgufParser::Parse() {
  auto file = std::shared_ptr<GgufFile>(new GgufFile());
  file->source_name_ = source_;
  file->bytes_ = bytes_;
  file->mapping_ = mapping_;

  uint32_t magic = 0;
  if (bytes_.size() < 4) {
    return DataLossError(fmt::format("not a GGUF file: only {} bytes long", bytes_.size()));
  }
  WEFT_RETURN_IF_ERROR(Read(&magic, "magic"));
  if (magic != kMagic) {
    std::string shown;
    for (int i = 0; i < 4; ++i) {
      char c = static_cast<char>(bytes_[i]);
      shown += (c >= 32 && c < 127) ? std::string(1, c) : fmt::format("\\x{:02x}", bytes_[i]);
    }
    return DataLossError(fmt::format("not a GGUF file: the magic is '{}', not 'GGUF'", shown));
  }
  uint32_t version = 0;
  WEFT_RETURN_IF_ERROR(Read(&version, "version"));
  if (version == 1) {
    return UnimplementedError(
        "GGUF version 1 is not supported (it predates 64-bit counts); re-convert the model with a current "
        "llama.cpp convert script to get a v3 file");
  }
  if (version >= 0x01000000u) {
    return UnimplementedError(fmt::format("this looks like a big-endian GGUF file (version field 0x{:08x}); only "
                                          "little-endian files are supported",
                                          version));
  }
  if (version != 2 && version != 3) {
    return UnimplementedError(fmt::format("GGUF version {} is not supported (weft reads versions 2 and 3)", version));
  }
  file->version_ = version;

  uint64_t n_tensors = 0, n_kv = 0;
  WEFT_RETURN_IF_ERROR(Read(&n_tensors, "tensor count"));
  WEFT_RETURN_IF_ERROR(Read(&n_kv, "metadata count"));
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info
  // at least 8 (name length) + 4 + 8 (one dim) + 4 + 8.
  if (n_kv > Remaining() / 13) {
    return DataLossError(fmt::format("metadata count {} cannot fit in a file of {} bytes", n_kv, bytes_.size()));
  }
  if (n_tensors > Remaining() / 32) {
    return DataLossError(fmt::format("tensor count {} cannot fit in a file of {} bytes", n_tensors, bytes_.size()));
  }

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    WEFT_RETURN_IF_ERROR(ReadString(&key, fmt::format("metadata key #{}", i), kMaxKeyLength));
    const std::string what = fmt::format("metadata key '{}'", key);
    uint32_t type = 0;
    WEFT_RETURN_IF_ERROR(Read(&type, what + " type"));
    GgufValue value;
    WEFT_RETURN_IF_ERROR(ReadValue(type, what, 0, &value));
    if (!file->metadata_.emplace(std::move(key), std::move(value)).second) {
      return DataLossError(fmt::format("{} appears twice", what));
    }
  }

  if (const GgufValue* a = file->Find("general.alignment")) {
    const auto* v = std::get_if<int64_t>(&a->value);
    if (!a->IsInteger() || v == nullptr || !IsPowerOfTwo(static_cast<uint64_t>(*v)) ||
        static_cast<uint64_t>(*v) > kMaxAlignment) {
      return DataLossError(fmt::format("general.alignment = {} is not a power of two up to {}", a->ToDisplayString(),
                                       kMaxAlignment));
    }
    file->alignment_ = static_cast<uint64_t>(*v);
  }

  file->tensor_infos_.resize(n_tensors);
  std::set<std::string_view> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    WEFT_RETURN_IF_ERROR(ReadTensorInfo(i, &file->tensor_infos_[i]));
  }
  for (const auto& info : file->tensor_infos_) {
    if (!names.insert(info.name).second) {
      return DataLossError(fmt::format("tensor '{}' appears twice", info.name));
    }
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t data_offset = (pos_ + file->alignment_ - 1) / file->alignment_ * file->alignment_;
  file->data_offset_ = data_offset;
  const uint64_t size = bytes_.size();
  if (n_tensors > 0 && data_offset > size) {
    return DataLossError(fmt::format("tensor data section starts at {} past the end of the file ({} bytes)",
                                     data_offset, size));
  }
  file->tensors_.reserve(n_tensors);
  for (const auto& info : file->tensor_infos_) {
    const std::string where = fmt::format("tensor '{}'", info.name);
    if (info.offset % file->alignment_ != 0) {
      return DataLossError(
          fmt::format("{}: data offset {} is not a multiple of the alignment {}", where, info.offset, file->alignment_));
    }
    uint64_t begin = 0, end = 0;
    if (__builtin_add_overflow(data_offset, info.offset, &begin) ||
        __builtin_add_overflow(begin, info.nbytes, &end) || end > size) {
      return DataLossError(fmt::format("{}: data [{}, {}+{}) runs past the end of the file ({} bytes); the file is "
                                       "truncated or corrupt",
                                       where, info.offset, info.offset, info.nbytes, size));
    }
    TensorView view;
    view.name = info.name;
    view.type = info.type;
    view.n_dims = info.n_dims;
    view.ne = info.ne;
    view.data = bytes_.data() + begin;
    view.nbytes = static_cast<size_t>(info.nbytes);
    file->tensors_.push_back(std::move(view));
  }
  return file;
}

StatusOr<std::shared_ptr<const GgufFile>> ParseGgufBuffer(std::span<const uint8_t> bytes,
                                                          const std::string& source_name) {
  GgufParser parser(bytes, source_name, nullptr);
  auto parsed = parser.Parse();
  if (!parsed.ok()) return std::move(parsed).status().WithContext(source_name);
  return std::shared_ptr<const GgufFile>(std::move(parsed).value());
}

StatusOr<std::shared_ptr<const GgufFile>> OpenGgufFile(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(auto mapping, MappedFile::Open(path));
  GgufParser parser(mapping->bytes(), path, mapping);
  auto parsed = parser.Parse();
  if (!parsed.ok()) return std::move(parsed).status().WithContext(path);
  return std::shared_ptr<const GgufFile>(std::move(parsed).value());
}

}  // namespace weft
