// HttpServer: `weft serve`'s OpenAI-compatible HTTP front end on the event-driven
// transport (server/http/). Routes, API-key auth, capacity (429 beyond max_concurrent +
// max_queued requests), SSE streaming and whole responses that are cancelled when their
// client leaves, metrics and one log line per request.
//
//   HttpServer server(options);
//   server.Start();                  // listening; /health answers 503
//   server.SetModel(engine, tmpl);   // /health 200, generation routes open
//   ...
//   server.Shutdown(deadline);       // 503 to new requests, drain, abort the rest
//
// Limits (body, header, connections, timeouts) are the transport's (TransportOptions);
// JSON bodies are parsed under JsonLimits. Handlers run on the transport's I/O threads and
// never wait for the engine: a generation request goes through its steps
// (server/generate_steps.h) and its write step is a GenerationBody the transport polls.
// Thread-safety: Start/WatchModelFile/SetModel/Shutdown from one controlling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "server/errors.h"
#include "server/generate_steps.h"
#include "server/generation_body.h"
#include "server/http/http_message.h"
#include "server/http/http_transport.h"
#include "server/metrics.h"
#include "server/model_file_guard.h"
#include "server/tool_call_format.h"
#include "tokenizer/model_chat_template.h"
#include "weft/status.h"

namespace weft::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;            // "" = no auth
  std::string served_model_name;  // the id in /v1/models and responses
  int max_concurrent = 64;        // requests the engine runs at once (its max_num_seqs)
  int max_queued = 256;           // requests waiting beyond those; more get 429
  bool log_json = false;
  size_t max_body_bytes = 4u << 20;
  size_t max_connections = 4096;  // open connections; more are answered 503
  int io_threads = 2;
  std::chrono::milliseconds header_timeout{10'000};  // a request's header, from an idle connection
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};   // a client reading no byte this long is dropped
  bool metrics_need_key = false;    // /metrics asks for the API key too (else open, as vLLM's)
  std::vector<std::string> allowed_origins;  // CORS: browser origins allowed ("*": any); empty = off
  std::string version;              // what GET /version reports, e.g. "0.1.0 (abc123, Release)"
  // How the model writes tool calls: "auto" (from the chat template), hermes, llama3, mistral or none.
  std::string tool_call_format = "auto";
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();

  // Binds (an address in use is an error naming it) and starts serving on I/O threads.
  Status Start();
  // Generations are refused (503) and /health reports it once the model file changes.
  // Call before Start (I/O threads read it without a lock).
  void WatchModelFile(ModelFileGuard guard) { model_file_ = std::move(guard); }
  int port() const { return port_; }
  // Opens the generation routes. `chat_template` may be null (chat then answers 400).
  void SetModel(std::unique_ptr<Engine> engine, std::shared_ptr<const ModelChatTemplate> chat_template,
                std::string chat_template_error);
  // Ends every in-flight request with `error` (their unfinished samples get kError), from
  // any thread, without the engine (which may be stuck: a tensor-parallel rank died), and
  // waits up to `wait` for their responses to be written.
  void FailInFlight(const std::string& error, std::chrono::milliseconds wait);
  // Refuses new requests (503), waits up to `deadline` for in-flight ones, cancels the
  // rest, stops listening. Idempotent.
  void Shutdown(std::chrono::milliseconds deadline);

 private:
  // Route: API key, CORS preflight and headers around Dispatch, which picks the handler.
  http::Reply Route(http::HttpRequest&& req);
  http::Reply Dispatch(http::HttpRequest&& req);
  // The CORS response headers for a request from `origin` ("" when none apply).
  std::string AllowedOrigin(std::string_view origin) const;
  void HandleModel(const std::string& id, http::HttpResponse& res);
  std::string NewRequestId(bool chat);
  // A generation request in its steps (server/generate_steps.h): parse (Parse: the
  // server's state and the model file, then the body), admit (AdmitGeneration), run (Run:
  // capacity, then Engine::Submit), write (a GenerationBody). Of these, only HandleGenerate
  // and GenerationBody touch HTTP types.
  http::Reply HandleGenerate(const http::HttpRequest& req, bool chat);
  std::optional<ApiError> Parse(std::string_view body, bool chat, const std::string& id, OpenAIRequest* r);
  std::optional<ApiError> Run(GenerationPlan& plan, GenerationState& g);
  void HandleHealth(http::HttpResponse& res);
  void HandleTokenize(const http::HttpRequest& req, http::HttpResponse& res);
  void HandleDetokenize(const http::HttpRequest& req, http::HttpResponse& res);
  void Finish(GenerationState& g, int http_status);
  void LogRequest(const std::string& id, const std::string& path, int status, int64_t in, int64_t out, double queue_ms,
                  double ttft_ms, double total_ms);
  void LogWarning(const std::string& id, const std::string& message);
  void WriteLog(const std::string& line);

  ServerOptions opt_;
  std::unique_ptr<http::HttpTransport> transport_;
  int port_ = 0;
  ModelFileGuard model_file_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<const ModelChatTemplate> template_;
  std::string template_error_;
  ToolCallFormat tool_format_ = ToolCallFormat::kNone;
  Metrics metrics_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> next_id_{1};
  std::mutex streams_mu_;
  std::set<std::shared_ptr<RequestStream>> streams_;  // guarded by streams_mu_: submitted, unfinished
  std::mutex log_mu_;
  bool shut_down_ = false;
};

}  // namespace weft::server
