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
    tool_call_ids_.resize(choices_.size());
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

// Content goes out as it comes except what may begin a tool call; a call goes out as
// OpenAI streams it: a first delta.tool_calls chunk with index, id, type and name (and the
// arguments so far, often ""), then argument fragments as they are generated. At the end
// what the whole-text parse has that was not sent, then the finish chunk ("tool_calls"
// when the choice made calls).
std::string ResponseWriter::ToolPieceEvents(size_t index, const std::vector<ToolCallPiece>& pieces) {
  std::string events;
  std::vector<std::string>& ids = tool_call_ids_[index];
  for (const ToolCallPiece& p : pieces) {
    if (!p.name.empty()) {
      if (ids.size() <= static_cast<size_t>(p.index)) ids.resize(static_cast<size_t>(p.index) + 1);
      ids[static_cast<size_t>(p.index)] = NewToolCallId(ctx_.tool_format);
    }
    events += SseEvent(ToolCallPieceChunk(ctx_, static_cast<int>(index), p,
                                          p.name.empty() ? "" : ids[static_cast<size_t>(p.index)], include_usage_));
  }
  return events;
}

std::string ResponseWriter::AddStreamedWithTools(size_t index, const RequestOutput& out) {
  Accumulate(index, out);
  ToolCallStream& ts = tool_streams_[index];
  StreamedOutput fed = ts.Feed(out.text_delta);
  const bool first = !started_[index];
  const int i = static_cast<int>(index);
  std::string events;
  if (first || !fed.content.empty() || !out.logprobs.empty()) {
    events += SseEvent(StreamChunk(ctx_, i, fed.content, out.logprobs, 0, first, RequestFinish::kNone, include_usage_));
    started_[index] = true;
  }
  events += ToolPieceEvents(index, fed.pieces);
  if (out.finish == RequestFinish::kNone) return events;
  StreamedOutput fin = ts.Finish();
  if (!fin.content.empty()) {
    events += SseEvent(StreamChunk(ctx_, i, fin.content, {}, 0, false, RequestFinish::kNone, include_usage_));
  }
  events += ToolPieceEvents(index, fin.pieces);
  events += SseEvent(FinishChunk(ctx_, i, ChoiceFinishReason(out.finish, fin.made_calls), include_usage_));
  return events;
}

nlohmann::ordered_json ResponseWriter::Full() const { return FullResponse(ctx_, choices_, usage_); }

std::string ResponseWriter::StreamTail() const {
  std::string tail;
  if (include_usage_) tail += SseEvent(UsageChunk(ctx_, usage_));
  return tail + kSseDone;
}

}  // namespace weft::server
