// GBNF (the EBNF dialect of llama.cpp's grammars) compiled to a Grammar, so that
// guided_grammar / `weft run --grammar FILE` run on the same token-level automaton as
// JSON schemas and regexes.
//
// Syntax (what llama.cpp's grammars/README.md describes):
//   name ::= alternatives          rule names are [A-Za-z0-9_-]+; the start rule is `root`
//   "text"                         literal, escapes \n \r \t \\ \" \' \[ \] \xHH \uHHHH \UHHHHHHHH
//   [a-z0-9_] [^"\\]               a character class (code points), negated with ^
//   .                              any character
//   ( ... )  a | b                 grouping, alternation
//   x* x+ x? x{m} x{m,} x{m,n}     repetition
//   # comment                      to the end of the line
// A rule ends at a newline, unless the line ends with `::=` or `|`, the next line starts
// with `|`, or the newline is inside parentheses. Characters are Unicode code points
// matched as UTF-8.
// Refused with line:column: syntax errors, an undefined rule, no `root`, left recursion
// (Grammar::Build), bounds above 10000.
#pragma once

#include <string_view>

#include "grammar/grammar.h"
#include "weft/status.h"

namespace weft::grammar {

StatusOr<Grammar> CompileGbnf(std::string_view text);

}  // namespace weft::grammar
