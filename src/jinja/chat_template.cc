#include "jinja/chat_template.h"

#include <new>

#include "jinja/json_io.h"
#include "jinja/parser.h"

namespace weft {

struct ChatTemplate::Impl {
  std::string source;
  jinja::Body body;
  jinja::RenderConfig config;
};

namespace {

Status ToStatus(const jinja::TemplateError& e) {
  std::string msg = e.what();
  if (e.kind() != jinja::ErrorKind::kSyntax && e.kind() != jinja::ErrorKind::kRaised && e.loc().line > 0)
    msg += " (template line " + std::to_string(e.loc().line) + ":" + std::to_string(e.loc().column) + ")";
  msg = "chat template: " + msg;
  if (e.kind() == jinja::ErrorKind::kLimit) return ResourceExhaustedError(std::move(msg));
  return InvalidArgumentError(std::move(msg));
}

template <typename Json>
StatusOr<std::string> RenderImpl(const ChatTemplate::Impl& impl, const Json& context) {
  if (!context.is_object()) return InvalidArgumentError("chat template: the context must be a JSON object");
  jinja::ContainerTracker tracker;
  std::string out;
  Status status;
  {
    // Values live in this block; the tracker empties every container before they are
    // destroyed, so reference cycles and deep nesting free without recursion.
    jinja::Value ctx;
    jinja::Interpreter interp(impl.config);
    try {
      ctx = jinja::FromJson(context);
      out = interp.Render(impl.body, ctx);
    } catch (const jinja::TemplateError& e) {
      status = ToStatus(e);
    } catch (const std::bad_alloc&) {
      status = ResourceExhaustedError("chat template: out of memory while rendering");
    } catch (const std::exception& e) {
      status = InternalError(std::string("chat template: ") + e.what());
    }
    tracker.ReleaseAll();
  }
  if (!status.ok()) return status;
  return out;
}

}  // namespace

StatusOr<ChatTemplate> ChatTemplate::Parse(std::string source, ChatTemplateOptions options) {
  if (source.size() > options.max_source_bytes)
    return InvalidArgumentError("chat template: source is " + std::to_string(source.size()) +
                                " bytes, more than the limit of " + std::to_string(options.max_source_bytes));
  auto impl = std::make_shared<Impl>();
  impl->config.limits = options.limits;
  impl->config.fixed_now = options.now;
  try {
    jinja::LexerOptions lex;
    lex.trim_blocks = options.trim_blocks;
    lex.lstrip_blocks = options.lstrip_blocks;
    jinja::ParserLimits limits;
    limits.max_nesting = options.max_parse_nesting;
    impl->body = jinja::ParseTemplate(source, lex, limits);
  } catch (const jinja::TemplateError& e) {
    return ToStatus(e);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("chat template: out of memory while parsing");
  }
  impl->source = std::move(source);
  return ChatTemplate(std::move(impl));
}

StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context) const {
  return RenderImpl(*impl_, context);
}
StatusOr<std::string> ChatTemplate::Render(const nlohmann::json& context) const { return RenderImpl(*impl_, context); }

nlohmann::ordered_json ChatTemplate::BuildContext(const ChatInputs& in) {
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = in.messages;
  if (!in.tools.is_null()) ctx["tools"] = in.tools;
  ctx["add_generation_prompt"] = in.add_generation_prompt;
  ctx["bos_token"] = in.bos_token;
  ctx["eos_token"] = in.eos_token;
  if (in.extra.is_object()) {
    for (auto it = in.extra.begin(); it != in.extra.end(); ++it) ctx[it.key()] = it.value();
  }
  return ctx;
}

const std::string& ChatTemplate::source() const { return impl_->source; }

}  // namespace weft
