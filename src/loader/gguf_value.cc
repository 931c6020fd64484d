// GgufValue and the typed metadata look-ups of GgufFile.
#include <fmt/format.h>

#include "loader/gguf.h"

namespace weft {

std::string_view GgufTypeName(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

bool GgufValue::IsInteger() const {
  switch (type) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kUint16: case GgufType::kInt16:
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kUint64: case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

std::string GgufValue::ToDisplayString() const {
  if (const auto* s = std::get_if<std::string>(&value)) {
    std::string shown = s->size() > 60 ? s->substr(0, 57) + "..." : *s;
    for (char& c : shown) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    return fmt::format("'{}'", shown);
  }
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* u = std::get_if<uint64_t>(&value)) return std::to_string(*u);
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{:g}", *d);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  const auto& a = std::get<GgufArray>(value);
  return fmt::format("[array of {} {}]", a.size, GgufTypeName(a.elem_type));
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

namespace {
Status WrongType(const std::string& source, const std::string& key, std::string_view expected, GgufType actual) {
  return InvalidArgumentError(
      fmt::format("{}: metadata key '{}' should be {} but is {}", source, key, expected, GgufTypeName(actual)));
}
}  // namespace

StatusOr<std::optional<std::string>> GgufFile::FindString(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<std::string>();
  if (v->type != GgufType::kString) return WrongType(source_name_, key, "a string", v->type);
  return std::optional<std::string>(std::get<std::string>(v->value));
}

StatusOr<std::optional<int64_t>> GgufFile::FindInt(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (const auto* i = std::get_if<int64_t>(&v->value); i && v->IsInteger()) return std::optional<int64_t>(*i);
  if (v->type == GgufType::kUint64) {
    return InvalidArgumentError(fmt::format("{}: metadata key '{}' = {} is too large", source_name_, key,
                                            std::get<uint64_t>(v->value)));
  }
  return WrongType(source_name_, key, "an integer", v->type);
}

StatusOr<std::optional<double>> GgufFile::FindFloat(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<double>();
  if (const auto* d = std::get_if<double>(&v->value)) return std::optional<double>(*d);
  if (const auto* i = std::get_if<int64_t>(&v->value); i && v->IsInteger()) {
    return std::optional<double>(static_cast<double>(*i));
  }
  return WrongType(source_name_, key, "a number", v->type);
}

StatusOr<std::optional<bool>> GgufFile::FindBool(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<bool>();
  if (v->type != GgufType::kBool) return WrongType(source_name_, key, "a bool", v->type);
  return std::optional<bool>(std::get<bool>(v->value));
}

namespace {
template <typename T>
StatusOr<T> Required(StatusOr<std::optional<T>> found, const std::string& source, const std::string& key) {
  if (!found.ok()) return std::move(found).status();
  if (!found->has_value()) return NotFoundError(fmt::format("{}: metadata key '{}' is missing", source, key));
  return std::move(**found);
}
}  // namespace

StatusOr<std::string> GgufFile::GetString(const std::string& key) const {
  return Required(FindString(key), source_name_, key);
}
StatusOr<int64_t> GgufFile::GetInt(const std::string& key) const { return Required(FindInt(key), source_name_, key); }
StatusOr<double> GgufFile::GetFloat(const std::string& key) const {
  return Required(FindFloat(key), source_name_, key);
}
StatusOr<bool> GgufFile::GetBool(const std::string& key) const { return Required(FindBool(key), source_name_, key); }

StatusOr<const GgufArray*> GgufFile::GetArray(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFoundError(fmt::format("{}: metadata key '{}' is missing", source_name_, key));
  if (v->type != GgufType::kArray) return WrongType(source_name_, key, "an array", v->type);
  return &std::get<GgufArray>(v->value);
}

const TensorView* GgufFile::FindTensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace weft
