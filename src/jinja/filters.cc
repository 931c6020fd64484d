// Jinja2 filters (`x | trim`, `tools | tojson(indent=4)`, `xs | selectattr("a", "eq", 1)`).
// Filters that Jinja2 implements as generators (map, select, reject, selectattr,
// rejectattr, unique, items) return generator-flagged lists, so `| length` and
// `| tojson` on them fail exactly as they do in Jinja2.
#include <cfenv>
#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/interpreter.h"
#include "jinja/json_io.h"
#include "jinja/string_util.h"

namespace weft::jinja {
namespace {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);

const Value* Opt(CallArgs& a, size_t i, std::string_view name) {
  const Value* v = a.Get(i, name);
  return (v && !v->is_none()) ? v : nullptr;
}

bool BoolArg(CallArgs& a, size_t i, std::string_view name, bool def) {
  const Value* v = a.Get(i, name);
  return v ? Truthy(*v) : def;
}

Value Str(Interpreter& interp, std::string s) {
  if (static_cast<int64_t>(s.size()) > interp.limits().max_output_bytes) ThrowLimit("string too long");
  interp.ChargeBytes(s.size());
  return Value::String(std::move(s));
}

// `attribute="a.b.0"`: item lookups along a dotted path.
Value GetPath(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 18) {
      cur = GetItem(cur, Value::Int(std::stoll(part)));
    } else {
      cur = GetItem(cur, Value::String(part));
    }
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

std::vector<Value> Items(Interpreter& interp, const Value& v) {
  std::vector<Value> items = Iterate(v);
  interp.Step(static_cast<int64_t>(items.size()));
  return items;
}

// Merge sort: safe with inconsistent comparators (std::sort is not).
template <typename Less>
void MergeSort(std::vector<Value>* v, Less less) {
  std::vector<Value> tmp(v->size());
  for (size_t width = 1; width < v->size(); width *= 2) {
    for (size_t lo = 0; lo < v->size(); lo += 2 * width) {
      const size_t mid = std::min(lo + width, v->size()), hi = std::min(lo + 2 * width, v->size());
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = less((*v)[j], (*v)[i]) ? (*v)[j++] : (*v)[i++];
      while (i < mid) tmp[k++] = (*v)[i++];
      while (j < hi) tmp[k++] = (*v)[j++];
    }
    v->swap(tmp);
  }
}

Value SortKey(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::String(AsciiLower(v.str()));
  return v;
}

// select/reject/selectattr/rejectattr share this: positional args after `skip` are
// the test name and its arguments.
Value SelectImpl(Interpreter& interp, const Value& seq, CallArgs& a, bool by_attr, bool keep_if) {
  // Jinja2 iterates only `if seq`: none and other falsy values select nothing.
  std::vector<Value> items = Truthy(seq) ? Items(interp, seq) : std::vector<Value>{};
  size_t argi = 0;
  std::string attr;
  if (by_attr) {
    if (a.positional.empty() || !a.positional[0].is_string()) ThrowType("selectattr/rejectattr need an attribute name");
    attr = a.positional[0].str();
    argi = 1;
  }
  std::string test;
  CallArgs test_args;
  if (argi < a.positional.size()) {
    if (!a.positional[argi].is_string()) ThrowType("test name must be a string");
    test = a.positional[argi].str();
    if (!IsKnownTest(test)) throw TemplateError(ErrorKind::kType, "TemplateRuntimeError: No test named '" + test + "'");
    test_args.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(argi) + 1, a.positional.end());
  }
  test_args.keyword = a.keyword;
  std::vector<Value> out;
  for (const Value& item : items) {
    interp.Step();
    const Value subject = by_attr ? GetPath(item, attr) : item;
    const bool r = test.empty() ? Truthy(subject) : ApplyTest(interp, test, subject, test_args);
    if (r == keep_if) out.push_back(item);
  }
  return Value::Generator(std::move(out));
}

Value MapImpl(Interpreter& interp, const Value& seq, CallArgs& a) {
  std::vector<Value> items = Truthy(seq) ? Items(interp, seq) : std::vector<Value>{};
  std::vector<Value> out;
  out.reserve(items.size());
  if (const Value* attr = a.GetKeyword("attribute")) {
    const Value* def = a.GetKeyword("default");
    const std::string path = ToString(*attr);
    for (const Value& item : items) {
      Value v = GetPath(item, path);
      out.push_back(v.is_undefined() && def ? *def : v);
    }
    return Value::Generator(std::move(out));
  }
  if (a.positional.empty() || !a.positional[0].is_string()) ThrowType("map() needs a filter name or attribute=");
  const std::string name = a.positional[0].str();
  if (!IsKnownFilter(name)) throw TemplateError(ErrorKind::kType, "TemplateRuntimeError: No filter named '" + name + "'");
  CallArgs rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.keyword = a.keyword;
  for (const Value& item : items) {
    interp.Step();
    CallArgs copy = rest;
    out.push_back(ApplyFilter(interp, name, item, copy));
  }
  return Value::Generator(std::move(out));
}

Value Indent(Interpreter& interp, const Value& v, CallArgs& a) {
  std::string ind = "    ";
  if (const Value* w = Opt(a, 0, "width")) {
    if (w->is_string()) {
      ind = w->str();
    } else if (w->is_int() || w->is_bool()) {
      if (w->as_int() > 10000) ThrowLimit("indent width too large");
      ind = std::string(static_cast<size_t>(std::max<int64_t>(0, w->as_int())), ' ');
    } else {
      ThrowType("indent width must be an int or a string");
    }
  }
  const bool first = BoolArg(a, 1, "first", false);
  const bool blank = BoolArg(a, 2, "blank", false);
  std::string s = ToString(v) + "\n";
  std::vector<std::string> lines = PySplitLines(s);
  if (static_cast<int64_t>(s.size() + lines.size() * ind.size()) > interp.limits().max_output_bytes)
    ThrowLimit("string too long");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    if (i && (blank || !lines[i].empty())) out += ind;
    out += lines[i];
  }
  if (first) out = ind + out;
  return Str(interp, std::move(out));
}

Value ToJson(Interpreter& interp, const Value& v, CallArgs& a) {
  std::string ind;
  const std::string* indent = nullptr;
  if (const Value* i = Opt(a, 0, "indent")) {
    if (i->is_string()) {
      ind = i->str();
    } else if (i->is_int()) {
      if (i->as_int() > 1000) ThrowLimit("tojson indent too large");
      ind = std::string(static_cast<size_t>(std::max<int64_t>(0, i->as_int())), ' ');
    } else {
      ThrowType("tojson indent must be an int or a string");
    }
    indent = &ind;
  }
  std::string out;
  Value subject = v;
  if (BoolArg(a, 99, "sort_keys", false) && v.is_dict()) {
    std::vector<Value> keys = Iterate(v);
    MergeSort(&keys, [](const Value& x, const Value& y) { return Compare(x, y, "<") < 0; });
    subject = Value::Dict();
    for (const Value& k : keys) subject.dict().Set(k, *v.dict().Find(k));
  }
  DumpJson(subject, indent, &out);
  return Str(interp, std::move(out));
}

Value Round(Interpreter&, const Value& v, CallArgs& a) {
  if (v.is_undefined()) ThrowUndefined(v.undefined_hint());
  if (!v.is_number()) ThrowType("type " + TypeName(v) + " doesn't define __round__ method");
  const Value* p = Opt(a, 0, "precision");
  const int64_t precision = p ? p->as_int() : 0;
  const std::string method = a.Get(1, "method") ? ToString(*a.Get(1, "method")) : "common";
  if (method != "common" && method != "floor" && method != "ceil") ThrowType("method must be common, ceil or floor");
  if (precision > 300 || precision < -300) ThrowValue("round precision out of range");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.to_double() * scale;
  double r;
  if (method == "floor") r = std::floor(x);
  else if (method == "ceil") r = std::ceil(x);
  else r = std::nearbyint(x);  // round-half-even, as Python's round()
  if (method == "common" && !v.is_float()) return Value::Int(v.as_int());
  return Value::Float(r / scale);
}

bool ParseInt(std::string s, int base, int64_t* out) {
  s = PyStrip(s, nullptr, true, true);
  std::string clean;
  for (char c : s) if (c != '_') clean.push_back(c);
  if (clean.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long r = std::strtoll(clean.c_str(), &end, base);
  if (errno != 0 || *end != '\0') return false;
  *out = r;
  return true;
}

bool ParseFloat(const std::string& s, double* out) {
  const std::string t = PyStrip(s, nullptr, true, true);
  if (t.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(t.c_str(), &end);
  return *end == '\0';
}

Value IntFilter(Interpreter&, const Value& v, CallArgs& a) {
  const Value* def = a.Get(0, "default");
  const Value* base = a.Get(1, "base");
  const Value fallback = def ? *def : Value::Int(0);
  if (v.is_int()) return v;
  if (v.is_bool()) return Value::Int(v.as_int());
  if (v.is_float()) {
    const double d = v.as_float();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
    return Value::Int(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    int64_t r;
    const int b = base && base->is_int() ? static_cast<int>(base->as_int()) : 10;
    if (b >= 2 && b <= 36 && ParseInt(v.str(), b, &r)) return Value::Int(r);
    double d;
    if (ParseFloat(v.str(), &d) && std::isfinite(d) && std::fabs(d) < 9.2e18) return Value::Int(static_cast<int64_t>(d));
  }
  return fallback;
}

Value FloatFilter(Interpreter&, const Value& v, CallArgs& a) {
  const Value* def = a.Get(0, "default");
  if (v.is_number()) return Value::Float(v.to_double());
  double d;
  if (v.is_string() && ParseFloat(v.str(), &d)) return Value::Float(d);
  return def ? *def : Value::Float(0.0);
}

Value Join(Interpreter& interp, const Value& v, CallArgs& a) {
  const Value* sep = a.Get(0, "d");
  const std::string d = sep ? ToString(*sep) : "";
  const Value* attr = Opt(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : Items(interp, v)) {
    if (!first) out += d;
    first = false;
    AppendString(attr ? GetPath(item, ToString(*attr)) : item, &out);
    if (static_cast<int64_t>(out.size()) > interp.limits().max_output_bytes) ThrowLimit("string too long");
  }
  return Str(interp, std::move(out));
}

Value SortFilter(Interpreter& interp, const Value& v, CallArgs& a) {
  const bool reverse = BoolArg(a, 0, "reverse", false);
  const bool cs = BoolArg(a, 1, "case_sensitive", false);
  const Value* attr = Opt(a, 2, "attribute");
  std::vector<Value> items = Items(interp, v);
  const std::string path = attr ? ToString(*attr) : "";
  auto key = [&](const Value& x) { return SortKey(attr ? GetPath(x, path) : x, cs); };
  MergeSort(&items, [&](const Value& x, const Value& y) {
    const int c = Compare(key(x), key(y), "<");
    return reverse ? c > 0 : c < 0;
  });
  return Value::List(std::move(items));
}

Value Unique(Interpreter& interp, const Value& v, CallArgs& a) {
  const bool cs = BoolArg(a, 0, "case_sensitive", false);
  const Value* attr = Opt(a, 1, "attribute");
  std::vector<Value> out;
  std::unordered_map<std::string, bool> seen;
  for (const Value& item : Items(interp, v)) {
    const Value k = SortKey(attr ? GetPath(item, ToString(*attr)) : item, cs);
    if (seen.emplace(HashKey(k), true).second) out.push_back(item);
  }
  return Value::Generator(std::move(out));
}

Value MinMax(Interpreter& interp, const Value& v, CallArgs& a, bool want_max) {
  const bool cs = BoolArg(a, 0, "case_sensitive", false);
  const Value* attr = Opt(a, 1, "attribute");
  std::vector<Value> items = Items(interp, v);
  if (items.empty()) return Value::Undefined(std::string("No aggregated item, sequence was empty."));
  auto key = [&](const Value& x) { return SortKey(attr ? GetPath(x, ToString(*attr)) : x, cs); };
  Value best = items[0];
  for (size_t i = 1; i < items.size(); ++i) {
    const int c = Compare(key(items[i]), key(best), want_max ? ">" : "<");
    if (want_max ? c > 0 : c < 0) best = items[i];
  }
  return best;
}

Value Sum(Interpreter& interp, const Value& v, CallArgs& a) {
  const Value* attr = Opt(a, 0, "attribute");
  const Value* start = a.Get(1, "start");
  Value total = start ? *start : Value::Int(0);
  for (const Value& item : Items(interp, v)) {
    const Value x = attr ? GetPath(item, ToString(*attr)) : item;
    if (!x.is_number() || !total.is_number())
      ThrowType("unsupported operand type(s) for +: '" + TypeName(total) + "' and '" + TypeName(x) + "'");
    if (total.is_float() || x.is_float()) {
      total = Value::Float(total.to_double() + x.to_double());
    } else {
      int64_t r;
      if (__builtin_add_overflow(total.as_int(), x.as_int(), &r)) ThrowValue("integer overflow in sum");
      total = Value::Int(r);
    }
  }
  return total;
}

Value Escape(Interpreter& interp, const Value& v, CallArgs&) {
  if (v.is_markup()) return v;
  std::string out = HtmlEscape(ToString(v));
  interp.ChargeBytes(out.size());
  return Value::Markup(std::move(out));
}

Value WordCount(Interpreter&, const Value& v, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : ToString(v)) {
    const bool w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                   static_cast<unsigned char>(c) >= 0x80;
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::Int(n);
}

Value DictSort(Interpreter& interp, const Value& v, CallArgs& a) {
  if (!v.is_dict() || v.is_namespace()) ThrowType("dictsort needs a dict");
  const bool cs = BoolArg(a, 0, "case_sensitive", false);
  const std::string by = a.Get(1, "by") ? ToString(*a.Get(1, "by")) : "key";
  const bool reverse = BoolArg(a, 2, "reverse", false);
  std::vector<Value> items;
  for (const auto& [k, x] : v.dict().entries) items.push_back(Value::Tuple({k, x}));
  interp.Step(static_cast<int64_t>(items.size()));
  const size_t idx = by == "value" ? 1 : 0;
  MergeSort(&items, [&](const Value& x, const Value& y) {
    const int c = Compare(SortKey(x.list().items[idx], cs), SortKey(y.list().items[idx], cs), "<");
    return reverse ? c > 0 : c < 0;
  });
  return Value::List(std::move(items));
}

Value Batch(Interpreter& interp, const Value& v, CallArgs& a) {
  const Value* n = a.Get(0, "linecount");
  if (!n || !n->is_int() || n->as_int() <= 0) ThrowValue("batch needs a positive linecount");
  if (n->as_int() > interp.limits().max_range) ThrowLimit("batch linecount too large");
  const Value* fill = Opt(a, 1, "fill_with");
  std::vector<Value> out, cur;
  for (const Value& item : Items(interp, v)) {
    cur.push_back(item);
    if (static_cast<int64_t>(cur.size()) == n->as_int()) {
      out.push_back(Value::List(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (fill) while (static_cast<int64_t>(cur.size()) < n->as_int()) cur.push_back(*fill);
    out.push_back(Value::List(std::move(cur)));
  }
  return Value::Generator(std::move(out));
}

const std::unordered_map<std::string_view, FilterFn>& Table() {
  static const auto* table = new std::unordered_map<std::string_view, FilterFn>{
      {"trim", [](Interpreter& i, const Value& v, CallArgs& a) {
         const Value* chars = Opt(a, 0, "chars");
         std::string c = chars ? ToString(*chars) : "";
         return Str(i, PyStrip(ToString(v), chars ? &c : nullptr, true, true)); }},
      {"tojson", ToJson},
      {"length", [](Interpreter&, const Value& v, CallArgs&) { return Value::Int(Length(v)); }},
      {"count", [](Interpreter&, const Value& v, CallArgs&) { return Value::Int(Length(v)); }},
      {"join", Join},
      {"items", [](Interpreter& i, const Value& v, CallArgs&) {
         if (v.is_undefined()) return Value::Generator({});
         if (!v.is_dict() || v.is_namespace()) ThrowType("can only get item pairs from a mapping.");
         std::vector<Value> out;
         for (const auto& [k, x] : v.dict().entries) out.push_back(Value::Tuple({k, x}));
         i.Step(static_cast<int64_t>(out.size()));
         return Value::Generator(std::move(out)); }},
      {"default", [](Interpreter&, const Value& v, CallArgs& a) {
         const Value* def = a.Get(0, "default_value");
         const bool boolean = BoolArg(a, 1, "boolean", false);
         if (v.is_undefined() || (boolean && !Truthy(v))) return def ? *def : Value::String("");
         return v; }},
      {"first", [](Interpreter& i, const Value& v, CallArgs&) {
         std::vector<Value> items = Items(i, v);
         if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
         return items.front(); }},
      {"last", [](Interpreter& i, const Value& v, CallArgs&) {
         if (v.is_generator()) ThrowType("'generator' object is not reversible");
         std::vector<Value> items = Items(i, v);
         if (items.empty()) return Value::Undefined("No last item, sequence was empty.");
         return items.back(); }},
      {"replace", [](Interpreter& i, const Value& v, CallArgs& a) {
         const Value* from = a.Get(0, "old");
         const Value* to = a.Get(1, "new");
         if (!from || !to) ThrowType("replace() needs old and new");
         const Value* count = Opt(a, 2, "count");
         const std::string s = ToString(v), f = ToString(*from), t = ToString(*to);
         const int64_t bound = static_cast<int64_t>(s.size() + 1) * static_cast<int64_t>(t.size() + 1);
         if (bound > i.limits().max_output_bytes && static_cast<int64_t>(s.size()) + static_cast<int64_t>(t.size()) *
             (f.empty() ? static_cast<int64_t>(s.size()) + 1 : static_cast<int64_t>(s.size() / f.size())) > i.limits().max_output_bytes)
           ThrowLimit("string too long");
         return Str(i, PyReplace(s, f, t, count ? count->as_int() : -1)); }},
      {"upper", [](Interpreter& i, const Value& v, CallArgs&) { return Str(i, AsciiUpper(ToString(v))); }},
      {"lower", [](Interpreter& i, const Value& v, CallArgs&) { return Str(i, AsciiLower(ToString(v))); }},
      {"capitalize", [](Interpreter& i, const Value& v, CallArgs&) { return Str(i, PyCapitalize(ToString(v))); }},
      {"title", [](Interpreter& i, const Value& v, CallArgs&) { return Str(i, PyTitle(ToString(v))); }},
      {"string", [](Interpreter& i, const Value& v, CallArgs&) {
         if (v.is_string()) return v;
         if (v.is_list()) i.Step(static_cast<int64_t>(v.list().items.size()));
         return Str(i, ToString(v)); }},
      {"pprint", [](Interpreter& i, const Value& v, CallArgs&) { return Str(i, Repr(v)); }},
      {"int", IntFilter},
      {"float", FloatFilter},
      {"list", [](Interpreter& i, const Value& v, CallArgs&) {
         std::vector<Value> items = Items(i, v);
         i.ChargeBytes(items.size() * sizeof(Value));
         return Value::List(std::move(items)); }},
      {"selectattr", [](Interpreter& i, const Value& v, CallArgs& a) { return SelectImpl(i, v, a, true, true); }},
      {"rejectattr", [](Interpreter& i, const Value& v, CallArgs& a) { return SelectImpl(i, v, a, true, false); }},
      {"select", [](Interpreter& i, const Value& v, CallArgs& a) { return SelectImpl(i, v, a, false, true); }},
      {"reject", [](Interpreter& i, const Value& v, CallArgs& a) { return SelectImpl(i, v, a, false, false); }},
      {"map", MapImpl},
      {"unique", Unique},
      {"sort", SortFilter},
      {"dictsort", DictSort},
      {"reverse", [](Interpreter& i, const Value& v, CallArgs&) {
         if (v.is_string()) {
           std::vector<char32_t> cps = DecodeUtf8(v.str());
           std::reverse(cps.begin(), cps.end());
           return Str(i, EncodeUtf8(cps, 0, cps.size()));
         }
         std::vector<Value> items = Items(i, v);
         std::reverse(items.begin(), items.end());
         return Value::Generator(std::move(items)); }},
      {"abs", [](Interpreter&, const Value& v, CallArgs&) {
         if (v.is_undefined()) ThrowUndefined(v.undefined_hint());
         if (v.is_float()) return Value::Float(std::fabs(v.as_float()));
         if (v.is_number()) {
           if (v.as_int() == INT64_MIN) ThrowValue("integer overflow in abs");
           return Value::Int(v.as_int() < 0 ? -v.as_int() : v.as_int());
         }
         ThrowType("bad operand type for abs(): '" + TypeName(v) + "'"); }},
      {"round", Round},
      {"indent", Indent},
      {"safe", [](Interpreter&, const Value& v, CallArgs&) { return v.is_markup() ? v : Value::Markup(ToString(v)); }},
      {"escape", Escape},
      {"e", Escape},
      {"forceescape", [](Interpreter& i, const Value& v, CallArgs&) {
         std::string out = HtmlEscape(ToString(v));
         i.ChargeBytes(out.size());
         return Value::Markup(std::move(out)); }},
      {"wordcount", WordCount},
      {"min", [](Interpreter& i, const Value& v, CallArgs& a) { return MinMax(i, v, a, false); }},
      {"max", [](Interpreter& i, const Value& v, CallArgs& a) { return MinMax(i, v, a, true); }},
      {"sum", Sum},
      {"batch", Batch},
      {"format", [](Interpreter& i, const Value& v, CallArgs& a) {
         if (!a.keyword.empty()) ThrowType("format filter: keyword arguments are not supported");
         return Str(i, PercentFormat(ToString(v), a.positional)); }},
      {"attr", [](Interpreter&, const Value& v, CallArgs& a) {
         const Value* n = a.Get(0, "name");
         if (!n) ThrowType("attr() needs a name");
         return GetAttr(v, ToString(*n)); }},
      {"center", [](Interpreter& i, const Value& v, CallArgs& a) {
         const Value* w = Opt(a, 0, "width");
         const int64_t width = std::min<int64_t>(w && w->is_int() ? w->as_int() : 80, 100000);
         std::string s = ToString(v);
         const int64_t len = static_cast<int64_t>(Utf8Length(s));
         if (width <= len) return Str(i, s);
         const int64_t total = width - len, left = total / 2 + (total & width & 1);
         return Str(i, std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(total - left), ' ')); }},
  };
  return *table;
}

}  // namespace

bool IsKnownFilter(std::string_view name) {
  return Table().count(name) != 0 || name == "d";
}

Value ApplyFilter(Interpreter& interp, std::string_view name, const Value& input, CallArgs& args) {
  if (name == "d") name = "default";
  auto it = Table().find(name);
  if (it == Table().end()) ThrowType("no filter named '" + std::string(name) + "'");
  return it->second(interp, input, args);
}

}  // namespace weft::jinja
