// HttpServer: `weft serve`'s OpenAI-compatible HTTP front end on cpp-httplib. Routes,
// API-key auth, body limit, capacity (429 beyond max_concurrent + max_queued requests),
// SSE streaming with cancel-on-disconnect, metrics and one log line per request.
//
//   HttpServer server(options);
//   server.Start();                  // listening; /health answers 503
//   server.SetModel(engine, tmpl);   // /health 200, generation routes open
//   ...
//   server.Shutdown(deadline);       // 503 to new requests, drain, abort the rest
//
// Limits: cpp-httplib caps application/x-www-form-urlencoded bodies at 8 KiB (413);
// clients send JSON as application/json (curl -d needs -H 'Content-Type: application/json').
// A non-streaming request runs to its end even if its client goes away.
// Thread-safety: Start/SetModel/Shutdown from one controlling thread.
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
#include <thread>

#include "engine/engine.h"
#include "server/errors.h"
#include "server/openai_requests.h"
#include "server/metrics.h"
#include "tokenizer/model_chat_template.h"
#include "weft/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

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
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();

  // Binds and starts listening on a background thread.
  Status Start();
  int port() const { return port_; }
  // Opens the generation routes. `chat_template` may be null (chat then answers 400).
  void SetModel(std::unique_ptr<Engine> engine, std::shared_ptr<const ModelChatTemplate> chat_template,
                std::string chat_template_error);
  // Refuses new requests (503), waits up to `deadline` for in-flight ones, cancels the
  // rest, stops listening. Idempotent.
  void Shutdown(std::chrono::milliseconds deadline);

 private:
  struct Generation;

  void Routes();
  std::string NewRequestId(bool chat);
  // A generation request in its steps (server/generate_steps.h): parse (Parse: the
  // server's state, then the body), admit (AdmitGeneration), run (Run: capacity, then
  // Engine::Submit), write (whole, or streamed by WriteStream). Only HandleGenerate and
  // WriteStream touch HTTP types.
  void HandleGenerate(const httplib::Request& req, httplib::Response& res, bool chat);
  std::optional<ApiError> Parse(std::string_view body, bool chat, const std::string& id, OpenAIRequest* r);
  std::optional<ApiError> Run(Generation& g);
  void WriteStream(const std::shared_ptr<Generation>& g, httplib::Response& res);
  void HandleTokenize(const httplib::Request& req, httplib::Response& res);
  void HandleDetokenize(const httplib::Request& req, httplib::Response& res);
  void Finish(Generation& g, int http_status);
  void LogRequest(const std::string& id, const std::string& path, int status, int64_t in, int64_t out, double queue_ms,
                  double ttft_ms, double total_ms);
  void LogWarning(const std::string& id, const std::string& message);

  ServerOptions opt_;
  std::unique_ptr<httplib::Server> http_;
  std::thread listen_thread_;
  int port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<const ModelChatTemplate> template_;
  std::string template_error_;
  Metrics metrics_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> next_id_{1};
  std::mutex streams_mu_;
  std::set<std::shared_ptr<RequestStream>> streams_;  // guarded by streams_mu_: submitted, unfinished
  std::mutex log_mu_;
  bool shut_down_ = false;
};

}  // namespace weft::server
