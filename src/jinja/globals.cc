// Builtin global functions: range, dict, namespace, joiner, cycler, raise_exception,
// strftime_now.
#include <ctime>
#include <string_view>
#include <unordered_map>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/interpreter.h"

namespace weft::jinja {
namespace {

using GlobalFn = Value (*)(Interpreter&, CallArgs&);

class GlobalCallable final : public Callable {
 public:
  GlobalCallable(std::string name, GlobalFn fn) : name_(std::move(name)), fn_(fn) {}
  Value Call(Interpreter& interp, CallArgs& args) const override { return fn_(interp, args); }
  std::string Describe() const override { return "<function " + name_ + ">"; }

 private:
  std::string name_;
  GlobalFn fn_;
};

int64_t RangeArg(const Value& v) {
  if (v.is_undefined()) ThrowUndefined(v.undefined_hint());
  if (!v.is_int() && !v.is_bool()) ThrowType("'" + TypeName(v) + "' object cannot be interpreted as an integer");
  return v.as_int();
}

Value Range(Interpreter& interp, CallArgs& a) {
  int64_t start = 0, stop = 0, step = 1;
  const auto& p = a.positional;
  if (p.size() == 1) {
    stop = RangeArg(p[0]);
  } else if (p.size() == 2 || p.size() == 3) {
    start = RangeArg(p[0]);
    stop = RangeArg(p[1]);
    if (p.size() == 3) step = RangeArg(p[2]);
  } else {
    ThrowType("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  }
  if (step == 0) ThrowValue("range() arg 3 must not be zero");
  // Length without overflow: work in long double for the bound check.
  const long double span = step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
  const long double len = span <= 0 ? 0 : (span + (step > 0 ? step : -step) - 1) / (step > 0 ? step : -step);
  if (len > static_cast<long double>(interp.limits().max_range))
    ThrowLimit("range() of " + std::to_string(static_cast<long long>(len)) + " items exceeds the limit of " +
               std::to_string(interp.limits().max_range));
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(len));
  for (int64_t i = 0, v = start; i < static_cast<int64_t>(len); ++i, v += step) items.push_back(Value::Int(v));
  interp.ChargeBytes(items.size() * sizeof(Value));
  interp.Step(static_cast<int64_t>(items.size()) / 16);
  return Value::List(std::move(items));
}

Value MakeDict(Interpreter&, CallArgs& a) {
  Value d = Value::Dict();
  if (!a.positional.empty()) {
    const Value& src = a.positional[0];
    if (src.is_dict() && !src.is_namespace()) {
      for (const auto& [k, v] : src.dict().entries) d.dict().Set(k, v);
    } else {
      for (const Value& pair : Iterate(src)) {
        if (!pair.is_list() || pair.list().items.size() != 2) ThrowValue("dictionary update sequence element has wrong length");
        d.dict().Set(pair.list().items[0], pair.list().items[1]);
      }
    }
  }
  for (const auto& [k, v] : a.keyword) d.dict().Set(k, v);
  return d;
}

Value MakeNamespace(Interpreter&, CallArgs& a) {
  Value ns = Value::Namespace();
  if (!a.positional.empty() && a.positional[0].is_dict()) {
    for (const auto& [k, v] : a.positional[0].dict().entries) ns.dict().Set(k, v);
  }
  for (const auto& [k, v] : a.keyword) ns.dict().Set(k, v);
  return ns;
}

Value RaiseException(Interpreter&, CallArgs& a) {
  std::string msg = a.positional.empty() ? "" : ToString(a.positional[0]);
  throw TemplateError(ErrorKind::kRaised, "TemplateError: " + msg);
}

Value StrftimeNow(Interpreter& interp, CallArgs& a) {
  if (a.positional.empty() || !a.positional[0].is_string()) ThrowType("strftime_now() needs a format string");
  const std::string& fmt = a.positional[0].str();
  if (fmt.size() > 256) ThrowValue("strftime_now() format too long");
  std::tm tm = interp.Now();
  char buf[4096];
  const size_t n = fmt.empty() ? 0 : std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
  return Value::String(std::string(buf, n));
}

// joiner(sep=", "): returns "" on the first call and sep afterwards.
class JoinerCallable final : public Callable {
 public:
  explicit JoinerCallable(std::string sep) : sep_(std::move(sep)) {}
  Value Call(Interpreter&, CallArgs&) const override {
    if (!used_) {
      used_ = true;
      return Value::String("");
    }
    return Value::String(sep_);
  }
  std::string Describe() const override { return "<joiner>"; }

 private:
  std::string sep_;
  mutable bool used_ = false;  // per-render object: created by a call inside one render
};

Value MakeJoiner(Interpreter&, CallArgs& a) {
  const Value* sep = a.Get(0, "sep");
  return Value::Function(std::make_shared<JoinerCallable>(sep ? ToString(*sep) : ", "));
}

// cycler(a, b, ...): a namespace-like object with next(), current, reset().
class CyclerNext final : public Callable {
 public:
  explicit CyclerNext(Value state) : state_(std::move(state)) {}
  Value Call(Interpreter&, CallArgs&) const override {
    DictData& d = state_.dict();
    const Value& items = *d.Find(std::string_view("items"));
    const int64_t pos = d.Find(std::string_view("pos"))->as_int();
    const auto& list = items.list().items;
    if (list.empty()) return Value::None();
    Value cur = list[static_cast<size_t>(pos) % list.size()];
    d.Set("pos", Value::Int((pos + 1) % static_cast<int64_t>(list.size())));
    d.Set("current", list[static_cast<size_t>((pos + 1) % static_cast<int64_t>(list.size()))]);
    return cur;
  }
  std::string Describe() const override { return "<cycler.next>"; }

 private:
  Value state_;
};

Value MakeCycler(Interpreter&, CallArgs& a) {
  Value c = Value::Namespace();
  c.dict().Set("items", Value::List(a.positional));
  c.dict().Set("pos", Value::Int(0));
  c.dict().Set("current", a.positional.empty() ? Value::None() : a.positional[0]);
  // The state dict holds the callable and the callable holds the state: the render's
  // container tracker clears both at the end, so the cycle does not leak.
  c.dict().Set("next", Value::Function(std::make_shared<CyclerNext>(c)));
  return c;
}

const std::unordered_map<std::string_view, Value>& Table() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string_view, Value>;
    auto add = [&](std::string_view name, GlobalFn fn) {
      (*t)[name] = Value::Function(std::make_shared<GlobalCallable>(std::string(name), fn));
    };
    add("range", Range);
    add("dict", MakeDict);
    add("namespace", MakeNamespace);
    add("raise_exception", RaiseException);
    add("strftime_now", StrftimeNow);
    add("joiner", MakeJoiner);
    add("cycler", MakeCycler);
    return t;
  }();
  return *table;
}

}  // namespace

Value GlobalFunction(std::string_view name) {
  auto it = Table().find(name);
  return it == Table().end() ? Value() : it->second;
}

}  // namespace weft::jinja
