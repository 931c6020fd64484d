// Internal error type of the Jinja interpreter. Lexer, parser and evaluator throw
// TemplateError; the public API (chat_template.h) catches it and returns a Status, so
// no exception ever leaves the chat_template module.
// Thread-safety: a value type.
#pragma once

#include <stdexcept>
#include <string>

namespace weft::jinja {

// Where in the template source something is (1-based; 0 = unknown).
struct SourceLoc {
  int line = 0;
  int column = 0;
};

enum class ErrorKind {
  kSyntax,     // malformed template (parse time)
  kUndefined,  // UndefinedError: use of an undefined value that Jinja2 rejects
  kType,       // TypeError / ValueError analogues
  kRaised,     // raise_exception(msg) from the template
  kLimit,      // a safety limit was exceeded
};

class TemplateError : public std::runtime_error {
 public:
  TemplateError(ErrorKind kind, std::string message, SourceLoc loc = {})
      : std::runtime_error(message), kind_(kind), loc_(loc) {}
  ErrorKind kind() const { return kind_; }
  const SourceLoc& loc() const { return loc_; }
  void set_loc(SourceLoc loc) { loc_ = loc; }

 private:
  ErrorKind kind_;
  SourceLoc loc_;
};

[[noreturn]] inline void ThrowType(std::string message) {
  throw TemplateError(ErrorKind::kType, "TypeError: " + std::move(message));
}
[[noreturn]] inline void ThrowValue(std::string message) {
  throw TemplateError(ErrorKind::kType, "ValueError: " + std::move(message));
}
[[noreturn]] inline void ThrowUndefined(std::string message) {
  throw TemplateError(ErrorKind::kUndefined, "UndefinedError: " + std::move(message));
}
[[noreturn]] inline void ThrowLimit(std::string message) {
  throw TemplateError(ErrorKind::kLimit, "limit exceeded: " + std::move(message));
}

}  // namespace weft::jinja
