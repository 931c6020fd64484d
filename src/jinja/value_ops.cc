#include "jinja/value_ops.h"

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/interpreter.h"
#include "jinja/string_util.h"

namespace weft::jinja {
namespace {

// Normalizes a Python index against `size`; false when out of range.
bool NormalizeIndex(int64_t* i, int64_t size) {
  if (*i < 0) *i += size;
  return *i >= 0 && *i < size;
}

}  // namespace


Value GetAttr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kUndefined: ThrowUndefined(obj.undefined_hint());
    case Value::Type::kDict:
      if (!obj.is_namespace() && HasMethod(obj, name)) return BoundMethod(obj, name);
      if (const Value* v = obj.dict().Find(std::string_view(name))) return *v;
      break;
    case Value::Type::kString:
    case Value::Type::kList:
      if (HasMethod(obj, name)) return BoundMethod(obj, name);
      break;
    default: break;
  }
  return Value::Undefined(ObjectDescription(obj) + " has no attribute '" + name + "'");
}

Value GetItem(const Value& obj, const Value& key) {
  switch (obj.type()) {
    case Value::Type::kUndefined: ThrowUndefined(obj.undefined_hint());
    case Value::Type::kDict: {
      if (!obj.is_namespace()) {
        // Jinja2 turns the TypeError of an unhashable key into an undefined value.
        const bool hashable = !(key.is_list() && !key.is_tuple()) && !key.is_dict();
        if (hashable) {
          if (const Value* v = obj.dict().Find(key)) return *v;
        }
      }
      if (key.is_string()) return GetAttr(obj, key.str());
      break;
    }
    case Value::Type::kList: {
      if (obj.is_generator()) break;
      if (key.is_int() || key.is_bool()) {
        int64_t i = key.as_int();
        const auto& items = obj.list().items;
        if (NormalizeIndex(&i, static_cast<int64_t>(items.size()))) return items[static_cast<size_t>(i)];
        return Value::Undefined(ObjectDescription(obj) + " has no element " + std::to_string(key.as_int()));
      }
      if (key.is_string()) return GetAttr(obj, key.str());
      break;
    }
    case Value::Type::kString: {
      if (key.is_int() || key.is_bool()) {
        int64_t i = key.as_int();
        if (IsAscii(obj.str())) {
          if (NormalizeIndex(&i, static_cast<int64_t>(obj.str().size())))
            return Value::String(std::string(1, obj.str()[static_cast<size_t>(i)]));
        } else {
          std::vector<char32_t> cps = DecodeUtf8(obj.str());
          if (NormalizeIndex(&i, static_cast<int64_t>(cps.size())))
            return Value::String(EncodeUtf8(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
        }
        return Value::Undefined(ObjectDescription(obj) + " has no element " + std::to_string(key.as_int()));
      }
      if (key.is_string()) return GetAttr(obj, key.str());
      break;
    }
    default:
      if (key.is_string()) return GetAttr(obj, key.str());
      break;
  }
  return Value::Undefined(ObjectDescription(obj) + " has no attribute " + Repr(key));
}

namespace {
void SliceIndices(int64_t len, const Value& start, const Value& stop, const Value& step, int64_t* b, int64_t* e,
                  int64_t* st) {
  auto as_index = [](const Value& v, const char* what) -> int64_t {
    if (v.is_int() || v.is_bool()) return v.as_int();
    if (v.is_undefined()) ThrowUndefined(v.undefined_hint());
    ThrowType(std::string("slice ") + what + " must be an integer or None");
  };
  *st = step.is_none() ? 1 : as_index(step, "step");
  if (*st == 0) ThrowValue("slice step cannot be zero");
  if (*st > 0) {
    *b = start.is_none() ? 0 : as_index(start, "start");
    *e = stop.is_none() ? len : as_index(stop, "stop");
    if (*b < 0) *b = std::max<int64_t>(0, *b + len);
    if (*e < 0) *e = std::max<int64_t>(0, *e + len);
    *b = std::min(*b, len);
    *e = std::min(*e, len);
  } else {
    *b = start.is_none() ? len - 1 : as_index(start, "start");
    *e = stop.is_none() ? -1 : as_index(stop, "stop");
    if (!start.is_none() && *b < 0) *b = std::max<int64_t>(-1, *b + len);
    if (!stop.is_none() && *e < 0) *e = std::max<int64_t>(-1, *e + len);
    *b = std::min(*b, len - 1);
    *e = std::min(*e, len - 1);
  }
}
}  // namespace

Value Slice(Interpreter& interp, const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) ThrowUndefined(obj.undefined_hint());
  int64_t b, e, st;
  if (obj.is_string()) {
    const bool ascii = IsAscii(obj.str());
    std::vector<char32_t> cps;
    if (!ascii) cps = DecodeUtf8(obj.str());
    const int64_t len = ascii ? static_cast<int64_t>(obj.str().size()) : static_cast<int64_t>(cps.size());
    SliceIndices(len, start, stop, step, &b, &e, &st);
    std::string out;
    if (ascii && st == 1) {
      if (e > b) out = obj.str().substr(static_cast<size_t>(b), static_cast<size_t>(e - b));
    } else {
      for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
        if (ascii) out.push_back(obj.str()[static_cast<size_t>(i)]);
        else AppendUtf8(cps[static_cast<size_t>(i)], &out);
      }
    }
    interp.ChargeBytes(out.size());
    return Value::String(std::move(out));
  }
  if (obj.is_list() && !obj.is_generator()) {
    const auto& items = obj.list().items;
    SliceIndices(static_cast<int64_t>(items.size()), start, stop, step, &b, &e, &st);
    std::vector<Value> out;
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) out.push_back(items[static_cast<size_t>(i)]);
    interp.ChargeBytes(out.size() * sizeof(Value));
    return obj.is_tuple() ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
  }
  return Value::Undefined(ObjectDescription(obj) + " has no attribute 'slice'");
}

std::vector<Value> Iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined: return {};
    case Value::Type::kList: return v.list().items;
    case Value::Type::kDict: {
      if (v.is_namespace()) ThrowType("'Namespace' object is not iterable");
      std::vector<Value> keys;
      keys.reserve(v.dict().size());
      for (const auto& [k, x] : v.dict().entries) keys.push_back(k);
      return keys;
    }
    case Value::Type::kString: {
      std::vector<Value> out;
      if (IsAscii(v.str())) {
        for (char c : v.str()) out.push_back(Value::String(std::string(1, c)));
      } else {
        for (char32_t c : DecodeUtf8(v.str())) {
          std::string s;
          AppendUtf8(c, &s);
          out.push_back(Value::String(std::move(s)));
        }
      }
      return out;
    }
    default: ThrowType("'" + TypeName(v) + "' object is not iterable");
  }
}

int64_t Length(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined: return 0;
    case Value::Type::kString: return static_cast<int64_t>(Utf8Length(v.str()));
    case Value::Type::kList:
      if (v.is_generator()) ThrowType("object of type 'generator' has no len()");
      return static_cast<int64_t>(v.list().items.size());
    case Value::Type::kDict:
      if (v.is_namespace()) ThrowType("object of type 'Namespace' has no len()");
      return static_cast<int64_t>(v.dict().size());
    default: ThrowType("object of type '" + TypeName(v) + "' has no len()");
  }
}

bool Contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kUndefined: return false;
    case Value::Type::kString:
      if (!item.is_string()) ThrowType("'in <string>' requires string as left operand, not " + TypeName(item));
      return container.str().find(item.str()) != std::string::npos;
    case Value::Type::kList:
      for (const Value& x : container.list().items) if (Equals(x, item)) return true;
      return false;
    case Value::Type::kDict:
      if (container.is_namespace()) ThrowType("argument of type 'Namespace' is not iterable");
      if (item.is_list() && !item.is_tuple()) ThrowType("unhashable type: 'list'");
      if (item.is_dict()) ThrowType("unhashable type: 'dict'");
      return container.dict().Find(item) != nullptr;
    default: ThrowType("argument of type '" + TypeName(container) + "' is not iterable");
  }
}

std::string PercentFormat(const std::string& f, const std::vector<Value>& vals) {
  std::string out;
  size_t vi = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out.push_back(f[i]);
      continue;
    }
    if (++i >= f.size()) ThrowValue("incomplete format");
    const char spec = f[i];
    if (spec == '%') {
      out.push_back('%');
      continue;
    }
    if (vi >= vals.size()) ThrowType("not enough arguments for format string");
    const Value& v = vals[vi++];
    if (spec == 's') {
      out += ToString(v);
    } else if (spec == 'r') {
      out += Repr(v);
    } else if (spec == 'd' || spec == 'i') {
      if (!v.is_number()) ThrowType("%d format: a real number is required, not " + TypeName(v));
      out += std::to_string(v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int());
    } else {
      ThrowValue(std::string("unsupported format character '") + spec + "'");
    }
    if (out.size() > (64u << 20)) ThrowLimit("formatted string too long");
  }
  if (vi < vals.size()) ThrowType("not all arguments converted during string formatting");
  return out;
}

}  // namespace weft::jinja
