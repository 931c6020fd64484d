#include "jinja/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>

#include "jinja/error.h"
#include "jinja/string_util.h"

namespace weft::jinja {

namespace {
thread_local ContainerTracker* g_tracker = nullptr;
}  // namespace

ContainerTracker::ContainerTracker() : prev_(g_tracker) { g_tracker = this; }

ContainerTracker::~ContainerTracker() {
  ReleaseAll();
  g_tracker = prev_;
}

void ContainerTracker::ReleaseAll() {
  // Move contents out first, then drop them: clearing may free other tracked objects.
  std::vector<std::shared_ptr<ListData>> lists;
  std::vector<std::shared_ptr<DictData>> dicts;
  for (auto& w : lists_) if (auto p = w.lock()) lists.push_back(std::move(p));
  for (auto& w : dicts_) if (auto p = w.lock()) dicts.push_back(std::move(p));
  std::vector<Value> garbage;
  for (auto& l : lists) {
    for (auto& v : l->items) garbage.push_back(std::move(v));
    l->items.clear();
  }
  for (auto& d : dicts) {
    for (auto& [k, v] : d->entries) garbage.push_back(std::move(v));
    d->entries.clear();
    d->index.clear();
  }
  garbage.clear();
  lists_.clear();
  dicts_.clear();
}

namespace {
// Bounds recursion over nested values (printing, comparing, hashing): a template can
// build lists nested arbitrarily deep, or containing themselves.
thread_local int g_value_depth = 0;
constexpr size_t kMaxReprBytes = 64u << 20;
struct DepthGuard {
  DepthGuard() {
    if (++g_value_depth > 256) {
      --g_value_depth;
      ThrowLimit("value nested more than 256 levels deep (or containing itself)");
    }
  }
  ~DepthGuard() { --g_value_depth; }
};
}  // namespace

void ContainerTracker::Compact() {
  std::erase_if(lists_, [](const auto& w) { return w.expired(); });
  std::erase_if(dicts_, [](const auto& w) { return w.expired(); });
  compact_at_ = std::max<size_t>(4096, 2 * (lists_.size() + dicts_.size()));
}

void ContainerTracker::Track(const std::shared_ptr<ListData>& l) {
  if (!g_tracker) return;
  g_tracker->lists_.push_back(l);
  if (g_tracker->lists_.size() + g_tracker->dicts_.size() >= g_tracker->compact_at_) g_tracker->Compact();
}
void ContainerTracker::Track(const std::shared_ptr<DictData>& d) {
  if (!g_tracker) return;
  g_tracker->dicts_.push_back(d);
  if (g_tracker->lists_.size() + g_tracker->dicts_.size() >= g_tracker->compact_at_) g_tracker->Compact();
}

Value Value::Undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.str_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.str_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::Markup(std::string s) {
  Value v = String(std::move(s));
  v.i_ = 1;
  return v;
}
Value Value::String(std::shared_ptr<const std::string> s) {
  Value v;
  v.type_ = Type::kString;
  v.str_ = std::move(s);
  return v;
}
Value Value::List(std::vector<Value> items) {
  Value v;
  v.type_ = Type::kList;
  v.list_ = std::make_shared<ListData>();
  v.list_->items = std::move(items);
  ContainerTracker::Track(v.list_);
  return v;
}
Value Value::Tuple(std::vector<Value> items) {
  Value v = List(std::move(items));
  v.list_->is_tuple = true;
  return v;
}
Value Value::Generator(std::vector<Value> items) {
  Value v = List(std::move(items));
  v.list_->is_generator = true;
  return v;
}
Value Value::Dict() {
  Value v;
  v.type_ = Type::kDict;
  v.dict_ = std::make_shared<DictData>();
  ContainerTracker::Track(v.dict_);
  return v;
}
Value Value::Namespace() {
  Value v = Dict();
  v.dict_->is_namespace = true;
  return v;
}
Value Value::Function(std::shared_ptr<const Callable> fn) {
  Value v;
  v.type_ = Type::kCallable;
  v.fn_ = std::move(fn);
  return v;
}

bool Value::is_namespace() const { return is_dict() && dict_->is_namespace; }

const void* Value::identity() const {
  if (list_) return list_.get();
  if (dict_) return dict_.get();
  if (fn_) return fn_.get();
  return nullptr;
}

std::string Value::undefined_hint() const {
  if (str_) return *str_;
  return "value is undefined";
}

// ---- iterative destruction ----

namespace {
thread_local std::vector<Value>* g_pending = nullptr;  // non-null while draining

// Takes ownership of `values`; frees them without recursing into nested containers:
// a container dropped while draining parks its elements on the pending list.
void ReleaseFlat(std::vector<Value>&& values) {
  if (g_pending) {
    for (Value& v : values) g_pending->push_back(std::move(v));
    values.clear();
    return;
  }
  std::vector<Value> pending = std::move(values);
  g_pending = &pending;
  while (!pending.empty()) {
    Value v = std::move(pending.back());
    pending.pop_back();
  }  // v's destructor may append to `pending`
  g_pending = nullptr;
}
}  // namespace

ListData::~ListData() {
  if (!items.empty()) ReleaseFlat(std::move(items));
}

DictData::~DictData() {
  if (entries.empty()) return;
  std::vector<Value> flat;
  flat.reserve(entries.size() * 2);
  for (auto& [k, v] : entries) {
    flat.push_back(std::move(k));
    flat.push_back(std::move(v));
  }
  entries.clear();
  ReleaseFlat(std::move(flat));
}

// ---- DictData ----

const Value* DictData::Find(const Value& key) const {
  auto it = index.find(HashKey(key));
  return it == index.end() ? nullptr : &entries[it->second].second;
}
const Value* DictData::Find(std::string_view key) const {
  std::string k = "s";
  k.append(key);
  auto it = index.find(k);
  return it == index.end() ? nullptr : &entries[it->second].second;
}
void DictData::Set(const Value& key, Value value) {
  std::string k = HashKey(key);
  auto it = index.find(k);
  if (it != index.end()) {
    entries[it->second].second = std::move(value);
    return;
  }
  index.emplace(std::move(k), entries.size());
  entries.emplace_back(key, std::move(value));
}
bool DictData::Erase(const Value& key) {
  auto it = index.find(HashKey(key));
  if (it == index.end()) return false;
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(it->second));
  index.clear();
  for (size_t i = 0; i < entries.size(); ++i) index.emplace(HashKey(entries[i].first), i);
  return true;
}

const Value* CallArgs::Get(size_t pos, std::string_view name) const {
  if (pos < positional.size()) return &positional[pos];
  return GetKeyword(name);
}
const Value* CallArgs::GetKeyword(std::string_view name) const {
  for (const auto& [k, v] : keyword) if (k == name) return &v;
  return nullptr;
}

// ---- type names, truthiness, equality ----

std::string TypeName(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined: return "Undefined";
    case Value::Type::kNone: return "NoneType";
    case Value::Type::kBool: return "bool";
    case Value::Type::kInt: return "int";
    case Value::Type::kFloat: return "float";
    case Value::Type::kString: return "str";
    case Value::Type::kList: return v.is_generator() ? "generator" : v.is_tuple() ? "tuple" : "list";
    case Value::Type::kDict: return v.is_namespace() ? "Namespace" : "dict";
    case Value::Type::kCallable: return "function";
  }
  return "object";
}

std::string ObjectDescription(const Value& v) {
  if (v.is_none()) return "'None'";
  if (v.is_namespace()) return "'jinja2.utils.Namespace object'";
  return "'" + TypeName(v) + " object'";
}

bool Truthy(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone: return false;
    case Value::Type::kBool:
    case Value::Type::kInt: return v.as_int() != 0;
    case Value::Type::kFloat: return v.as_float() != 0.0;
    case Value::Type::kString: return !v.str().empty();
    case Value::Type::kList: return v.is_generator() || !v.list().items.empty();
    case Value::Type::kDict: return v.is_namespace() || v.dict().size() != 0;
    case Value::Type::kCallable: return true;
  }
  return false;
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone: return true;
    case Value::Type::kString: return a.str() == b.str();
    case Value::Type::kList: {
      if (a.identity() == b.identity()) return true;
      DepthGuard guard;
      if (a.is_tuple() != b.is_tuple() || a.is_generator() || b.is_generator()) return false;
      const auto& x = a.list().items;
      const auto& y = b.list().items;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) if (!Equals(x[i], y[i])) return false;
      return true;
    }
    case Value::Type::kDict: {
      if (a.identity() == b.identity()) return true;
      DepthGuard guard;
      if (a.is_namespace() || b.is_namespace()) return false;
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict().entries) {
        const Value* other = b.dict().Find(k);
        if (!other || !Equals(v, *other)) return false;
      }
      return true;
    }
    case Value::Type::kCallable: return a.identity() == b.identity();
    default: return false;
  }
}

int Compare(const Value& a, const Value& b, std::string_view op) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.to_double(), y = b.to_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.str().compare(b.str());  // UTF-8 byte order == code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_generator() && !b.is_generator()) {
    DepthGuard guard;
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  if (a.is_undefined() || b.is_undefined()) ThrowUndefined((a.is_undefined() ? a : b).undefined_hint());
  ThrowType("'" + std::string(op) + "' not supported between instances of '" + TypeName(a) + "' and '" +
            TypeName(b) + "'");
}

std::string HashKey(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNone: return "n";
    case Value::Type::kBool:
    case Value::Type::kInt: return "i" + std::to_string(v.as_int());
    case Value::Type::kFloat: {
      const double d = v.as_float();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18)
        return "i" + std::to_string(static_cast<int64_t>(d));
      return "f" + FloatRepr(d);
    }
    case Value::Type::kString: return "s" + v.str();
    case Value::Type::kList:
      if (v.is_tuple()) {
        DepthGuard guard;
        std::string k = "t(";
        for (const Value& x : v.list().items) { k += HashKey(x); k += '\x1f'; }
        return k + ")";
      }
      break;
    case Value::Type::kCallable: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "c%p", v.identity());
      return buf;
    }
    case Value::Type::kUndefined: return "u";
    default: break;
  }
  ThrowType("unhashable type: '" + TypeName(v) + "'");
}

// ---- string conversion ----

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form, then laid out as Python's repr:
  // fixed notation when -4 <= exponent < 16, else d.ddde+XX.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  const size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  const int exp = std::stoi(sci.substr(epos + 1));
  std::string digits;
  for (char c : mant) if (c != '.') digits.push_back(c);
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      if (static_cast<int>(digits.size()) <= exp + 1) {
        out += digits + std::string(static_cast<size_t>(exp + 1) - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, static_cast<size_t>(exp + 1)) + "." + digits.substr(static_cast<size_t>(exp + 1));
      }
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + ebuf;
}

void AppendRepr(const Value& v, std::string* out) {
  DepthGuard guard;
  switch (v.type()) {
    case Value::Type::kString: AppendPyStringRepr(v.str(), out); return;
    case Value::Type::kUndefined: return;
    case Value::Type::kList: {
      if (v.is_generator()) { out->append("<generator object>"); return; }
      const auto& items = v.list().items;
      out->push_back(v.is_tuple() ? '(' : '[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out->append(", ");
        AppendRepr(items[i], out);
        if (out->size() > kMaxReprBytes) ThrowLimit("string form of a value larger than 64 MiB");
      }
      if (v.is_tuple() && items.size() == 1) out->push_back(',');
      out->push_back(v.is_tuple() ? ')' : ']');
      return;
    }
    case Value::Type::kDict: {
      out->append(v.is_namespace() ? "<Namespace {" : "{");
      bool first = true;
      for (const auto& [k, x] : v.dict().entries) {
        if (!first) out->append(", ");
        first = false;
        AppendRepr(k, out);
        out->append(": ");
        AppendRepr(x, out);
        if (out->size() > kMaxReprBytes) ThrowLimit("string form of a value larger than 64 MiB");
      }
      out->append(v.is_namespace() ? "}>" : "}");
      return;
    }
    default: AppendString(v, out); return;
  }
}

void AppendString(const Value& v, std::string* out) {
  switch (v.type()) {
    case Value::Type::kUndefined: return;
    case Value::Type::kNone: out->append("None"); return;
    case Value::Type::kBool: out->append(v.as_bool() ? "True" : "False"); return;
    case Value::Type::kInt: out->append(std::to_string(v.as_int())); return;
    case Value::Type::kFloat: out->append(FloatRepr(v.as_float())); return;
    case Value::Type::kString: out->append(v.str()); return;
    case Value::Type::kCallable: out->append(v.callable().Describe()); return;
    default: AppendRepr(v, out); return;
  }
}

std::string ToString(const Value& v) {
  if (v.is_string()) return v.str();
  std::string s;
  AppendString(v, &s);
  return s;
}
std::string Repr(const Value& v) {
  std::string s;
  AppendRepr(v, &s);
  return s;
}

}  // namespace weft::jinja

namespace weft::jinja {
std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}
}  // namespace weft::jinja
