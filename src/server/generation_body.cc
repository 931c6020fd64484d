#include "server/generation_body.h"

#include <chrono>

#include "server/errors.h"

namespace weft::server {
namespace {

// A poll returns after this many bytes so that one busy stream cannot hog its I/O thread;
// the transport polls again once they are written.
constexpr size_t kMaxBytesPerPoll = 64 << 10;

}  // namespace

GenerationBody::GenerationBody(std::shared_ptr<GenerationState> state, Engine* engine, FinishFn finish,
                               std::shared_ptr<void> hold)
    : g_(std::move(state)), engine_(engine), finish_(std::move(finish)), hold_(std::move(hold)) {}

void GenerationBody::Start(std::function<void()> wake) {
  for (auto& s : g_->streams) s->SetWaker(wake);
}

void GenerationBody::Absorb(size_t prompt, const RequestOutput& out) {
  const size_t n = static_cast<size_t>(g_->req.sampling.n);
  Choice& c = g_->choices[prompt * n + static_cast<size_t>(out.sample_index)];
  c.text += out.text_delta;
  c.logprobs.insert(c.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
  g_->usage.completion_tokens += static_cast<int64_t>(out.token_ids.size());
  if (out.finish != RequestFinish::kNone) c.finish = out.finish;
}

http::BodySource::State GenerationBody::PollWhole(std::string* out) {
  for (size_t p = 0; p < g_->streams.size(); ++p) {
    while (auto o = g_->streams[p]->Next(std::chrono::milliseconds(0))) Absorb(p, *o);
  }
  for (const auto& s : g_->streams) {
    if (!s->finished()) return State::kPending;
  }
  *out += DumpJson(FullResponse(g_->ctx, g_->choices, g_->usage));
  return State::kEnd;
}

http::BodySource::State GenerationBody::PollStream(std::string* out) {
  GenerationState& g = *g_;
  const size_t n = static_cast<size_t>(g.req.sampling.n);
  while (g.current < g.streams.size()) {
    if (out->size() >= kMaxBytesPerPoll) return State::kPending;
    RequestStream& s = *g.streams[g.current];
    std::optional<RequestOutput> o = s.Next(std::chrono::milliseconds(0));
    if (!o) {
      if (!s.finished()) return State::kPending;  // its waker fires on the next output
      ++g.current;
      continue;
    }
    const size_t index = g.current * n + static_cast<size_t>(o->sample_index);
    Choice& c = g.choices[index];
    const int64_t offset = static_cast<int64_t>(c.text.size());
    c.text += o->text_delta;
    g.usage.completion_tokens += static_cast<int64_t>(o->token_ids.size());
    c.finish = o->finish;
    if (o->text_delta.empty() && o->finish == RequestFinish::kNone && o->logprobs.empty() && g.started[index]) {
      continue;  // nothing to say yet (e.g. a partial UTF-8 character)
    }
    const bool first = !g.started[index];
    g.started[index] = true;
    *out += SseEvent(StreamChunk(g.ctx, static_cast<int>(index), o->text_delta, o->logprobs, offset, first, o->finish,
                                 g.req.include_usage));
  }
  if (!g.done_sent) {
    g.done_sent = true;
    if (g.req.include_usage) *out += SseEvent(UsageChunk(g.ctx, g.usage));
    *out += kSseDone;
  }
  return State::kEnd;
}

http::BodySource::State GenerationBody::Poll(std::string* out) {
  return g_->req.stream ? PollStream(out) : PollWhole(out);
}

void GenerationBody::Closed(bool complete) {
  if (closed_) return;
  closed_ = true;
  for (auto& s : g_->streams) s->SetWaker(nullptr);
  if (!complete) {
    for (auto& s : g_->streams) engine_->Cancel(*s);
  }
  finish_(*g_, complete ? 200 : 499);
  hold_.reset();
}

}  // namespace weft::server
