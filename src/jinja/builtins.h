// The builtin library of the interpreter: filters (filters.cc), tests (tests.cc),
// methods of str/list/dict (methods.cc) and global functions (globals.cc). Names follow
// Jinja2 and Python. All functions throw TemplateError on misuse.
// Thread-safety: stateless; the dispatch tables are immutable after static init.
#pragma once

#include <string_view>

#include "jinja/value.h"

namespace weft::jinja {

bool IsKnownFilter(std::string_view name);
bool IsKnownTest(std::string_view name);

Value ApplyFilter(Interpreter& interp, std::string_view name, const Value& input, CallArgs& args);
bool ApplyTest(Interpreter& interp, std::string_view name, const Value& input, CallArgs& args);

// `self.name` where self is a str, list or dict and name is one of its methods.
bool HasMethod(const Value& self, std::string_view name);
Value CallMethod(Interpreter& interp, const Value& self, std::string_view name, CallArgs& args);
// A bound method as a first-class value (`d.items` without a call).
Value BoundMethod(const Value& self, std::string_view name);

// Builtin global functions: range, dict, namespace, joiner, cycler, raise_exception,
// strftime_now (needs the interpreter's clock). Undefined when not a builtin.
Value GlobalFunction(std::string_view name);

}  // namespace weft::jinja
