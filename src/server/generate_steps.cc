#include "server/generate_steps.h"

#include "tokenizer/chat_prompt.h"

namespace weft::server {
namespace {

// The prompts' token ids (and, for echo, their text).
std::optional<ApiError> TokenizePrompts(const OpenAIRequest& r, const Tokenizer& tok,
                                        const ModelChatTemplate* chat_template, std::string_view template_error,
                                        GenerationPlan* plan) {
  if (r.chat) {
    if (chat_template == nullptr) return BadRequest("chat is not available: " + std::string(template_error), "messages");
    ChatPromptOptions po;
    po.add_generation_prompt = r.add_generation_prompt;
    po.continue_final_message = r.continue_final_message;
    po.add_bos = r.add_special_tokens;
    po.template_kwargs = r.chat_template_kwargs;
    StatusOr<ChatPrompt> p = BuildChatPrompt(*chat_template, tok, r.messages, r.tools, po);
    if (!p.ok()) return FromStatus(p.status());
    plan->prompts.emplace_back().prompt_tokens = std::move(p->tokens);
    plan->echo.emplace_back();
    return std::nullopt;
  }
  EncodeOptions eo;
  eo.add_special = r.add_special_tokens;
  for (const PromptInput& in : r.prompts) {
    GenerationRequest& g = plan->prompts.emplace_back();
    std::string& echo = plan->echo.emplace_back();
    if (const auto* text = std::get_if<std::string>(&in)) {
      g.prompt_tokens = tok.Encode(*text, eo);
      if (r.echo) echo = *text;
    } else {
      g.prompt_tokens = std::get<std::vector<int32_t>>(in);
      if (r.echo) echo = tok.Decode(g.prompt_tokens);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseGenerateBody(std::string_view body, bool chat, std::string_view served_model,
                                          OpenAIRequest* out) {
  nlohmann::ordered_json json;
  if (auto e = ParseJsonBody(body, &json)) return e;
  if (auto e = chat ? ParseChatRequest(json, out) : ParseCompletionRequest(json, out)) return e;
  if (!out->model.empty() && out->model != served_model) {
    return ApiError{404,
                    "the model '" + out->model + "' does not exist; this server serves '" + std::string(served_model) +
                        "'",
                    "model", "model_not_found"};
  }
  return std::nullopt;
}

std::optional<ApiError> AdmitGeneration(OpenAIRequest request, const Engine& engine,
                                        const ModelChatTemplate* chat_template, std::string_view template_error,
                                        ToolCallFormat tool_format, GenerationPlan* plan) {
  plan->request = std::move(request);
  const OpenAIRequest& r = plan->request;
  if (auto e = TokenizePrompts(r, engine.tokenizer(), chat_template, template_error, plan)) return e;
  const int64_t max_len = engine.max_model_len();
  std::shared_ptr<const TokenConstraintFactory> constraint;
  if (r.structured) {
    auto c = grammar::GetStructuredOutput(r.structured->spec, engine.shared_tokenizer());
    if (!c.ok()) return BadRequest(c.status().message(), r.structured->field);
    constraint = std::move(*c);
  }
  if (r.chat && r.tool.active()) {
    if (tool_format == ToolCallFormat::kNone) {
      return BadRequest("tool calls need a tool-call format, and the chat template has none weft knows; start the "
                        "server with --tool-call-format hermes, llama3 or mistral (or send tool_choice none)",
                        "tool_choice");
    }
    using Choice = ToolRequest::Choice;
    auto spec = ToolCallConstraint(r.tool, tool_format);
    if (!spec.ok()) return BadRequest(spec.status().message(), "tools");
    auto c = grammar::GetStructuredOutput(*spec, engine.shared_tokenizer());
    if (c.ok()) {
      constraint = std::move(*c);
    } else if (r.tool.choice != Choice::kAuto) {
      return BadRequest("a tool's parameters cannot be enforced: " + c.status().message(), "tools");
    }
    // auto with parameters the grammar engine cannot express: the output stays free and
    // its calls are parsed as written (the first only, with parallel_tool_calls false),
    // as before calls were enforced (docs/API_FIELDS.md).
  }
  for (GenerationRequest& g : plan->prompts) {
    g.constraint = constraint;
    const auto size = static_cast<int64_t>(g.prompt_tokens.size());
    g.sampling = r.sampling;
    // Mistral's [TOOL_CALLS] is a control token: decoded as text so the call can be found.
    if (r.chat && r.tool.active() && tool_format == ToolCallFormat::kMistral) g.sampling.skip_special_tokens = false;
    g.priority = r.priority;
    g.speculate = r.speculative_decoding;
    g.kv_sinks = r.kv_sinks;
    g.kv_window = r.kv_window;
    g.kv_budget = r.kv_budget;
    g.kv_policy = r.kv_policy;
    // OpenAI's defaults: completions 16 tokens, chat up to the context.
    if (!r.max_tokens_given) g.sampling.max_tokens = r.chat ? static_cast<int>(std::max<int64_t>(1, max_len - size)) : 16;
    Status admitted = engine.CheckAdmission(g);
    if (!admitted.ok()) {
      // A chat prompt is the rendered messages.
      if (r.chat && admitted.field() == "prompt") admitted = std::move(admitted).WithField("messages");
      return FromStatus(admitted);
    }
    plan->prompt_tokens += size;
  }
  return std::nullopt;
}

}  // namespace weft::server
