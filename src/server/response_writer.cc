#include "server/response_writer.h"

namespace weft::server {

ResponseWriter::ResponseWriter(ResponseContext ctx, int n, const std::vector<std::string>& echo,
                               int64_t prompt_tokens, bool include_usage)
    : ctx_(std::move(ctx)), n_(n), include_usage_(include_usage) {
  choices_.resize(echo.size() * static_cast<size_t>(n));
  for (size_t i = 0; i < choices_.size(); ++i) choices_[i].text = echo[i / static_cast<size_t>(n)];
  started_.assign(choices_.size(), false);
  usage_.prompt_tokens = prompt_tokens;
  if (ctx_.chat && ctx_.tool_format != ToolCallFormat::kNone) {
    for (size_t i = 0; i < choices_.size(); ++i) {
      tool_streams_.emplace_back(ctx_.tool_format, ctx_.tool_names, ctx_.max_tool_calls);
    }
  }
}

Choice& ResponseWriter::Accumulate(size_t index, const RequestOutput& out) {
  Choice& c = choices_.at(index);
  c.text += out.text_delta;
  c.logprobs.insert(c.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
  usage_.completion_tokens += static_cast<int64_t>(out.token_ids.size());
  if (out.finish != RequestFinish::kNone) c.finish = out.finish;
  return c;
}

void ResponseWriter::Add(size_t prompt, const RequestOutput& out) {
  Accumulate(prompt * static_cast<size_t>(n_) + static_cast<size_t>(out.sample_index), out);
}

std::string ResponseWriter::AddStreamed(size_t prompt, const RequestOutput& out) {
  const size_t index = prompt * static_cast<size_t>(n_) + static_cast<size_t>(out.sample_index);
  if (!tool_streams_.empty()) return AddStreamedWithTools(index, out);
  const auto offset = static_cast<int64_t>(choices_.at(index).text.size());
  const Choice& c = Accumulate(index, out);
  const bool first = !started_[index];
  if (!first && out.text_delta.empty() && out.finish == RequestFinish::kNone && out.logprobs.empty()) return "";
  started_[index] = true;
  // The first chunk carries everything the choice has: the echoed prompt, then the delta.
  const std::string& delta = first ? c.text : out.text_delta;
  return SseEvent(StreamChunk(ctx_, static_cast<int>(index), delta, out.logprobs, offset, first, out.finish,
                              include_usage_));
}

// Content goes out as it comes except what may begin a tool call; at the end of the choice
// its calls (if the text held valid ones) go out in one delta.tool_calls chunk, then the
// finish chunk ("tool_calls" when it made calls).
std::string ResponseWriter::AddStreamedWithTools(size_t index, const RequestOutput& out) {
  Accumulate(index, out);
  ToolCallStream& ts = tool_streams_[index];
  std::string content = ts.Feed(out.text_delta);
  const bool first = !started_[index];
  const int i = static_cast<int>(index);
  if (out.finish == RequestFinish::kNone) {
    if (!first && content.empty() && out.logprobs.empty()) return "";
    started_[index] = true;
    return SseEvent(StreamChunk(ctx_, i, content, out.logprobs, 0, first, RequestFinish::kNone, include_usage_));
  }
  ParsedOutput p = ts.Finish();
  content += p.content;
  std::string events;
  if (first || !content.empty() || !out.logprobs.empty()) {
    events += SseEvent(StreamChunk(ctx_, i, content, out.logprobs, 0, first, RequestFinish::kNone, include_usage_));
  }
  started_[index] = true;
  if (!p.calls.empty()) events += SseEvent(ToolCallsChunk(ctx_, i, p.calls, include_usage_));
  events += SseEvent(FinishChunk(ctx_, i, ChoiceFinishReason(out.finish, !p.calls.empty()), include_usage_));
  return events;
}

nlohmann::ordered_json ResponseWriter::Full() const { return FullResponse(ctx_, choices_, usage_); }

std::string ResponseWriter::StreamTail() const {
  std::string tail;
  if (include_usage_) tail += SseEvent(UsageChunk(ctx_, usage_));
  return tail + kSseDone;
}

}  // namespace weft::server
