// The first steps of a /v1/completions or /v1/chat/completions request, free of HTTP
// types (HttpServer glues them to its transport):
//
//   parse  ParseGenerateBody: body text -> OpenAIRequest (field policy, types, ranges,
//          the model name)
//   admit  AdmitGeneration: OpenAIRequest -> GenerationPlan: the prompts tokenized (chat
//          through BuildChatPrompt), each checked by Engine::CheckAdmission, so that a
//          request with several prompts is refused whole before any of them is queued
//   run    HttpServer::Run: capacity (429), Engine::Submit of every prompt
//   write  GenerationBody (server/generation_body.h), polled by the transport, moves the
//          outputs into ResponseWriter (server/response_writer.h): JSON body or SSE events
//
// Every refusal is an ApiError naming the field at fault (from Status::field()).
// Thread-safety: pure functions; the Engine and template are used read-only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "server/errors.h"
#include "server/openai_requests.h"
#include "server/tool_call_format.h"
#include "tokenizer/model_chat_template.h"

namespace weft::server {

// Parses `body` as a completions (chat = false) or chat request; a `model` other than
// `served_model` is a 404 (model_not_found).
std::optional<ApiError> ParseGenerateBody(std::string_view body, bool chat, std::string_view served_model,
                                          OpenAIRequest* out);

struct GenerationPlan {
  OpenAIRequest request;
  std::vector<GenerationRequest> prompts;  // one per prompt, in order, each admitted
  std::vector<std::string> echo;           // per prompt: its text when request.echo, else ""
  int64_t prompt_tokens = 0;               // summed over the prompts
};

// `chat_template` may be null (chat then answers 400 with `template_error`).
// `tool_format`: how the model writes tool calls (requests with tool_choice other than none
// need one; required / named ones are constrained to it).
std::optional<ApiError> AdmitGeneration(OpenAIRequest request, const Engine& engine,
                                        const ModelChatTemplate* chat_template, std::string_view template_error,
                                        ToolCallFormat tool_format, GenerationPlan* plan);

}  // namespace weft::server
