// GenerationBody: one /v1/completions or /v1/chat/completions request in flight, as the
// transport's BodySource. Streaming: SSE events as the engine produces them; otherwise
// the whole JSON response once every choice has finished. Output is pulled from the
// engine's RequestStreams only when the transport asks (after the previous write went
// out), so a slow reader holds its own tokens back and nothing else.
//
// Ownership: shared by the transport (as a BodySource) and the server; owns the streams'
// wakers. Thread-safety: Start/Poll/Closed on the connection's strand (one at a time);
// the wakers it installs run on the engine thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/http/http_message.h"
#include "server/openai_requests.h"
#include "server/openai_responses.h"

namespace weft::server {

// What a generation produced so far, and its timing.
struct GenerationState {
  std::string id, path;
  ResponseContext ctx;
  OpenAIRequest req;
  std::vector<std::shared_ptr<RequestStream>> streams;  // one per prompt
  std::vector<Choice> choices;                          // prompt p, sample s at p * n + s
  std::vector<bool> started;                            // a chunk of the choice was sent
  Usage usage;
  size_t current = 0;  // streaming: the stream being read
  int64_t arrival_ns = 0;
  bool done_sent = false;
};

class GenerationBody : public http::BodySource {
 public:
  // `finish(state, http_status)` runs once, from Closed: 200 when the whole response went
  // out, 499 when the client left (the streams are cancelled first). `hold` is kept alive
  // until then (e.g. the server's in-flight count).
  using FinishFn = std::function<void(GenerationState&, int http_status)>;
  GenerationBody(std::shared_ptr<GenerationState> state, Engine* engine, FinishFn finish, std::shared_ptr<void> hold);

  void Start(std::function<void()> wake) override;
  State Poll(std::string* out) override;
  void Closed(bool complete) override;

 private:
  State PollStream(std::string* out);
  State PollWhole(std::string* out);
  void Absorb(size_t prompt, const RequestOutput& out);

  std::shared_ptr<GenerationState> g_;
  Engine* engine_;
  FinishFn finish_;
  std::shared_ptr<void> hold_;
  bool closed_ = false;
};

}  // namespace weft::server
