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

// Reads the call objects of a call region (the text after the format's marker) as bytes
// arrive: every top-level JSON object is one call (what lies between objects - tags,
// brackets, commas - is skipped: the whole-text parse judges it). For each, its "name"
// once the string is complete, and its arguments value ("arguments"; Llama 3 also
// "parameters") with the whitespace outside strings removed, as it grows. ParseToolCalls
// takes object arguments from here too, so streamed and whole arguments are the same text.
class CallScanner {
 public:
  explicit CallScanner(bool llama3) : llama3_(llama3) {}
  struct Call {
    std::string name;        // decoded, once name_done
    bool name_done = false;
    std::string args;        // compact text of an object/array value, so far
    bool args_object = false;  // the arguments value is an object (only then is args kept)
    bool args_done = false;
    bool closed = false;     // the call object ended
  };
  void Feed(std::string_view bytes);
  const std::vector<Call>& calls() const { return calls_; }

 private:
  enum Member : uint8_t { kKey, kColon, kValue, kAfter };
  enum Value : uint8_t { kOther, kName, kArgs };
  bool llama3_;
  std::vector<Call> calls_;
  int depth_ = 0;
  bool in_str_ = false, esc_ = false, in_key_ = false;
  Member m_ = kKey;
  Value v_ = kOther;
  std::string key_, name_raw_;
};

// One piece of a streamed tool call: the call's first piece carries its name (the
// writer adds id and type), later ones only argument text to append.
struct ToolCallPiece {
  int index = 0;
  std::string name;       // non-empty: the call's first piece
  std::string arguments;  // text to append to the call's arguments
};

struct StreamedOutput {
  std::string content;
  std::vector<ToolCallPiece> pieces;
  bool made_calls = false;  // Finish: the text held valid calls
};

// Streams one choice's text: content goes out as it comes, except what may be the start
// of a tool call, which is held back until it is known. Inside calls, a call goes out
// once its name is complete and names a tool (first piece: name, arguments so far), then
// its arguments piece by piece as generated; at most max_calls calls (> 0). Finish parses
// the whole text (the reference, ParseToolCalls) and sends what it has that was not sent.
// Known limit: a call whose name was streamed but whose text turns out broken (e.g. cut
// by max_tokens) cannot be taken back; the choice then ends with content, not tool_calls.
class ToolCallStream {
 public:
  ToolCallStream(ToolCallFormat f, std::vector<std::string> names, int max_calls)
      : format_(f), names_(std::move(names)), max_calls_(max_calls), scanner_(f == ToolCallFormat::kLlama3) {}
  // Appends `delta`; returns the content and call pieces that can be sent now.
  StreamedOutput Feed(std::string_view delta);
  // The end of the text: what was not sent yet.
  StreamedOutput Finish();

 private:
  void StreamCalls(std::vector<ToolCallPiece>* out);

  ToolCallFormat format_;
  std::vector<std::string> names_;
  int max_calls_;
  std::string text_;
  size_t sent_ = 0;
  bool in_call_ = false;
  size_t scanned_ = 0;  // text_ bytes fed to scanner_
  CallScanner scanner_;
  struct Sent { std::string name, arguments; };
  std::vector<Sent> streamed_;  // per call sent so far
};

}  // namespace weft::server
