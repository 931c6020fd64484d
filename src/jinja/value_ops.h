// Python/Jinja2 semantics of attribute access, subscripts, slicing, iteration, len()
// and `in`, shared by the interpreter and the builtins.
// Thread-safety: functions over values of one render.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "jinja/value.h"

namespace weft::jinja {

// obj.name (Jinja2: attribute first, then item) and obj[key] (item first).
Value GetAttr(const Value& obj, const std::string& name);
Value GetItem(const Value& obj, const Value& key);
// Python slicing of str/list/tuple.
Value Slice(Interpreter& interp, const Value& obj, const Value& start, const Value& stop, const Value& step);
// The elements a `for` sees: list items, dict keys, string characters; Undefined -> none.
std::vector<Value> Iterate(const Value& v);
// Python len(); throws TypeError for values without a length.
int64_t Length(const Value& v);
// `item in container`.
bool Contains(const Value& container, const Value& item);
// printf-style `fmt % args` for %s %r %d %i %%.
std::string PercentFormat(const std::string& fmt, const std::vector<Value>& args);

}  // namespace weft::jinja
