// A grammar that switches on mid-output (a "lazy" grammar): the text is free until a
// trigger appears, and from there on it must complete the grammar. This is what
// tool_choice "auto" needs: the model may answer in prose or call a tool, and once it
// starts a call (Hermes' "<tool_call>", Mistral's "[TOOL_CALLS]", a Llama 3 output that
// opens with '{') the call must be one the grammar allows - a declared name, arguments
// valid against its parameters, at most the allowed number of calls, then the end.
//
// Triggers:
//   text      bytes anywhere in the output (at_start false): the grammar begins with
//             them, so they are its first bytes and the rest of the token that completes
//             them continues it;
//   at_start  the trigger is the first non-blank byte of the output (Llama 3's '{'): the
//             grammar starts at that byte; any other first byte leaves the text free;
//   tokens    control tokens (by piece) that switch the grammar on as the text would
//             (Mistral's [TOOL_CALLS], Llama 3's <|python_tag|>): they carry no bytes a
//             grammar sees, so the grammar starts as after the text trigger (after
//             nothing, for at_start).
//
// Masks: while the text is free every token is allowed except those that would complete
// the trigger with bytes the grammar then rejects. Those are found once per trigger state
// (the trigger's partial match) when the factory is made, so a free step costs a fill
// and a short list; after the trigger a step is the grammar's own mask.
//
// Thread-safety: the factory is immutable and shared; each constraint is one sequence's.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grammar/structured_output.h"
#include "grammar/token_mask.h"
#include "sampling/token_constraint.h"

namespace weft {
class Tokenizer;
}

namespace weft::grammar {

// The masker's grammar is the text from the trigger on. Fails (InvalidArgument) when the
// grammar cannot begin with the trigger.
StatusOr<std::shared_ptr<const TokenConstraintFactory>> MakeTriggeredConstraintFactory(
    std::shared_ptr<GrammarMasker> masker, const GrammarTrigger& trigger, const Tokenizer& tokenizer);

}  // namespace weft::grammar
