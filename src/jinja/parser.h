// Parser: token stream -> AST (ast.h), recursive descent following Jinja2's grammar and
// operator precedence. Unknown filters/tests and unsupported tags (include, extends,
// import, block) are errors at parse time, as in Jinja2. Nesting depth is bounded so
// hostile templates cannot overflow the stack.
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace weft::jinja {

struct ParserLimits {
  int max_nesting = 200;  // expression + statement nesting
};

// Throws TemplateError(kSyntax) with line:column.
Body ParseTemplate(std::string_view source, const LexerOptions& lexer_options, const ParserLimits& limits);

}  // namespace weft::jinja
