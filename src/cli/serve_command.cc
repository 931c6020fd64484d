// weft serve MODEL: an OpenAI-compatible HTTP server over the engine (server/).
// The model file, tokenizer and chat template are found and checked before the server
// listens (a wrong name or a port in use fails at once); /health answers 503 while the
// engine starts. SIGINT/SIGTERM drain in-flight requests up to --shutdown-timeout, abort
// the rest and exit 0, whatever clients are connected.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <pthread.h>
#include <sstream>

#include "cli/kv_budget_flags.h"
#include "cli/model_flags.h"
#include "cli/byte_size.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "cli/curl_hint.h"
#include "cli/startup_report.h"
#include "weft/engine.h"
#include "server/http_server.h"
#include "server/model_file_guard.h"
#include "spec/spec_config.h"
#include "tokenizer/model_chat_template.h"
#include "tokenizer/tokenizer.h"
#include "weft/build_info.h"

namespace weft::cli {
namespace {

// Weights are mmapped: a model file truncated under the server faults on the next read
// of a lost page. Say so instead of dying with a bare "Bus error" (ModelFileGuard
// catches most such changes before a request runs; this is the last resort).
void OnSigbus(int) {
  static const char kMsg[] =
      "weft serve: SIGBUS: a mapped model file shrank or changed under the server; restart it\n";
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  _exit(70);
}

// Each connection is a file descriptor: allow as many as the hard limit lets us.
void RaiseFileLimit(size_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t target = rl.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(want) : std::min<rlim_t>(rl.rlim_max, want);
  if (rl.rlim_cur < target) {
    rl.rlim_cur = target;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

struct Args {
  ModelFlags model_flags;
  KvBudgetFlags kv_budget_flags;  // --kv-budget / --kv-policy
  std::string model, host = "127.0.0.1", api_key, api_key_file, served_model_name, chat_template, log_format = "text";
  std::string kv_mem, spec, tool_call_format = "auto", spec_governor = "on";
  int port = 8080, max_queued = 256, max_seqs = 64, max_batched = 512, threads = 0, max_connections = 4096;
  int64_t max_model_len = 0;
  std::vector<std::string> allowed_origins;
  bool protect_metrics = false;
  uint64_t seed = 0;
  double shutdown_timeout = 30, header_timeout = 10, body_timeout = 30, write_timeout = 30;
};

Status Run(const Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  server::ServerOptions so;
  so.allowed_origins = a.allowed_origins;
  so.metrics_need_key = a.protect_metrics;
  so.version = std::string(WEFT_VERSION) + " (" + WEFT_GIT_COMMIT + ", " + WEFT_BUILD_TYPE + ")";
  so.host = a.host;
  so.port = a.port;
  so.api_key = a.api_key;
  if (!a.api_key_file.empty()) {
    std::ifstream f(a.api_key_file);
    if (!f) return NotFoundError("--api-key-file: cannot read " + a.api_key_file);
    std::getline(f, so.api_key);
    while (!so.api_key.empty() && (so.api_key.back() == '\r' || so.api_key.back() == ' ')) so.api_key.pop_back();
    if (so.api_key.empty()) return InvalidArgumentError("--api-key-file: " + a.api_key_file + " is empty");
  }
  // Clients name the model the way the user did on the command line (as vLLM does).
  so.served_model_name = a.served_model_name.empty() ? a.model : a.served_model_name;
  so.tool_call_format = a.tool_call_format;
  so.max_concurrent = a.max_seqs;
  so.max_queued = a.max_queued;
  so.log_json = a.log_format == "json";
  so.max_connections = static_cast<size_t>(a.max_connections);
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  so.header_timeout = ms(a.header_timeout);
  so.body_timeout = ms(a.body_timeout);
  so.write_timeout = ms(a.write_timeout);
  RaiseFileLimit(so.max_connections + 256);
  struct sigaction bus {};
  bus.sa_handler = OnSigbus;
  sigaction(SIGBUS, &bus, nullptr);

  // Signals go to one waiting thread; every thread started from here inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  // Everything a user can get wrong about the model is found out before listening.
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(a.model_flags));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  const std::string& path = m.path;
  std::shared_ptr<const ModelChatTemplate> tmpl;
  std::string tmpl_error;
  auto loaded = LoadModelChatTemplate(*m.file, *m.tokenizer, a.chat_template);
  if (loaded.ok()) {
    tmpl = std::move(loaded).value();
  } else if (loaded.status().code() == StatusCode::kNotFound && a.chat_template.empty()) {
    tmpl_error = loaded.status().message();
    std::fprintf(stderr, "weft serve: warning: %s\n", tmpl_error.c_str());
  } else {
    return loaded.status();
  }
  WEFT_ASSIGN_OR_RETURN(auto guard, server::ModelFileGuard::Watch(path));

  server::HttpServer http(so);
  http.WatchModelFile(std::move(guard));
  WEFT_RETURN_IF_ERROR(http.Start());
  std::fprintf(stderr, "weft serve: listening on http://%s:%d (loading %s)\n", a.host.c_str(), http.port(),
               path.c_str());

  EngineConfig ec;
  ec.scheduler.max_num_seqs = a.max_seqs;
  ec.scheduler.max_num_batched_tokens = a.max_batched;
  ec.max_model_len = a.max_model_len;
  ec.threads = a.threads;
  ec.seed = a.seed;
  WEFT_ASSIGN_OR_RETURN(ec.spec, ParseSpecConfig(a.spec));
  ec.spec.governor = a.spec_governor == "on";
  if (!a.kv_mem.empty()) {
    WEFT_ASSIGN_OR_RETURN(ec.kv_cache_bytes, ParseByteSize("--kv-cache-mem", a.kv_mem));
  }
  WEFT_ASSIGN_OR_RETURN(ec.kv_type, KvTypeFrom(a.model_flags));
  WEFT_RETURN_IF_ERROR(KvEvictionFrom(a.kv_budget_flags, a.model_flags, &ec.kv_window, &ec.kv_budget));
  ec.free_model_window_blocks = !a.model_flags.keep_window_blocks;
  WEFT_ASSIGN_OR_RETURN(auto engine, OpenEngine(m, ec));
  StartupFacts facts;
  facts.command = "weft serve";
  facts.path = path;
  facts.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  facts.context = engine->max_model_len();
  facts.kv_cache_bytes = static_cast<int64_t>(engine->Stats().num_blocks) * ec.block_size *
                         KvBytesPerToken(m.model->config(), ec.kv_type);
  facts.isa = engine->isa_name();
  facts.kv_type = kernels::KvTypeName(ec.kv_type);
  facts.kv_bytes_per_token = KvBytesPerToken(m.model->config(), ec.kv_type);
  LogStartup(facts, m.model->config());
  std::fprintf(stderr, "weft serve: %s ready (%s kernels, %d KV blocks, context %d)\n", path.c_str(),
               engine->isa_name(), engine->Stats().num_blocks, engine->max_model_len());
  // A first request to paste (chat when a template is loaded, else a completion).
  CurlHintInput hint;
  hint.url = "http://" + (a.host == "0.0.0.0" ? std::string("127.0.0.1") : a.host) + ":" + std::to_string(http.port());
  hint.model = so.served_model_name;
  hint.chat = tmpl != nullptr;
  hint.api_key_file = a.api_key_file;
  hint.api_key_given = !a.api_key.empty();
  std::fprintf(stderr, "weft serve: try%s: %s\n", hint.api_key_given ? " (with KEY set to the API key)" : "",
               CurlHint(hint).c_str());
  http.SetModel(std::move(engine), std::move(tmpl), tmpl_error);

  int sig = 0;
  sigwait(&set, &sig);
  if (m.model->communicator() != nullptr) {
    // Under --tp / --pp a signal means the MPI job is ending: mpirun signals the ranks left when
    // one dies, and forwards Ctrl-C to all of them. The other ranks are gone or going, and
    // the engine thread may wait forever in a collective with a dead rank, so nothing can
    // drain: in-flight requests get an error, and the process ends without joining it.
    std::fprintf(stderr, "weft serve: %s under --tp %d --pp %d: the MPI job is ending (a rank died, or mpirun was "
                         "signalled); failing the in-flight requests\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", m.model->tp_size(), m.model->pp_size());
    http.FailInFlight("tensor/pipeline parallelism: a rank of the MPI job stopped (died or was signalled), so this request "
                      "cannot finish; the server is going down",
                      std::chrono::milliseconds(1000));
    std::fflush(stderr);
    std::_Exit(1);
  }
  std::fprintf(stderr, "weft serve: %s: draining (up to %g s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
               a.shutdown_timeout);
  http.Shutdown(std::chrono::milliseconds(static_cast<int64_t>(a.shutdown_timeout * 1000)));
  std::fprintf(stderr, "weft serve: stopped\n");
  return Status::Ok();
}

}  // namespace

void RegisterServeCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model, "Model file, directory, name or hf:owner/repo")->required();
  AddModelFlags(cmd, &a->model_flags);
  AddKvBudgetFlags(cmd, &a->kv_budget_flags);
  cmd->add_option("--host", a->host, "Address to listen on (default: 127.0.0.1)");
  cmd->add_option("--port", a->port, "Port to listen on; 0 picks a free one (default: 8080)")->check(CLI::Range(0, 65535));
  auto* key = cmd->add_option("--api-key", a->api_key, "Require 'Authorization: Bearer KEY' on every route but /health, /version and /metrics");
  cmd->add_option("--api-key-file", a->api_key_file, "Read the API key from the first line of this file")->excludes(key);
  cmd->add_option("-a,--alias,--served-model-name", a->served_model_name, "Model id clients use (default: MODEL as given, e.g. tinyllama-v0)");
  cmd->add_option("--chat-template,--chat-template-file", a->chat_template, "Jinja chat template file (default: the model's own)");
  cmd->add_option("--tool-call-format", a->tool_call_format,
                  "How the model writes tool calls: auto (from the chat template), hermes, llama3, mistral or none "
                  "(default: auto)")
      ->check(CLI::IsMember({"auto", "hermes", "llama3", "mistral", "none"}));
  cmd->add_option("--max-queued", a->max_queued,
                  "Requests that may wait beyond the --max-seqs running ones; more get 429 (default: 256)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--log-format", a->log_format, "Request log lines: text or json (default: text)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--shutdown-timeout", a->shutdown_timeout,
                  "Seconds in-flight requests may take to finish after SIGINT/SIGTERM (default: 30)");
  cmd->add_option("--max-connections", a->max_connections,
                  "Open connections at most; more are answered 503 (default: 4096)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--header-timeout", a->header_timeout,
                  "Seconds an idle connection may take to send a whole request header (default: 10)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--body-timeout", a->body_timeout, "Seconds a request body may take after its header (default: 30)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--write-timeout", a->write_timeout,
                  "Seconds a client may leave a response unread before it is dropped (default: 30)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--max-seqs,--max-num-seqs,--parallel", a->max_seqs, "Sequences running at once at most (default: 64)")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-batched-tokens,--max-num-batched-tokens", a->max_batched, "Token budget per step (default: 512)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-c,--ctx-size,--max-model-len", a->max_model_len,
                  "Context length to serve, at most the model's (default: the model's)");
  cmd->add_option("--kv-cache-mem", a->kv_mem, "KV cache size, e.g. 512M, 2G (default: 25% of available memory, capped)");
  cmd->add_option("-t,--threads", a->threads, "Compute threads (default: one per physical core)");
  cmd->add_option("--allowed-origins", a->allowed_origins,
                  "CORS: browser origins allowed to call the API, a comma list or * (default: none, CORS off)")
      ->delimiter(',');
  cmd->add_flag("--protect-metrics", a->protect_metrics,
                "Ask for the API key on /metrics too (default: /metrics is open, as vLLM's, for Prometheus)");
  cmd->add_option("--spec-governor", a->spec_governor,
                  "on: drafting pauses while it measures slower than plain decoding (probing now and then); off: "
                  "draft whenever the batch-size rule allows (default: on)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--spec", a->spec,
                  "Speculative decoding: ngram[:K] (prompt lookup), draft:MODEL[:K] (a smaller model with the same vocabulary), staged:MODEL[:K] (the same, its own "
                  "drafting sped up by n-gram guesses it verifies: the same drafts in fewer draft passes), " 
                  "self:LAYERS[:K] (this model with layers skipped, e.g. self:3,5-7:4; weft spec-calibrate picks them), " 
                  "tree:ngram[:K[:NODES]] (a token tree of up to NODES nodes, default 16, from several prompt matches, "
                  "verified in one pass; depth K), tree:draft|staged:MODEL[:K[:NODES]] and tree:self:LAYERS[:K[:NODES]] "
                  "(the draft's chain plus its runners-up at each depth as leaves); " 
                  "K draft tokens at most (default 4), or off (default: off); "
                  "requests may turn it off with \"speculative_decoding\": false");
  cmd->add_option("-s,--seed", a->seed, "Seed for requests that give none; request k uses seed + k (default: from the clock)");
  AddGpuOnlyFlags(cmd);
  cmd->callback([a, exit_code] {
    Status s = Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft serve: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
