// Tool-call formats: how a model writes a function call in its output, and reading
// those calls back out of the generated text (whole, or streamed a delta at a time).
//
//   hermes   Hermes 2/3, Qwen 2.5/3: <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>,
//            one block per call; text before the first block is content.
//   llama3   Llama 3.1+ JSON tool calling: the whole output is {"name": N, "parameters": {...}}
//            ("arguments" accepted too), optionally after <|python_tag|>; one call.
//   mistral  Mistral v3 / Nemo: [TOOL_CALLS][{"name": N, "arguments": {...}}, ...]; text
//            before the marker is content. ([TOOL_CALLS] is a control token of those
//            vocabularies: requests decode it as text, see tool_request.h.)
//
// The format comes from the chat template's text (DetectToolCallFormat) unless
// `weft serve --tool-call-format` names one.
// Thread-safety: pure functions; ToolCallStream is one choice's, used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::server {

enum class ToolCallFormat : uint8_t { kNone, kHermes, kLlama3, kMistral };

const char* ToolCallFormatName(ToolCallFormat f);  // "none", "hermes", "llama3", "mistral"
// "none" / "hermes" / "llama3" / "mistral"; nullopt for anything else.
std::optional<ToolCallFormat> ParseToolCallFormat(std::string_view name);
// The format a chat template renders tool calls in (kNone when it has no tool calls or
// none weft knows).
ToolCallFormat DetectToolCallFormat(std::string_view template_text);

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // compact JSON text of an object
};

struct ParsedOutput {
  std::string content;               // the text that is not a tool call
  std::vector<ParsedToolCall> calls;  // empty: the whole text is content
};

// Reads the tool calls out of `text`. Calls are returned only when every call in the text
// parses, names one of `names` and has an object as arguments; otherwise the whole text is
// content (a model that writes a broken call gets its text back, as vLLM does).
// `max_calls` > 0 keeps only the first max_calls (parallel_tool_calls false: 1).
ParsedOutput ParseToolCalls(ToolCallFormat f, std::string_view text, const std::vector<std::string>& names,
                            int max_calls = 0);

// Streams one choice's text: content goes out as it comes, except what may be the start
// of a tool call, which is held back until it is known. Once a call has started, nothing
// more is sent until Finish, which parses the whole text.
class ToolCallStream {
 public:
  ToolCallStream(ToolCallFormat f, std::vector<std::string> names, int max_calls)
      : format_(f), names_(std::move(names)), max_calls_(max_calls) {}
  // Appends `delta`; returns the content that can be sent now.
  std::string Feed(std::string_view delta);
  // The end of the text: the content not sent yet and the calls (if the text held any).
  ParsedOutput Finish();

 private:
  ToolCallFormat format_;
  std::vector<std::string> names_;
  int max_calls_;
  std::string text_;
  size_t sent_ = 0;
  bool in_call_ = false;
};

}  // namespace weft::server
