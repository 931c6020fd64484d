#include "server/http_server.h"

#include <httplib.h>
#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "server/errors.h"
#include "server/generate_steps.h"
#include "server/openai_responses.h"
#include "server/response_writer.h"

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SendError(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(e.Body(), "application/json");
}

void SendJson(httplib::Response& res, const Json& j) {
  res.status = 200;
  res.set_content(DumpJson(j), "application/json");
}

bool IsGenerationPath(const std::string& path) {
  return path == "/v1/completions" || path == "/v1/chat/completions";
}

// Holds `n` of a counter until destroyed.
struct InFlightGuard {
  InFlightGuard(std::atomic<int64_t>* c, int64_t k) : counter(c), n(k) {}
  InFlightGuard(const InFlightGuard&) = delete;
  InFlightGuard& operator=(const InFlightGuard&) = delete;
  ~InFlightGuard() { counter->fetch_sub(n); }
  std::atomic<int64_t>* counter;
  int64_t n;
};

}  // namespace

// One generation request in flight: what it asks, its streams, its response, its timing.
struct HttpServer::Generation {
  // Streaming: the next SSE text to send. kSome: `event` (may be empty) and more to come;
  // kIdle: nothing within the wait; kDone: `event` is the tail (empty if sent before).
  enum class Event : uint8_t { kSome, kIdle, kDone };
  Event NextEvent(std::string* event);

  std::string id, path;
  GenerationPlan plan;
  std::vector<std::shared_ptr<RequestStream>> streams;  // one per prompt
  std::optional<ResponseWriter> writer;
  std::unique_ptr<InFlightGuard> capacity;  // its share of in_flight_, until the request ends
  size_t current = 0;              // streaming: the stream being read
  int64_t arrival_ns = 0;
  bool finished = false;  // Finish ran
  bool done_sent = false;
};

HttpServer::HttpServer(ServerOptions options) : opt_(std::move(options)), http_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Status HttpServer::Start() {
  const size_t threads = static_cast<size_t>(std::min(2048, opt_.max_concurrent + opt_.max_queued + 16));
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(opt_.max_body_bytes);
  http_->set_read_timeout(10, 0);
  http_->set_write_timeout(10, 0);
  http_->set_keep_alive_timeout(5);
  // Stream chunks are small writes: without TCP_NODELAY, Nagle holds each one back until
  // the previous is acknowledged, and a client's delayed ACK makes that ~40 ms (measured
  // with weft bench serve: the first token arrived 40 ms late, the rest all at once).
  http_->set_tcp_nodelay(true);
  Routes();
  if (opt_.port == 0) {
    port_ = http_->bind_to_any_port(opt_.host);
    if (port_ <= 0) return UnavailableError(fmt::format("cannot listen on {}: no free port", opt_.host));
  } else {
    if (!http_->bind_to_port(opt_.host, opt_.port)) {
      return UnavailableError(fmt::format("cannot listen on {}:{} (in use, or not an address of this host)", opt_.host,
                                          opt_.port));
    }
    port_ = opt_.port;
  }
  listen_thread_ = std::thread([this] { http_->listen_after_bind(); });
  return Status::Ok();
}

void HttpServer::SetModel(std::unique_ptr<Engine> engine, std::shared_ptr<const ModelChatTemplate> chat_template,
                          std::string chat_template_error) {
  engine_ = std::move(engine);
  template_ = std::move(chat_template);
  template_error_ = std::move(chat_template_error);
  if (opt_.served_model_name.empty()) opt_.served_model_name = "weft";
  ready_.store(true);
}

void HttpServer::Shutdown(std::chrono::milliseconds deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  draining_.store(true);
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (const auto& s : streams_) {
      if (engine_) engine_->Cancel(*s);
    }
  }
  // Aborted streams finish promptly; give their handlers a moment to write the end.
  const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < grace) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  http_->stop();
  if (listen_thread_.joinable()) listen_thread_.join();
  engine_.reset();
}

void HttpServer::LogRequest(const std::string& id, const std::string& path, int status, int64_t in, int64_t out,
                            double queue_ms, double ttft_ms, double total_ms) {
  std::string line;
  if (opt_.log_json) {
    Json j;
    j["ts"] = static_cast<int64_t>(std::time(nullptr));
    j["id"] = id;
    j["path"] = path;
    j["status"] = status;
    j["prompt_tokens"] = in;
    j["completion_tokens"] = out;
    j["queue_ms"] = queue_ms;
    j["ttft_ms"] = ttft_ms;
    j["total_ms"] = total_ms;
    line = DumpJson(j);
  } else {
    line = fmt::format("request {} {} status={} tokens_in={} tokens_out={} queue_ms={:.1f} ttft_ms={:.1f} total_ms={:.1f}",
                       id, path, status, in, out, queue_ms, ttft_ms, total_ms);
  }
  std::lock_guard<std::mutex> lock(log_mu_);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void HttpServer::LogWarning(const std::string& id, const std::string& message) {
  std::string line;
  if (opt_.log_json) {
    Json j;
    j["ts"] = static_cast<int64_t>(std::time(nullptr));
    j["id"] = id;
    j["warning"] = message;
    line = DumpJson(j);
  } else {
    line = fmt::format("request {} warning: {}", id, message);
  }
  std::lock_guard<std::mutex> lock(log_mu_);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void HttpServer::Routes() {
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/health" || opt_.api_key.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string auth = req.get_header_value("Authorization");
    std::string key;
    if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
    if (key.empty()) key = req.get_header_value("x-api-key");
    if (key != opt_.api_key) {
      SendError(res, ApiError{401, key.empty() ? "missing API key: send 'Authorization: Bearer KEY'" : "invalid API key",
                              "", "invalid_api_key"});
      LogRequest("-", req.path, 401, 0, 0, 0, 0, 0);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e{res.status, "", "", ""};
    if (res.status == 404) {
      e.message = "no route " + req.method + " " + req.path;
    } else if (res.status == 413) {
      e.message = "the request body is over the size limit";
    } else if (res.status == 405) {
      e.message = "method " + req.method + " is not allowed on " + req.path;
    } else {
      e.message = "HTTP error " + std::to_string(res.status);
    }
    res.set_content(e.Body(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    SendError(res, ApiError{500, what, "", ""});
  });
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (IsGenerationPath(req.path) || res.status == 401) return;  // logged by their handlers
    if (req.path == "/health" || req.path == "/metrics") return;
    LogRequest("-", req.path, res.status, 0, 0, 0, 0, 0);
  });

  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready_.load() || draining_.load()) {
      SendError(res, ApiError{503, ready_.load() ? "shutting down" : "loading the model", "", ""});
      return;
    }
    res.status = 200;
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const EngineStats stats = ready_.load() ? engine_->Stats() : EngineStats{};
    res.status = 200;
    res.set_content(metrics_.Render(stats, in_flight_.load()), "text/plain; version=0.0.4");
  });
  http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready_.load()) return SendError(res, ApiError{503, "loading the model", "", ""});
    Json m;
    m["id"] = opt_.served_model_name;
    m["object"] = "model";
    m["created"] = static_cast<int64_t>(std::time(nullptr));
    m["owned_by"] = "weft";
    m["max_model_len"] = engine_->max_model_len();
    SendJson(res, Json{{"object", "list"}, {"data", Json::array({m})}});
  });
  http_->Post("/v1/completions",
              [this](const httplib::Request& req, httplib::Response& res) { HandleGenerate(req, res, false); });
  http_->Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) { HandleGenerate(req, res, true); });
  http_->Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) { HandleTokenize(req, res); });
  http_->Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) { HandleDetokenize(req, res); });
}

void HttpServer::HandleTokenize(const httplib::Request& req, httplib::Response& res) {
  if (!ready_.load()) return SendError(res, ApiError{503, "loading the model", "", ""});
  Json body;
  if (auto e = ParseJsonBody(req.body, &body)) return SendError(res, *e);
  if (!body.is_object()) return SendError(res, BadRequest("the request body must be a JSON object"));
  auto p = body.find("prompt");
  if (p == body.end() || !p->is_string()) return SendError(res, BadRequest("'prompt' must be a string", "prompt"));
  bool add_special = true;
  if (auto a = body.find("add_special_tokens"); a != body.end() && !a->is_null()) {
    if (!a->is_boolean()) return SendError(res, BadRequest("'add_special_tokens' must be a boolean", "add_special_tokens"));
    add_special = a->get<bool>();
  }
  EncodeOptions eo;
  eo.add_special = add_special;
  const std::vector<int32_t> ids = engine_->tokenizer().Encode(p->get<std::string>(), eo);
  Json j;
  j["tokens"] = ids;
  j["count"] = ids.size();
  j["max_model_len"] = engine_->max_model_len();
  SendJson(res, j);
}

void HttpServer::HandleDetokenize(const httplib::Request& req, httplib::Response& res) {
  if (!ready_.load()) return SendError(res, ApiError{503, "loading the model", "", ""});
  Json body;
  if (auto e = ParseJsonBody(req.body, &body)) return SendError(res, *e);
  if (!body.is_object()) return SendError(res, BadRequest("the request body must be a JSON object"));
  auto t = body.find("tokens");
  if (t == body.end() || !t->is_array()) return SendError(res, BadRequest("'tokens' must be an array of token ids", "tokens"));
  std::vector<int32_t> ids;
  for (const Json& x : *t) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= engine_->tokenizer().n_vocab()) {
      return SendError(res, BadRequest("'tokens' must be an array of token ids in the vocabulary", "tokens"));
    }
    ids.push_back(static_cast<int32_t>(x.get<int64_t>()));
  }
  SendJson(res, Json{{"prompt", engine_->tokenizer().Decode(ids)}});
}

void HttpServer::Finish(Generation& g, int http_status) {
  if (g.finished) return;
  g.finished = true;
  const int64_t end = NowNs();
  double queue_ms = 0, ttft_ms = -1;
  const Usage usage = g.writer ? g.writer->usage() : Usage{};
  const auto num_choices = static_cast<int64_t>(g.writer ? g.writer->num_choices() : 0);
  RequestRecord rec;
  rec.http_status = http_status;
  rec.prompt_tokens = usage.prompt_tokens;
  rec.generated_tokens = usage.completion_tokens;
  if (!g.streams.empty()) {
    const RequestStream& s = *g.streams[0];
    queue_ms = static_cast<double>(s.queued_ns.load()) / 1e6;
    const int64_t first = s.first_token_ns.load();
    if (first > 0) {
      ttft_ms = static_cast<double>(first - g.arrival_ns) / 1e6;
      rec.ttft_s = ttft_ms / 1e3;
      const int64_t per_choice = num_choices == 0 ? 0 : usage.completion_tokens / num_choices;
      if (per_choice > 1) rec.tpot_s = static_cast<double>(end - first) / 1e9 / static_cast<double>(per_choice - 1);
    }
  }
  const double total_ms = static_cast<double>(end - g.arrival_ns) / 1e6;
  rec.e2e_s = total_ms / 1e3;
  metrics_.Record(rec);
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (const auto& s : g.streams) streams_.erase(s);
  }
  LogRequest(g.id, g.path, http_status, usage.prompt_tokens, usage.completion_tokens, queue_ms, ttft_ms, total_ms);
}

std::string HttpServer::NewRequestId(bool chat) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}-{:x}{:012x}", chat ? "chatcmpl" : "cmpl", next_id_.fetch_add(1), rng() & 0xffffffffffffULL);
}

void HttpServer::HandleGenerate(const httplib::Request& req, httplib::Response& res, bool chat) {
  auto g = std::make_shared<Generation>();
  g->arrival_ns = NowNs();
  g->path = req.path;
  g->id = NewRequestId(chat);
  OpenAIRequest r;
  std::optional<ApiError> e = Parse(req.body, chat, g->id, &r);
  if (!e) e = AdmitGeneration(std::move(r), *engine_, template_.get(), template_error_, &g->plan);
  if (!e) e = Run(*g);
  if (e) {
    SendError(res, *e);
    RequestRecord rec;
    rec.http_status = e->http_status;
    metrics_.Record(rec);
    LogRequest(g->id, g->path, e->http_status, 0, 0, 0, 0, static_cast<double>(NowNs() - g->arrival_ns) / 1e6);
    return;
  }
  if (g->plan.request.stream) return WriteStream(g, res);
  // Non-streaming: the whole response once every stream has finished.
  for (size_t p = 0; p < g->streams.size(); ++p) {
    while (auto out = g->streams[p]->Next()) g->writer->Add(p, *out);
  }
  SendJson(res, g->writer->Full());
  Finish(*g, 200);
}

std::optional<ApiError> HttpServer::Parse(std::string_view body, bool chat, const std::string& id, OpenAIRequest* r) {
  if (!ready_.load()) return ApiError{503, "the model is still loading", "", ""};
  if (draining_.load()) return ApiError{503, "the server is shutting down", "", ""};
  if (auto e = ParseGenerateBody(body, chat, opt_.served_model_name, r)) return e;
  if (!r->unknown_fields.empty()) {
    std::string names;
    for (const std::string& f : r->unknown_fields) names += (names.empty() ? "'" : ", '") + f + "'";
    LogWarning(id, "ignored fields that weft does not know: " + names);
  }
  return std::nullopt;
}

std::optional<ApiError> HttpServer::Run(Generation& g) {
  // Capacity: refuse rather than queue without bound.
  const auto want = static_cast<int64_t>(g.plan.prompts.size());
  const int64_t limit = static_cast<int64_t>(opt_.max_concurrent) + opt_.max_queued;
  if (in_flight_.fetch_add(want) + want > limit) {
    in_flight_.fetch_sub(want);
    return ApiError{429, "the server is over capacity; retry later", "", "over_capacity"};
  }
  g.capacity = std::make_unique<InFlightGuard>(&in_flight_, want);
  const OpenAIRequest& r = g.plan.request;
  ResponseContext ctx;
  ctx.id = g.id;
  ctx.created = static_cast<int64_t>(std::time(nullptr));
  ctx.model = opt_.served_model_name;
  ctx.chat = r.chat;
  ctx.logprobs = r.sampling.logprobs >= 0;
  ctx.tokenizer = &engine_->tokenizer();
  g.writer.emplace(std::move(ctx), r.sampling.n, g.plan.echo, g.plan.prompt_tokens, r.include_usage);
  for (GenerationRequest& p : g.plan.prompts) {
    StatusOr<std::shared_ptr<RequestStream>> s = engine_->Submit(std::move(p));
    if (!s.ok()) {  // admitted already: only a shutting-down engine refuses now
      for (auto& done : g.streams) engine_->Cancel(*done);
      return FromStatus(s.status());
    }
    std::lock_guard<std::mutex> lock(streams_mu_);
    streams_.insert(*s);
    g.streams.push_back(std::move(*s));
  }
  return std::nullopt;
}

HttpServer::Generation::Event HttpServer::Generation::NextEvent(std::string* event) {
  event->clear();
  if (current >= streams.size()) {
    if (!done_sent) *event = writer->StreamTail();
    done_sent = true;
    return Event::kDone;
  }
  RequestStream& s = *streams[current];
  std::optional<RequestOutput> out = s.Next(std::chrono::milliseconds(100));
  if (!out) {
    if (s.finished()) ++current;
    return s.finished() ? Event::kSome : Event::kIdle;
  }
  *event = writer->AddStreamed(current, *out);
  return Event::kSome;
}

void HttpServer::WriteStream(const std::shared_ptr<Generation>& g, httplib::Response& res) {
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [g](size_t, httplib::DataSink& sink) {
        std::string event;
        const Generation::Event kind = g->NextEvent(&event);
        if (!event.empty() && !sink.write(event.data(), event.size())) return false;
        if (kind == Generation::Event::kDone) sink.done();
        // Idle: a gone client cancels (see the releaser).
        return kind != Generation::Event::kIdle || sink.is_writable();
      },
      [this, g](bool success) {
        if (!success || !g->done_sent) {
          for (auto& s : g->streams) engine_->Cancel(*s);
        }
        Finish(*g, success && g->done_sent ? 200 : 499);
      });
}

}  // namespace weft::server
