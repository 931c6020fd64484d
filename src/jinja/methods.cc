// Methods of str, list and dict values (`s.strip()`, `l.append(x)`, `d.items()`), with
// Python semantics.
#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/interpreter.h"
#include "jinja/string_util.h"

namespace weft::jinja {
namespace {

using MethodFn = Value (*)(Interpreter&, const Value&, CallArgs&);

const Value* Opt(CallArgs& a, size_t i, std::string_view name) {
  const Value* v = a.Get(i, name);
  return (v && !v->is_none()) ? v : nullptr;
}

const std::string& StrArg(CallArgs& a, size_t i, std::string_view name, std::string_view method) {
  const Value* v = a.Get(i, name);
  if (!v) ThrowType(std::string(method) + "() missing required argument '" + std::string(name) + "'");
  if (v->is_undefined()) ThrowUndefined(v->undefined_hint());
  if (!v->is_string()) ThrowType(std::string(method) + "() argument must be str, not " + TypeName(*v));
  return v->str();
}

int64_t IntArg(CallArgs& a, size_t i, std::string_view name, int64_t def) {
  const Value* v = Opt(a, i, name);
  if (!v) return def;
  if (!v->is_int() && !v->is_bool()) ThrowType("'" + TypeName(*v) + "' object cannot be interpreted as an integer");
  return v->as_int();
}

Value Str(Interpreter& interp, std::string s) {
  interp.ChargeBytes(s.size());
  return Value::String(std::move(s));
}

Value StringList(Interpreter& interp, const std::vector<std::string>& parts) {
  std::vector<Value> out;
  out.reserve(parts.size());
  for (const auto& p : parts) out.push_back(Value::String(p));
  interp.ChargeBytes(parts.size() * sizeof(Value));
  return Value::List(std::move(out));
}

bool AffixMatch(const Value& self, CallArgs& a, bool prefix, std::string_view method) {
  const Value* arg = a.Get(0, "prefix");
  if (!arg) ThrowType(std::string(method) + "() takes at least 1 argument (0 given)");
  std::vector<Value> cands = arg->is_tuple() ? arg->list().items : std::vector<Value>{*arg};
  const std::string& s = self.str();
  for (const Value& c : cands) {
    if (!c.is_string()) ThrowType(std::string(method) + " first arg must be str or a tuple of str, not " + TypeName(c));
    const std::string& p = c.str();
    if (p.size() > s.size()) continue;
    if (prefix ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0) return true;
  }
  return false;
}

// str.format with {} / {0} / {name} fields (no format specs beyond plain conversion).
Value Format(Interpreter& interp, const Value& self, CallArgs& a) {
  const std::string& f = self.str();
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c == '{' && i + 1 < f.size() && f[i + 1] == '{') { out.push_back('{'); ++i; continue; }
    if (c == '}' && i + 1 < f.size() && f[i + 1] == '}') { out.push_back('}'); ++i; continue; }
    if (c != '{') { out.push_back(c); continue; }
    const size_t close = f.find('}', i);
    if (close == std::string::npos) ThrowValue("Single '{' encountered in format string");
    std::string field = f.substr(i + 1, close - i - 1);
    const size_t colon = field.find(':');
    if (colon != std::string::npos) field.resize(colon);
    const Value* v = nullptr;
    if (field.empty()) {
      v = auto_idx < a.positional.size() ? &a.positional[auto_idx] : nullptr;
      ++auto_idx;
    } else if (field.find_first_not_of("0123456789") == std::string::npos && field.size() < 9) {
      const size_t k = static_cast<size_t>(std::stoul(field));
      v = k < a.positional.size() ? &a.positional[k] : nullptr;
    } else {
      v = a.GetKeyword(field);
    }
    if (!v) ThrowValue("format field '" + field + "' has no argument");
    out += ToString(*v);
    i = close;
  }
  return Str(interp, std::move(out));
}

int64_t CountOccurrences(const std::string& s, const std::string& sub) {
  if (sub.empty()) return static_cast<int64_t>(Utf8Length(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return n;
}

// Byte offset -> code point offset (Python indexes by code point).
int64_t CodePointIndex(const std::string& s, size_t byte_pos) {
  return static_cast<int64_t>(Utf8Length(std::string_view(s).substr(0, byte_pos)));
}

bool AllChars(const std::string& s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s) if (!pred(c)) return false;
  return true;
}

const std::unordered_map<std::string_view, MethodFn>& StrMethods() {
  static const auto* m = new std::unordered_map<std::string_view, MethodFn>{
      {"strip", [](Interpreter& i, const Value& s, CallArgs& a) {
         const Value* c = Opt(a, 0, "chars");
         return Str(i, PyStrip(s.str(), c ? &StrArg(a, 0, "chars", "strip") : nullptr, true, true)); }},
      {"lstrip", [](Interpreter& i, const Value& s, CallArgs& a) {
         const Value* c = Opt(a, 0, "chars");
         return Str(i, PyStrip(s.str(), c ? &StrArg(a, 0, "chars", "lstrip") : nullptr, true, false)); }},
      {"rstrip", [](Interpreter& i, const Value& s, CallArgs& a) {
         const Value* c = Opt(a, 0, "chars");
         return Str(i, PyStrip(s.str(), c ? &StrArg(a, 0, "chars", "rstrip") : nullptr, false, true)); }},
      {"split", [](Interpreter& i, const Value& s, CallArgs& a) {
         const Value* sep = Opt(a, 0, "sep");
         if (sep && StrArg(a, 0, "sep", "split").empty()) ThrowValue("empty separator");
         return StringList(i, PySplit(s.str(), sep ? &sep->str() : nullptr, IntArg(a, 1, "maxsplit", -1))); }},
      {"splitlines", [](Interpreter& i, const Value& s, CallArgs&) { return StringList(i, PySplitLines(s.str())); }},
      {"startswith", [](Interpreter&, const Value& s, CallArgs& a) { return Value::Bool(AffixMatch(s, a, true, "startswith")); }},
      {"endswith", [](Interpreter&, const Value& s, CallArgs& a) { return Value::Bool(AffixMatch(s, a, false, "endswith")); }},
      {"upper", [](Interpreter& i, const Value& s, CallArgs&) { return Str(i, AsciiUpper(s.str())); }},
      {"lower", [](Interpreter& i, const Value& s, CallArgs&) { return Str(i, AsciiLower(s.str())); }},
      {"title", [](Interpreter& i, const Value& s, CallArgs&) { return Str(i, PyTitle(s.str())); }},
      {"capitalize", [](Interpreter& i, const Value& s, CallArgs&) { return Str(i, PyCapitalize(s.str())); }},
      {"replace", [](Interpreter& i, const Value& s, CallArgs& a) {
         const std::string& from = StrArg(a, 0, "old", "replace");
         const std::string& to = StrArg(a, 1, "new", "replace");
         const int64_t count = IntArg(a, 2, "count", -1);
         const int64_t hits = from.empty() ? static_cast<int64_t>(Utf8Length(s.str())) + 1 : CountOccurrences(s.str(), from);
         const int64_t n = count < 0 ? hits : std::min(count, hits);
         if (static_cast<int64_t>(s.str().size()) + n * static_cast<int64_t>(to.size()) > i.limits().max_output_bytes)
           ThrowLimit("string too long");
         return Str(i, PyReplace(s.str(), from, to, count)); }},
      {"find", [](Interpreter&, const Value& s, CallArgs& a) {
         const size_t p = s.str().find(StrArg(a, 0, "sub", "find"));
         return Value::Int(p == std::string::npos ? -1 : CodePointIndex(s.str(), p)); }},
      {"rfind", [](Interpreter&, const Value& s, CallArgs& a) {
         const size_t p = s.str().rfind(StrArg(a, 0, "sub", "rfind"));
         return Value::Int(p == std::string::npos ? -1 : CodePointIndex(s.str(), p)); }},
      {"index", [](Interpreter&, const Value& s, CallArgs& a) {
         const size_t p = s.str().find(StrArg(a, 0, "sub", "index"));
         if (p == std::string::npos) ThrowValue("substring not found");
         return Value::Int(CodePointIndex(s.str(), p)); }},
      {"count", [](Interpreter&, const Value& s, CallArgs& a) {
         return Value::Int(CountOccurrences(s.str(), StrArg(a, 0, "sub", "count"))); }},
      {"join", [](Interpreter& i, const Value& s, CallArgs& a) {
         const Value* seq = a.Get(0, "iterable");
         if (!seq) ThrowType("join() takes exactly one argument (0 given)");
         std::string out;
         bool first = true;
         for (const Value& x : Iterate(*seq)) {
           i.Step();
           if (!x.is_string()) ThrowType("sequence item: expected str instance, " + TypeName(x) + " found");
           if (!first) out += s.str();
           first = false;
           out += x.str();
           if (static_cast<int64_t>(out.size()) > i.limits().max_output_bytes) ThrowLimit("string too long");
         }
         return Str(i, std::move(out)); }},
      {"format", Format},
      {"isdigit", [](Interpreter&, const Value& s, CallArgs&) {
         return Value::Bool(AllChars(s.str(), [](char c) { return c >= '0' && c <= '9'; })); }},
      {"isalpha", [](Interpreter&, const Value& s, CallArgs&) {
         return Value::Bool(AllChars(s.str(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })); }},
      {"isalnum", [](Interpreter&, const Value& s, CallArgs&) {
         return Value::Bool(AllChars(s.str(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); })); }},
      {"isspace", [](Interpreter&, const Value& s, CallArgs&) {
         return Value::Bool(AllChars(s.str(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); })); }},
      {"islower", [](Interpreter&, const Value& s, CallArgs&) {
         return Value::Bool(HasCased(s.str(), true)); }},
      {"isupper", [](Interpreter&, const Value& s, CallArgs&) {
         return Value::Bool(HasCased(s.str(), false)); }},
  };
  return *m;
}

const std::unordered_map<std::string_view, MethodFn>& ListMethods() {
  static const auto* m = new std::unordered_map<std::string_view, MethodFn>{
      {"append", [](Interpreter& i, const Value& l, CallArgs& a) {
         const Value* x = a.Get(0, "object");
         if (!x) ThrowType("append() takes exactly one argument (0 given)");
         if (l.is_tuple() || l.is_generator()) ThrowType("'" + TypeName(l) + "' object has no attribute 'append'");
         if (static_cast<int64_t>(l.list().items.size()) >= i.limits().max_range) ThrowLimit("list too long");
         i.ChargeBytes(sizeof(Value));
         l.list().items.push_back(*x);
         return Value::None(); }},
      {"extend", [](Interpreter& i, const Value& l, CallArgs& a) {
         const Value* x = a.Get(0, "iterable");
         if (!x) ThrowType("extend() takes exactly one argument (0 given)");
         std::vector<Value> more = Iterate(*x);
         if (static_cast<int64_t>(l.list().items.size() + more.size()) > i.limits().max_range) ThrowLimit("list too long");
         i.ChargeBytes(more.size() * sizeof(Value));
         l.list().items.insert(l.list().items.end(), more.begin(), more.end());
         return Value::None(); }},
      {"insert", [](Interpreter& i, const Value& l, CallArgs& a) {
         int64_t idx = IntArg(a, 0, "index", 0);
         const Value* x = a.Get(1, "object");
         if (!x) ThrowType("insert expected 2 arguments");
         auto& items = l.list().items;
         const int64_t n = static_cast<int64_t>(items.size());
         if (n >= i.limits().max_range) ThrowLimit("list too long");
         if (idx < 0) idx = std::max<int64_t>(0, idx + n);
         idx = std::min(idx, n);
         items.insert(items.begin() + idx, *x);
         return Value::None(); }},
      {"pop", [](Interpreter&, const Value& l, CallArgs& a) {
         auto& items = l.list().items;
         if (items.empty()) throw TemplateError(ErrorKind::kType, "IndexError: pop from empty list");
         int64_t idx = IntArg(a, 0, "index", -1);
         const int64_t n = static_cast<int64_t>(items.size());
         if (idx < 0) idx += n;
         if (idx < 0 || idx >= n) throw TemplateError(ErrorKind::kType, "IndexError: pop index out of range");
         Value v = items[static_cast<size_t>(idx)];
         items.erase(items.begin() + idx);
         return v; }},
      {"remove", [](Interpreter&, const Value& l, CallArgs& a) {
         const Value* x = a.Get(0, "value");
         auto& items = l.list().items;
         for (size_t k = 0; x && k < items.size(); ++k) {
           if (Equals(items[k], *x)) { items.erase(items.begin() + static_cast<std::ptrdiff_t>(k)); return Value::None(); }
         }
         ThrowValue("list.remove(x): x not in list"); }},
      {"index", [](Interpreter&, const Value& l, CallArgs& a) {
         const Value* x = a.Get(0, "value");
         const auto& items = l.list().items;
         for (size_t k = 0; x && k < items.size(); ++k) if (Equals(items[k], *x)) return Value::Int(static_cast<int64_t>(k));
         ThrowValue(std::string(x ? Repr(*x) : "value") + " is not in list"); }},
      {"count", [](Interpreter&, const Value& l, CallArgs& a) {
         const Value* x = a.Get(0, "value");
         int64_t n = 0;
         for (const Value& v : l.list().items) if (x && Equals(v, *x)) ++n;
         return Value::Int(n); }},
      {"reverse", [](Interpreter&, const Value& l, CallArgs&) {
         std::reverse(l.list().items.begin(), l.list().items.end());
         return Value::None(); }},
      {"copy", [](Interpreter& i, const Value& l, CallArgs&) {
         i.ChargeBytes(l.list().items.size() * sizeof(Value));
         return Value::List(l.list().items); }},
      {"clear", [](Interpreter&, const Value& l, CallArgs&) {
         l.list().items.clear();
         return Value::None(); }},
  };
  return *m;
}

Value ItemsList(Interpreter& i, const Value& d) {
  std::vector<Value> out;
  out.reserve(d.dict().size());
  for (const auto& [k, v] : d.dict().entries) out.push_back(Value::Tuple({k, v}));
  i.ChargeBytes(out.size() * 3 * sizeof(Value));
  return Value::List(std::move(out));
}

const std::unordered_map<std::string_view, MethodFn>& DictMethods() {
  static const auto* m = new std::unordered_map<std::string_view, MethodFn>{
      {"items", [](Interpreter& i, const Value& d, CallArgs&) { return ItemsList(i, d); }},
      {"keys", [](Interpreter& i, const Value& d, CallArgs&) {
         i.ChargeBytes(d.dict().size() * sizeof(Value));
         return Value::List(Iterate(d)); }},
      {"values", [](Interpreter& i, const Value& d, CallArgs&) {
         std::vector<Value> out;
         for (const auto& [k, v] : d.dict().entries) out.push_back(v);
         i.ChargeBytes(out.size() * sizeof(Value));
         return Value::List(std::move(out)); }},
      {"get", [](Interpreter&, const Value& d, CallArgs& a) {
         const Value* key = a.Get(0, "key");
         if (!key) ThrowType("get expected at least 1 argument, got 0");
         if (const Value* v = d.dict().Find(*key)) return *v;
         const Value* def = a.Get(1, "default");
         return def ? *def : Value::None(); }},
      {"pop", [](Interpreter&, const Value& d, CallArgs& a) {
         const Value* key = a.Get(0, "key");
         if (!key) ThrowType("pop expected at least 1 argument, got 0");
         if (const Value* v = d.dict().Find(*key)) {
           Value out = *v;
           d.dict().Erase(*key);
           return out;
         }
         if (const Value* def = a.Get(1, "default")) return *def;
         throw TemplateError(ErrorKind::kType, "KeyError: " + Repr(*key)); }},
      {"setdefault", [](Interpreter&, const Value& d, CallArgs& a) {
         const Value* key = a.Get(0, "key");
         if (!key) ThrowType("setdefault expected at least 1 argument, got 0");
         if (const Value* v = d.dict().Find(*key)) return *v;
         const Value* def = a.Get(1, "default");
         Value v = def ? *def : Value::None();
         d.dict().Set(*key, v);
         return v; }},
      {"update", [](Interpreter& i, const Value& d, CallArgs& a) {
         if (const Value* other = a.Get(0, "other")) {
           if (!other->is_dict() || other->is_namespace()) ThrowType("update() argument must be a dict");
           for (const auto& [k, v] : other->dict().entries) { i.Step(); d.dict().Set(k, v); }
         }
         for (const auto& [k, v] : a.keyword) d.dict().Set(k, v);
         return Value::None(); }},
      {"copy", [](Interpreter& i, const Value& d, CallArgs&) {
         Value out = Value::Dict();
         for (const auto& [k, v] : d.dict().entries) out.dict().Set(k, v);
         i.ChargeBytes(d.dict().size() * 2 * sizeof(Value));
         return out; }},
      {"clear", [](Interpreter&, const Value& d, CallArgs&) {
         d.dict().entries.clear();
         d.dict().index.clear();
         return Value::None(); }},
  };
  return *m;
}

const std::unordered_map<std::string_view, MethodFn>* TableFor(const Value& v) {
  if (v.is_string()) return &StrMethods();
  if (v.is_list() && !v.is_generator()) return &ListMethods();
  if (v.is_dict() && !v.is_namespace()) return &DictMethods();
  return nullptr;
}

class BoundMethodCallable final : public Callable {
 public:
  BoundMethodCallable(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  Value Call(Interpreter& interp, CallArgs& args) const override { return CallMethod(interp, self_, name_, args); }
  std::string Describe() const override {
    return "<built-in method " + name_ + " of " + TypeName(self_) + " object>";
  }

 private:
  Value self_;
  std::string name_;
};

}  // namespace

bool HasMethod(const Value& self, std::string_view name) {
  const auto* t = TableFor(self);
  return t && t->count(name) != 0;
}

Value CallMethod(Interpreter& interp, const Value& self, std::string_view name, CallArgs& args) {
  const auto* t = TableFor(self);
  auto it = t ? t->find(name) : decltype(t->end()){};
  if (!t || it == t->end()) ThrowType("'" + TypeName(self) + "' object has no attribute '" + std::string(name) + "'");
  interp.Step();
  return it->second(interp, self, args);
}

Value BoundMethod(const Value& self, std::string_view name) {
  return Value::Function(std::make_shared<BoundMethodCallable>(self, std::string(name)));
}

}  // namespace weft::jinja
