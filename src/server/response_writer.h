// ResponseWriter: the write step of a generation request (see server/generate_steps.h):
// the outputs of its streams (prompt p, sample s -> choice p * n + s) become the whole
// OpenAI response body, or, streaming, one SSE event per output as it arrives. With
// echo, a choice's text starts with its prompt's text; streaming sends it in the
// choice's first chunk. Free of HTTP types: GenerationBody (server/generation_body.h)
// feeds it and hands what it returns to the transport.
// Ownership: a plain value, owned by its request's GenerationState.
// Thread-safety: none; one request's GenerationBody uses it at a time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/tool_call_format.h"

#include "engine/request.h"
#include "server/openai_responses.h"

namespace weft::server {

class ResponseWriter {
 public:
  // `echo[p]`: prompt p's text when echoing, else "". `include_usage`: streaming ends
  // with a usage chunk (stream_options.include_usage).
  ResponseWriter(ResponseContext ctx, int n, const std::vector<std::string>& echo, int64_t prompt_tokens,
                 bool include_usage);

  // Non-streaming: accumulates one output of prompt `prompt`'s stream.
  void Add(size_t prompt, const RequestOutput& out);
  // Streaming: accumulates it and returns its SSE event ("" when there is nothing to send
  // yet, e.g. half a UTF-8 character).
  std::string AddStreamed(size_t prompt, const RequestOutput& out);

  nlohmann::ordered_json Full() const;  // the whole response body
  std::string StreamTail() const;       // the usage chunk when asked, then [DONE]

  const Usage& usage() const { return usage_; }
  size_t num_choices() const { return choices_.size(); }
  // Why the first choice ended (kNone while it runs): the metrics' finished_reason.
  RequestFinish first_finish() const { return choices_.empty() ? RequestFinish::kNone : choices_[0].finish; }

 private:
  Choice& Accumulate(size_t index, const RequestOutput& out);
  std::string AddStreamedWithTools(size_t index, const RequestOutput& out);
  std::string ToolPieceEvents(size_t index, const std::vector<ToolCallPiece>& pieces);

  ResponseContext ctx_;
  int n_;
  bool include_usage_;
  std::vector<Choice> choices_;  // prompt p, sample s at p * n + s
  std::vector<bool> started_;    // streaming: the choice's first chunk was sent
  std::vector<ToolCallStream> tool_streams_;  // streaming with tool calls on: per choice
  std::vector<std::vector<std::string>> tool_call_ids_;  // per choice: the id of each streamed call
  Usage usage_;
};

}  // namespace weft::server
