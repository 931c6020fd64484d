// JSON Schema -> Grammar: the subset structured-output APIs use (draft 7 plus the
// 2020-12 spellings OpenAI accepts). Every keyword is either enforced or refused with an
// InvalidArgument naming it and its location ("unsupported JSON Schema keyword 'not' at
// /properties/a"); none is ignored, except annotations (title, description, default,
// examples, $comment, $schema, readOnly, writeOnly, deprecated, a root $id) and keywords
// that cannot apply to any type the schema allows (JSON Schema semantics: `minimum` on a
// string-only schema constrains nothing).
//
// Supported: type (and lists of types), properties, required, additionalProperties
// (false, true or a schema), enum, const, anyOf, oneOf (when its branches provably
// cannot both match: they start with different bytes), $ref to "#..." JSON pointers with
// $defs / definitions (recursion allowed), items (schema or draft-7 array),
// prefixItems, additionalItems, minItems, maxItems, minLength, maxLength, pattern,
// format (date, time, date-time, uuid, email), minimum / maximum / exclusiveMinimum /
// exclusiveMaximum on integers, uniqueItems: false.
//
// The language is canonical JSON (what JsonCanonicalDump writes):
//  - no whitespace between tokens (it also keeps a model from padding forever);
//  - object members in the schema's `properties` order (then other members, when
//    additionalProperties allows them, whose keys differ from every listed name);
//  - strings escape exactly '"', '\\' and control characters (\b \f \n \r \t, else
//    \u00xx lowercase), nothing else;
//  - numbers: -?(0|[1-9][0-9]*) with at most `max_integer_digits` digits, then for
//    `number` an optional fraction (at most max_fraction_digits) and exponent (at most
//    max_exponent_digits): the bound keeps a random model from writing digits forever.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "weft/status.h"

namespace weft::grammar {

struct JsonSchemaOptions {
  int max_integer_digits = 16;
  int max_fraction_digits = 16;
  int max_exponent_digits = 3;
  // Largest bounded repetition expanded (minLength / maxLength / maxItems ...).
  int max_repeat = 10000;
};

StatusOr<Grammar> CompileJsonSchema(const nlohmann::ordered_json& schema, const JsonSchemaOptions& options = {});
// Parses the text first (InvalidArgument if it is not JSON).
StatusOr<Grammar> CompileJsonSchemaText(std::string_view schema_json, const JsonSchemaOptions& options = {});
// One to max_items values of `schema`, each wrapped, the whole framed:
//   prefix item (separator item){0, max_items - 1} suffix,  item = item_prefix VALUE item_suffix
// (max_items -1: unbounded). Tool calls: Hermes' "<tool_call>\n" VALUE "\n</tool_call>".
struct JsonSequence {
  std::string prefix, item_prefix, item_suffix, separator, suffix;
  int max_items = 1;
};
StatusOr<Grammar> CompileJsonSchemaSequence(const nlohmann::ordered_json& schema, const JsonSequence& seq,
                                            const JsonSchemaOptions& options = {});
// Any JSON value whose top level is an object (response_format json_object).
StatusOr<Grammar> CompileJsonObject(const JsonSchemaOptions& options = {});

// `value` in the canonical form the compiled grammars accept, with object members
// reordered to follow `schema` (properties order, through $ref / anyOf / items ...), and
// integral floats written as integers (1.0 -> 1). For tests and for checking a value.
std::string JsonCanonicalDump(const nlohmann::ordered_json& value, const nlohmann::ordered_json& schema);

}  // namespace weft::grammar
