#include "server/http_server.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <random>
#include <thread>

#include "server/errors.h"
#include "server/openai_responses.h"

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SendError(http::HttpResponse& res, const ApiError& e) {
  res.status = e.http_status;
  res.content_type = "application/json";
  res.body = e.Body();
}

void SendJson(http::HttpResponse& res, const Json& j) {
  res.status = 200;
  res.content_type = "application/json";
  res.body = DumpJson(j);
}

http::Reply Whole(http::HttpResponse res) { return http::Reply{std::move(res), nullptr, false}; }

http::Reply ErrorReply(const ApiError& e) {
  http::HttpResponse res;
  SendError(res, e);
  return Whole(std::move(res));
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

HttpServer::HttpServer(ServerOptions options) : opt_(std::move(options)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Status HttpServer::Start() {
  http::TransportOptions t;
  t.host = opt_.host;
  t.port = opt_.port;
  t.io_threads = opt_.io_threads;
  t.max_connections = opt_.max_connections;
  t.max_body_bytes = opt_.max_body_bytes;
  t.header_timeout = opt_.header_timeout;
  t.body_timeout = opt_.body_timeout;
  t.write_timeout = opt_.write_timeout;
  t.error_response = [this](int status, std::string message) {
    http::HttpResponse res;
    SendError(res, ApiError{status, std::move(message), "", ""});
    if (status != 503) LogRequest("-", "-", status, 0, 0, 0, 0, 0);
    return res;
  };
  transport_ = std::make_unique<http::HttpTransport>(std::move(t), [this](http::HttpRequest&& req) { return Route(std::move(req)); });
  WEFT_RETURN_IF_ERROR(transport_->Listen());
  port_ = transport_->port();
  transport_->Start();
  return Status::Ok();
}

void HttpServer::SetModel(std::unique_ptr<Engine> engine, std::shared_ptr<const ModelChatTemplate> chat_template,
                          std::string chat_template_error) {
  engine_ = std::move(engine);
  template_ = std::move(chat_template);
  template_error_ = std::move(chat_template_error);
  if (auto f = ParseToolCallFormat(opt_.tool_call_format)) {
    tool_format_ = *f;
  } else {  // "auto" (serve checks the flag's values)
    tool_format_ = template_ ? DetectToolCallFormat(template_->tmpl.source()) : ToolCallFormat::kNone;
  }
  if (opt_.served_model_name.empty()) opt_.served_model_name = "weft";
  ready_.store(true);
}

void HttpServer::FailInFlight(const std::string& error, std::chrono::milliseconds wait) {
  draining_.store(true);
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (const auto& s : streams_) s->FailUnfinished(error);
  }
  const auto until = std::chrono::steady_clock::now() + wait;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
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
  // Aborted streams finish promptly; give them a moment to write their end.
  const auto grace = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < grace) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Closes every connection, however slow its client; what is still in flight sees
  // Closed(false) here (cancelled, logged 499) while the engine is still alive.
  if (transport_) transport_->Stop();
  engine_.reset();
}

void HttpServer::LogRequest(const std::string& id, const std::string& path, int status, int64_t in, int64_t out,
                            double queue_ms, double ttft_ms, double total_ms) {
  if (!opt_.log_json) {
    return WriteLog(fmt::format(
        "request {} {} status={} tokens_in={} tokens_out={} queue_ms={:.1f} ttft_ms={:.1f} total_ms={:.1f}", id, path,
        status, in, out, queue_ms, ttft_ms, total_ms));
  }
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
  WriteLog(DumpJson(j));
}

void HttpServer::LogWarning(const std::string& id, const std::string& message) {
  if (!opt_.log_json) return WriteLog(fmt::format("request {} warning: {}", id, message));
  Json j;
  j["ts"] = static_cast<int64_t>(std::time(nullptr));
  j["id"] = id;
  j["warning"] = message;
  WriteLog(DumpJson(j));
}

void HttpServer::WriteLog(const std::string& line) {
  std::lock_guard<std::mutex> lock(log_mu_);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

std::string HttpServer::AllowedOrigin(std::string_view origin) const {
  if (origin.empty()) return "";
  for (const std::string& o : opt_.allowed_origins) {
    if (o == "*") return "*";
    if (o == origin) return o;
  }
  return "";
}

http::Reply HttpServer::Route(http::HttpRequest&& req) {
  const std::string origin = AllowedOrigin(req.Header("Origin"));
  if (req.method == "OPTIONS" && !opt_.allowed_origins.empty()) {  // a browser's CORS preflight
    http::HttpResponse res;
    res.status = origin.empty() ? 403 : 204;
    res.content_type = "";
    if (!origin.empty()) {
      res.headers = {{"Access-Control-Allow-Origin", origin},
                     {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                     {"Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key"},
                     {"Access-Control-Max-Age", "600"},
                     {"Vary", "Origin"}};
    }
    return Whole(std::move(res));
  }
  http::Reply reply = Dispatch(std::move(req));
  if (!origin.empty()) {
    reply.response.headers.emplace_back("Access-Control-Allow-Origin", origin);
    reply.response.headers.emplace_back("Vary", "Origin");
  }
  return reply;
}

void HttpServer::HandleModel(const std::string& id, http::HttpResponse& res) {
  if (!ready_.load()) return SendError(res, ApiError{503, "loading the model", "", ""});
  if (!id.empty() && id != opt_.served_model_name) {
    return SendError(res, ApiError{404, "The model '" + id + "' does not exist; this server serves '" +
                                            opt_.served_model_name + "'",
                                   "model", "model_not_found"});
  }
  Json m;
  m["id"] = opt_.served_model_name;
  m["object"] = "model";
  m["created"] = static_cast<int64_t>(std::time(nullptr));
  m["owned_by"] = "weft";
  m["max_model_len"] = engine_->max_model_len();
  if (id.empty()) return SendJson(res, Json{{"object", "list"}, {"data", Json::array({m})}});
  SendJson(res, m);
}

http::Reply HttpServer::Dispatch(http::HttpRequest&& req) {
  const bool open_route = req.path == "/health" || req.path == "/version" ||
                          (req.path == "/metrics" && !opt_.metrics_need_key);
  if (!open_route && !opt_.api_key.empty()) {
    const std::string_view auth = req.Header("Authorization");
    std::string key;
    if (auth.rfind("Bearer ", 0) == 0) key = std::string(auth.substr(7));
    if (key.empty()) key = std::string(req.Header("x-api-key"));
    if (key != opt_.api_key) {
      LogRequest("-", req.path, 401, 0, 0, 0, 0, 0);
      return ErrorReply(ApiError{401, key.empty() ? "missing API key: send 'Authorization: Bearer KEY'" : "invalid API key",
                                 "", "invalid_api_key"});
    }
  }
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  if (IsGenerationPath(req.path) && post) return HandleGenerate(req, req.path == "/v1/chat/completions");

  http::HttpResponse res;
  if (req.path == "/health" && get) {
    HandleHealth(res);
    return Whole(std::move(res));
  }
  if (req.path == "/metrics" && get) {
    const EngineStats stats = ready_.load() ? engine_->Stats() : EngineStats{};
    res.content_type = "text/plain; version=0.0.4";
    res.body = metrics_.Render(stats, in_flight_.load(), opt_.served_model_name);
    return Whole(std::move(res));
  }
  static constexpr std::string_view kModelPrefix = "/v1/models/";
  if (req.path == "/v1/models" && get) {
    HandleModel("", res);
  } else if (req.path.size() > kModelPrefix.size() && req.path.rfind(kModelPrefix, 0) == 0 && get) {
    HandleModel(req.path.substr(kModelPrefix.size()), res);  // ids may hold '/', e.g. hf:owner/repo
  } else if (req.path == "/version" && get) {
    SendJson(res, Json{{"version", opt_.version}});
  } else if (req.path == "/tokenize" && post) {
    HandleTokenize(req, res);
  } else if (req.path == "/detokenize" && post) {
    HandleDetokenize(req, res);
  } else if (IsGenerationPath(req.path) || req.path == "/health" || req.path == "/metrics" ||
             req.path == "/v1/models" || req.path == "/tokenize" || req.path == "/detokenize" ||
             req.path == "/version" || req.path.rfind(kModelPrefix, 0) == 0) {
    SendError(res, ApiError{405, "method " + req.method + " is not allowed on " + req.path, "", ""});
    res.headers.emplace_back("Allow", IsGenerationPath(req.path) || req.path.find("tokenize") != std::string::npos
                                          ? "POST" : "GET");
  } else {
    SendError(res, ApiError{404, "no route " + req.method + " " + req.path, "", ""});
  }
  LogRequest("-", req.path, res.status, 0, 0, 0, 0, 0);
  return Whole(std::move(res));
}

void HttpServer::HandleHealth(http::HttpResponse& res) {
  if (!ready_.load() || draining_.load()) {
    return SendError(res, ApiError{503, ready_.load() ? "shutting down" : "loading the model", "", ""});
  }
  if (Status s = model_file_.Check(); !s.ok()) return SendError(res, FromStatus(s));
  res.status = 200;
  res.body = "{\"status\":\"ok\"}";
}

void HttpServer::HandleTokenize(const http::HttpRequest& req, http::HttpResponse& res) {
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

void HttpServer::HandleDetokenize(const http::HttpRequest& req, http::HttpResponse& res) {
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

void HttpServer::Finish(GenerationState& g, int http_status) {
  const int64_t end = NowNs();
  double queue_ms = 0, ttft_ms = -1;
  const Usage usage = g.writer ? g.writer->usage() : Usage{};
  const auto num_choices = static_cast<int64_t>(g.writer ? g.writer->num_choices() : 0);
  RequestRecord rec;
  rec.http_status = http_status;
  if (g.writer) {
    const RequestFinish f = http_status == 200 ? g.writer->first_finish() : RequestFinish::kAbort;
    rec.finished_reason = RequestFinishName(f == RequestFinish::kNone ? RequestFinish::kAbort : f);
  }
  rec.prompt_tokens = usage.prompt_tokens;
  rec.generated_tokens = usage.completion_tokens;
  if (!g.streams.empty()) {
    const RequestStream& s = *g.streams[0];
    queue_ms = static_cast<double>(s.queued_ns.load()) / 1e6;
    rec.queue_s = queue_ms / 1e3;
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
  g.capacity.reset();
}

std::string HttpServer::NewRequestId(bool chat) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}-{:x}{:012x}", chat ? "chatcmpl" : "cmpl", next_id_.fetch_add(1), rng() & 0xffffffffffffULL);
}

http::Reply HttpServer::HandleGenerate(const http::HttpRequest& req, bool chat) {
  auto g = std::make_shared<GenerationState>();
  g->arrival_ns = NowNs();
  g->path = req.path;
  g->id = NewRequestId(chat);
  OpenAIRequest r;
  GenerationPlan plan;
  std::optional<ApiError> e = Parse(req.body, chat, g->id, &r);
  if (!e) e = AdmitGeneration(std::move(r), *engine_, template_.get(), template_error_, tool_format_, &plan);
  if (!e) e = Run(plan, *g);
  if (e) {
    RequestRecord rec;
    rec.http_status = e->http_status;
    metrics_.Record(rec);
    LogRequest(g->id, g->path, e->http_status, 0, 0, 0, 0, static_cast<double>(NowNs() - g->arrival_ns) / 1e6);
    return ErrorReply(*e);
  }

  // Write: the transport polls the body as the engine produces it, streamed as SSE or
  // gathered into one JSON response; either way a client that leaves cancels the generation.
  http::Reply reply;
  reply.response.status = 200;
  reply.stream = g->stream;
  if (g->stream) {
    reply.response.content_type = "text/event-stream";
    reply.response.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  }
  reply.source = std::make_shared<GenerationBody>(
      g, engine_.get(), [this](GenerationState& state, int status) { Finish(state, status); });
  return reply;
}

std::optional<ApiError> HttpServer::Parse(std::string_view body, bool chat, const std::string& id, OpenAIRequest* r) {
  if (!ready_.load()) return ApiError{503, "the model is still loading", "", ""};
  if (draining_.load()) return ApiError{503, "the server is shutting down", "", ""};
  if (Status s = model_file_.Check(); !s.ok()) return FromStatus(s);
  if (auto e = ParseGenerateBody(body, chat, opt_.served_model_name, r)) return e;
  if (!r->unknown_fields.empty()) {
    std::string names;
    for (const std::string& f : r->unknown_fields) names += (names.empty() ? "'" : ", '") + f + "'";
    LogWarning(id, "ignored fields that weft does not know: " + names);
  }
  return std::nullopt;
}

std::optional<ApiError> HttpServer::Run(GenerationPlan& plan, GenerationState& g) {
  // Capacity: refuse rather than queue without bound.
  const auto want = static_cast<int64_t>(plan.prompts.size());
  const int64_t limit = static_cast<int64_t>(opt_.max_concurrent) + opt_.max_queued;
  if (in_flight_.fetch_add(want) + want > limit) {
    in_flight_.fetch_sub(want);
    return ApiError{429, "the server is over capacity; retry later", "", "over_capacity"};
  }
  g.capacity = std::make_shared<InFlightGuard>(&in_flight_, want);
  const OpenAIRequest& r = plan.request;
  g.stream = r.stream;
  ResponseContext ctx;
  ctx.id = g.id;
  ctx.created = static_cast<int64_t>(std::time(nullptr));
  ctx.model = opt_.served_model_name;
  ctx.chat = r.chat;
  ctx.logprobs = r.sampling.logprobs >= 0;
  ctx.tokenizer = &engine_->tokenizer();
  if (r.chat && r.tool.active()) {
    ctx.tool_format = tool_format_;
    ctx.tool_names = r.tool.names;
    ctx.max_tool_calls = r.tool.parallel ? 0 : 1;
  }
  g.writer.emplace(std::move(ctx), r.sampling.n, plan.echo, plan.prompt_tokens, r.include_usage);
  for (GenerationRequest& p : plan.prompts) {
    StatusOr<std::shared_ptr<RequestStream>> s = engine_->Submit(std::move(p));
    if (!s.ok()) {  // admitted already: only a shutting-down engine refuses now
      for (auto& done : g.streams) engine_->Cancel(*done);
      {
        std::lock_guard<std::mutex> lock(streams_mu_);
        for (const auto& done : g.streams) streams_.erase(done);
      }
      return FromStatus(s.status());
    }
    std::lock_guard<std::mutex> lock(streams_mu_);
    streams_.insert(*s);
    g.streams.push_back(std::move(*s));
  }
  return std::nullopt;
}

}  // namespace weft::server
