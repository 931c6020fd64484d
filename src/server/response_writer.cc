#include "server/response_writer.h"

namespace weft::server {

ResponseWriter::ResponseWriter(ResponseContext ctx, int n, const std::vector<std::string>& echo,
                               int64_t prompt_tokens, bool include_usage)
    : ctx_(std::move(ctx)), n_(n), include_usage_(include_usage) {
  choices_.resize(echo.size() * static_cast<size_t>(n));
  for (size_t i = 0; i < choices_.size(); ++i) choices_[i].text = echo[i / static_cast<size_t>(n)];
  started_.assign(choices_.size(), false);
  usage_.prompt_tokens = prompt_tokens;
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

nlohmann::ordered_json ResponseWriter::Full() const { return FullResponse(ctx_, choices_, usage_); }

std::string ResponseWriter::StreamTail() const {
  std::string tail;
  if (include_usage_) tail += SseEvent(UsageChunk(ctx_, usage_));
  return tail + kSseDone;
}

}  // namespace weft::server
