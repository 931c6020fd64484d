// Jinja2 tests (`x is defined`, `x is divisibleby 3`, ...).
#include <functional>
#include <string_view>
#include <unordered_map>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/interpreter.h"
#include "jinja/string_util.h"

namespace weft::jinja {
namespace {

using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

const Value& Arg(CallArgs& args, size_t i, std::string_view test) {
  if (i >= args.positional.size()) ThrowType("test '" + std::string(test) + "' needs an argument");
  return args.positional[i];
}

int64_t IntOf(const Value& v, std::string_view test) {
  if (v.is_undefined()) ThrowUndefined(v.undefined_hint());
  if (v.is_float()) return static_cast<int64_t>(v.as_float());
  if (!v.is_number()) ThrowType("test '" + std::string(test) + "' needs a number, got " + TypeName(v));
  return v.as_int();
}

const std::unordered_map<std::string_view, TestFn>& Table() {
  static const auto* table = new std::unordered_map<std::string_view, TestFn>{
      {"defined", [](Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }},
      {"none", [](Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }},
      {"string", [](Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }},
      {"number", [](Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }},
      {"integer", [](Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }},
      {"float", [](Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }},
      {"boolean", [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }},
      {"true", [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }},
      {"false", [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }},
      {"mapping", [](Interpreter&, const Value& v, CallArgs&) { return v.is_dict() && !v.is_namespace(); }},
      {"iterable",
       [](Interpreter&, const Value& v, CallArgs&) {
         return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
       }},
      {"sequence",
       [](Interpreter&, const Value& v, CallArgs&) {
         return v.is_string() || (v.is_list() && !v.is_generator()) || (v.is_dict() && !v.is_namespace());
       }},
      {"callable", [](Interpreter&, const Value& v, CallArgs&) { return v.is_callable(); }},
      {"even", [](Interpreter&, const Value& v, CallArgs&) { return IntOf(v, "even") % 2 == 0; }},
      {"odd", [](Interpreter&, const Value& v, CallArgs&) { return IntOf(v, "odd") % 2 != 0; }},
      {"divisibleby",
       [](Interpreter&, const Value& v, CallArgs& a) {
         const int64_t d = IntOf(Arg(a, 0, "divisibleby"), "divisibleby");
         if (d == 0) throw TemplateError(ErrorKind::kType, "ZeroDivisionError: integer division or modulo by zero");
         return IntOf(v, "divisibleby") % d == 0;
       }},
      {"lower", [](Interpreter&, const Value& v, CallArgs&) { return HasCased(ToString(v), true); }},
      {"upper", [](Interpreter&, const Value& v, CallArgs&) { return HasCased(ToString(v), false); }},
      {"sameas",
       [](Interpreter&, const Value& v, CallArgs& a) {
         const Value& o = Arg(a, 0, "sameas");
         if (v.identity() || o.identity()) return v.identity() == o.identity();
         if (v.type() != o.type()) return false;
         return Equals(v, o);
       }},
      {"in", [](Interpreter&, const Value& v, CallArgs& a) { return Contains(Arg(a, 0, "in"), v); }},
      {"escaped", [](Interpreter&, const Value&, CallArgs&) { return false; }},
      {"filter", [](Interpreter&, const Value& v, CallArgs&) { return v.is_string() && IsKnownFilter(v.str()); }},
      {"test", [](Interpreter&, const Value& v, CallArgs&) { return v.is_string() && IsKnownTest(v.str()); }},
  };
  return *table;
}

bool CompareTest(std::string_view name, const Value& v, const Value& o) {
  if (name == "eq" || name == "equalto" || name == "==") return Equals(v, o);
  if (name == "ne" || name == "!=") return !Equals(v, o);
  const int c = Compare(v, o, name);
  if (name == "lt" || name == "lessthan" || name == "<") return c < 0;
  if (name == "le" || name == "<=") return c <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return c > 0;
  return c >= 0;  // ge, >=
}

bool IsCompareTest(std::string_view n) {
  return n == "eq" || n == "equalto" || n == "==" || n == "ne" || n == "!=" || n == "lt" || n == "lessthan" ||
         n == "<" || n == "le" || n == "<=" || n == "gt" || n == "greaterthan" || n == ">" || n == "ge" || n == ">=";
}

}  // namespace

bool IsKnownTest(std::string_view name) { return IsCompareTest(name) || Table().count(name) != 0; }

bool ApplyTest(Interpreter& interp, std::string_view name, const Value& input, CallArgs& args) {
  if (IsCompareTest(name)) return CompareTest(name, input, Arg(args, 0, name));
  auto it = Table().find(name);
  if (it == Table().end()) ThrowType("no test named '" + std::string(name) + "'");
  return it->second(interp, input, args);
}

}  // namespace weft::jinja
