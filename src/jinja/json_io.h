// Conversions between nlohmann JSON and interpreter Values, and Python-compatible JSON
// output (json.dumps(ensure_ascii=False) — what the `tojson` filter of chat templates
// produces: separators ", " and ": ", or "," + newline with indent).
// Object key order: ordered_json keeps the document's order; nlohmann::json is sorted.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "jinja/value.h"

namespace weft::jinja {

Value FromJson(const nlohmann::ordered_json& j);
Value FromJson(const nlohmann::json& j);

// Appends json.dumps(v, ensure_ascii=False, indent=indent) to *out. indent: nullptr for
// none, else the string used per level. Throws TypeError for values JSON cannot hold
// (Undefined, generators, callables, namespaces). `depth` guards recursion.
void DumpJson(const Value& v, const std::string* indent, std::string* out, int depth = 0);

// JSON string literal with Python's escapes (non-ASCII kept).
void AppendJsonString(const std::string& s, std::string* out);

}  // namespace weft::jinja
