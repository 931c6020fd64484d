// GenerationBody: the write step of one /v1/completions or /v1/chat/completions request
// (see server/generate_steps.h), as the transport's BodySource. Streaming: SSE events as
// the engine produces them; otherwise the whole JSON response once every choice has
// finished. What the events and the body say (choices, echo, usage, [DONE]) is
// ResponseWriter's; this class only moves the engine's outputs into it. Output is pulled
// from the engine's RequestStreams only when the transport asks (after the previous
// write went out), so a slow reader holds its own tokens back and nothing else.
//
// Ownership: GenerationState is shared by the body and the server (its Finish); the body
// owns the streams' wakers. Thread-safety: Start/Poll/Closed on the connection's strand
// (one at a time); the wakers it installs run on the engine thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/http/http_message.h"
#include "server/response_writer.h"

namespace weft::server {

// One generation request in flight: its streams, its response so far, its timing.
struct GenerationState {
  std::string id, path;
  int64_t arrival_ns = 0;
  bool stream = false;                                  // SSE, else one JSON body
  std::vector<std::shared_ptr<RequestStream>> streams;  // one per prompt
  std::optional<ResponseWriter> writer;                 // set before the body starts
  std::shared_ptr<void> capacity;                       // the server's in-flight share, until Finish
};

class GenerationBody : public http::BodySource {
 public:
  // `finish(state, http_status)` runs once, from Closed: 200 when the whole response went
  // out, 499 when the client left (the streams are cancelled first).
  using FinishFn = std::function<void(GenerationState&, int http_status)>;
  GenerationBody(std::shared_ptr<GenerationState> state, Engine* engine, FinishFn finish);

  void Start(std::function<void()> wake) override;
  State Poll(std::string* out) override;
  void Closed(bool complete) override;

 private:
  State PollStream(std::string* out);
  State PollWhole(std::string* out);

  std::shared_ptr<GenerationState> g_;
  Engine* engine_;
  FinishFn finish_;
  size_t current_ = 0;  // streaming: the stream being read
  bool tail_sent_ = false;
  bool closed_ = false;
};

}  // namespace weft::server
