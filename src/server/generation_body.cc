#include "server/generation_body.h"

#include <chrono>

#include "server/errors.h"

namespace weft::server {
namespace {

// A poll returns after this many bytes so that one busy stream cannot hog its I/O thread;
// the transport polls again once they are written.
constexpr size_t kMaxBytesPerPoll = 64 << 10;

}  // namespace

GenerationBody::GenerationBody(std::shared_ptr<GenerationState> state, Engine* engine, FinishFn finish)
    : g_(std::move(state)), engine_(engine), finish_(std::move(finish)) {}

void GenerationBody::Start(std::function<void()> wake) {
  for (auto& s : g_->streams) s->SetWaker(wake);
}

http::BodySource::State GenerationBody::PollWhole(std::string* out) {
  for (size_t p = 0; p < g_->streams.size(); ++p) {
    while (auto o = g_->streams[p]->Next(std::chrono::milliseconds(0))) g_->writer->Add(p, *o);
  }
  for (const auto& s : g_->streams) {
    if (!s->finished()) return State::kPending;  // its waker fires on the next output
  }
  *out += DumpJson(g_->writer->Full());
  return State::kEnd;
}

http::BodySource::State GenerationBody::PollStream(std::string* out) {
  while (current_ < g_->streams.size()) {
    if (out->size() >= kMaxBytesPerPoll) return State::kPending;
    RequestStream& s = *g_->streams[current_];
    std::optional<RequestOutput> o = s.Next(std::chrono::milliseconds(0));
    if (!o) {
      if (!s.finished()) return State::kPending;  // its waker fires on the next output
      ++current_;
      continue;
    }
    *out += g_->writer->AddStreamed(current_, *o);
  }
  if (!tail_sent_) {
    tail_sent_ = true;
    *out += g_->writer->StreamTail();
  }
  return State::kEnd;
}

http::BodySource::State GenerationBody::Poll(std::string* out) {
  return g_->stream ? PollStream(out) : PollWhole(out);
}

void GenerationBody::Closed(bool complete) {
  if (closed_) return;
  closed_ = true;
  for (auto& s : g_->streams) s->SetWaker(nullptr);
  if (!complete) {
    for (auto& s : g_->streams) engine_->Cancel(*s);
  }
  finish_(*g_, complete ? 200 : 499);
}

}  // namespace weft::server
