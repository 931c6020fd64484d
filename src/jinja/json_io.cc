#include "jinja/json_io.h"

#include <cmath>
#include <cstdio>

#include "jinja/error.h"

namespace weft::jinja {
namespace {

constexpr size_t kMaxJsonBytes = 64u << 20;

template <typename J>
Value FromJsonImpl(const J& j, int depth) {
  if (depth > 512) ThrowLimit("JSON context nested deeper than 512 levels");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::None();
    case nlohmann::json::value_t::boolean: return Value::Bool(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::Int(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::Float(j.template get<double>());
    case nlohmann::json::value_t::string: return Value::String(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(FromJsonImpl(x, depth + 1));
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::Dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.dict().Set(it.key(), FromJsonImpl(it.value(), depth + 1));
      return d;
    }
    default: return Value::None();  // binary / discarded: not produced by parsing text
  }
}

void Newline(const std::string* indent, int depth, std::string* out) {
  out->push_back('\n');
  for (int i = 0; i < depth; ++i) out->append(*indent);
}

}  // namespace

Value FromJson(const nlohmann::ordered_json& j) { return FromJsonImpl(j, 0); }
Value FromJson(const nlohmann::json& j) { return FromJsonImpl(j, 0); }

void AppendJsonString(const std::string& s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void DumpJson(const Value& v, const std::string* indent, std::string* out, int depth) {
  if (depth > 512) ThrowValue("Circular reference detected");
  switch (v.type()) {
    case Value::Type::kNone: out->append("null"); return;
    case Value::Type::kBool: out->append(v.as_bool() ? "true" : "false"); return;
    case Value::Type::kInt: out->append(std::to_string(v.as_int())); return;
    case Value::Type::kFloat: {
      const double d = v.as_float();
      if (std::isnan(d)) out->append("NaN");
      else if (std::isinf(d)) out->append(d > 0 ? "Infinity" : "-Infinity");
      else out->append(FloatRepr(d));
      return;
    }
    case Value::Type::kString: AppendJsonString(v.str(), out); return;
    case Value::Type::kList: {
      if (v.is_generator()) ThrowType("Object of type generator is not JSON serializable");
      const auto& items = v.list().items;
      if (items.empty()) { out->append("[]"); return; }
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out->append(indent ? "," : ", ");
        if (indent) Newline(indent, depth + 1, out);
        DumpJson(items[i], indent, out, depth + 1);
        if (out->size() > kMaxJsonBytes) ThrowLimit("JSON larger than 64 MiB");
      }
      if (indent) Newline(indent, depth, out);
      out->push_back(']');
      return;
    }
    case Value::Type::kDict: {
      if (v.is_namespace()) ThrowType("Object of type Namespace is not JSON serializable");
      const auto& entries = v.dict().entries;
      if (entries.empty()) { out->append("{}"); return; }
      out->push_back('{');
      bool first = true;
      for (const auto& [k, x] : entries) {
        if (!first) out->append(indent ? "," : ", ");
        first = false;
        if (indent) Newline(indent, depth + 1, out);
        if (k.is_string()) {
          AppendJsonString(k.str(), out);
        } else if (k.is_bool() || k.is_none() || k.is_int() || k.is_float()) {
          std::string tmp;
          DumpJson(k, nullptr, &tmp, depth + 1);
          AppendJsonString(tmp, out);
        } else {
          ThrowType("keys must be str, int, float, bool or None, not " + TypeName(k));
        }
        out->append(": ");
        DumpJson(x, indent, out, depth + 1);
        if (out->size() > kMaxJsonBytes) ThrowLimit("JSON larger than 64 MiB");
      }
      if (indent) Newline(indent, depth, out);
      out->push_back('}');
      return;
    }
    case Value::Type::kUndefined: ThrowType("Object of type Undefined is not JSON serializable");
    case Value::Type::kCallable: ThrowType("Object of type function is not JSON serializable");
  }
}

}  // namespace weft::jinja
