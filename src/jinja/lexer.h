// Lexer: template source -> flat token stream. Template text, {{ }}, {% %}, {# #},
// whitespace control ({%- -%} {{- -}} {#- -#} {%+ +%}), trim_blocks, lstrip_blocks
// and {% raw %} are resolved here, so the parser sees only text and tag contents.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jinja/error.h"

namespace weft::jinja {

enum class TokenType : uint8_t {
  kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd,
  kName, kString, kInt, kFloat, kOp, kEof,
};

struct Token {
  TokenType type;
  std::string text;  // text / name / operator / decoded string literal
  int64_t int_value = 0;
  double float_value = 0;
  SourceLoc loc;
};

struct LexerOptions {
  bool trim_blocks = false;
  bool lstrip_blocks = false;
};

// Throws TemplateError(kSyntax) with line:column on malformed input.
std::vector<Token> Tokenize(std::string_view source, const LexerOptions& options);

std::string_view TokenTypeName(TokenType t);

}  // namespace weft::jinja
