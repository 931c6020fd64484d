// Structured output for the engine: a request's constraint (JSON schema, any JSON
// object, regex, choice list, GBNF grammar) compiled once per (constraint, tokenizer) and cached, then
// handed to the sampler as one TokenConstraint per sequence. With a trigger, the grammar
// rules only from the trigger on (triggered_constraint.h).
//
// Thread-safety: StructuredOutputCache is shared and locked; the factories it returns
// are immutable apart from the masker's internal caches (locked).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grammar/json_schema.h"
#include "sampling/token_constraint.h"
#include "weft/status.h"

namespace weft {
class Tokenizer;
}

namespace weft::grammar {

// Where a grammar begins when the text before it is free (grammar/triggered_constraint.h).
struct GrammarTrigger {
  std::string text;                 // non-empty
  bool at_start = false;            // only as the output's first non-blank bytes
  std::vector<std::string> tokens;  // control-token pieces that trigger too (absent ones are skipped)
};

struct StructuredOutputSpec {
  enum class Kind : uint8_t { kJsonSchema, kJsonObject, kRegex, kChoice, kGrammar };
  Kind kind = Kind::kJsonObject;
  std::string text;                  // kJsonSchema: the schema JSON; kRegex: the pattern; kGrammar: GBNF
  std::vector<std::string> choices;  // kChoice
  // kJsonSchema: one or more values of the schema framed as a sequence (tool calls).
  std::optional<JsonSequence> sequence;
  // Set: the output is free text until the trigger, then the grammar (tool_choice auto).
  std::optional<GrammarTrigger> trigger;
  std::string Key() const;           // identifies the compiled grammar
};

// Compiles (or finds) the constraint for `spec` over `tokenizer`'s vocabulary.
// InvalidArgument naming the unsupported keyword / construct when it cannot be compiled.
StatusOr<std::shared_ptr<const TokenConstraintFactory>> GetStructuredOutput(const StructuredOutputSpec& spec,
                                                                            const std::shared_ptr<const Tokenizer>& tokenizer);

}  // namespace weft::grammar
