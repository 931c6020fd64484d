// Regular expressions (the ECMAScript subset JSON Schema's `pattern` and vLLM's
// guided_regex use) compiled to a grammar Expr over UTF-8 bytes.
//
// Supported: literals, '.', classes [a-z] [^...], \d \w \s \D \W \S, escapes (\n \t \xHH
// \uHHHH \u{H..} and escaped punctuation), groups (...) (?:...) (?<name>...), '|',
// '*' '+' '?' {n} {n,} {n,m} (lazy forms are the same language), '^' at the start and '$'
// at the end. Refused with an error naming the construct: backreferences, lookaround,
// word boundaries, anchors elsewhere, flags.
#pragma once

#include <string_view>

#include "grammar/grammar.h"
#include "weft/status.h"

namespace weft::grammar {

struct RegexOptions {
  // The text matched is the content of a JSON string: characters that JSON must escape
  // are matched in their canonical escaped form (\" \\ \n ... \u001f).
  bool json_string = false;
  // Search semantics (JSON Schema `pattern`): without '^' / '$' anything may come
  // before / after the match. Otherwise the whole text must match (guided_regex).
  bool search = false;
};

StatusOr<Expr> CompileRegex(std::string_view pattern, const RegexOptions& options);

// A set of code points as sorted, disjoint, inclusive ranges (surrogates never included).
using CodepointRanges = std::vector<std::pair<uint32_t, uint32_t>>;
// An Expr matching one code point of `set`: its UTF-8 bytes, or with json_string its
// canonical JSON string form.
Expr CodepointSetExpr(const CodepointRanges& set, bool json_string);
// Every code point (except surrogates).
CodepointRanges AnyCodepoint();

}  // namespace weft::grammar
