// The tool-calling fields of a chat request: `tools`, `tool_choice`,
// `parallel_tool_calls`, and the tool calls / tool results in `messages`.
//
//   ParseToolRequest   checks tools (type "function" only; name; parameters an object),
//                      tool_choice (none / auto / required / {"type": "function",
//                      "function": {"name": N}} naming a declared tool) and
//                      parallel_tool_calls; 400s name the field.
//   NormalizeToolMessages  assistant messages' tool_calls get their `arguments` JSON
//                      string parsed into an object (what chat templates index and
//                      `tojson`); tool messages need a tool_call_id.
//   ToolCallConstraint for tool_choice required / named: the structured-output spec whose
//                      language is exactly the calls in the format's syntax, with
//                      arguments valid against the function's `parameters` schema (the
//                      grammar engine enforces it token by token). For auto: the same
//                      calls behind the format's trigger (free text until the model
//                      starts a call, grammar/triggered_constraint.h), so an auto call is
//                      valid too and parallel_tool_calls false allows exactly one.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/structured_output.h"
#include "server/errors.h"
#include "server/tool_call_format.h"

namespace weft::server {

// Forced calls (required / named) with parallel_tool_calls: at most this many per turn, so
// that a constrained generation always ends (a model that never chooses to stop would
// otherwise write calls until max_tokens, and a call cut short is no call).
inline constexpr int kMaxParallelToolCalls = 8;

struct ToolRequest {
  enum class Choice : uint8_t { kNone, kAuto, kRequired, kNamed };
  Choice choice = Choice::kNone;  // default: auto when tools are given, else none
  std::string named;              // kNamed: the function
  bool parallel = true;           // parallel_tool_calls
  std::vector<std::string> names;  // the declared functions, in order
  nlohmann::ordered_json tools;    // as given (null when none): rendered by the template

  bool active() const { return choice != Choice::kNone; }  // outputs are parsed for calls
};

std::optional<ApiError> ParseToolRequest(const nlohmann::ordered_json& body, ToolRequest* out);

// `m` is messages[index] (already checked to be an object with a valid role).
std::optional<ApiError> NormalizeToolMessage(nlohmann::ordered_json* m, const std::string& name);

// The constraint for auto / required / named; InvalidArgument when a parameters schema uses
// what the grammar engine does not support (the message names the keyword and tool).
StatusOr<grammar::StructuredOutputSpec> ToolCallConstraint(const ToolRequest& r, ToolCallFormat f);

}  // namespace weft::server
