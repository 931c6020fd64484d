// weft bench serve --url URL: a load generator for OpenAI-compatible servers (weft, vLLM,
// llama-server, ...). It streams synthetic or file workloads at fixed concurrency or
// Poisson request rates (a sweep: one pass per value), times every token as it arrives
// and writes a table on stdout, a JSON file of every request and an HTML report with
// plots (bench_serve/). SIGINT stops sending, aborts in-flight requests, writes the
// reports of what finished and exits 130 (a second SIGINT exits at once).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#include "bench_serve/arrivals.h"
#include "bench_serve/html_report.h"
#include "bench_serve/json_report.h"
#include "bench_serve/jsonl_workload.h"
#include "bench_serve/load_runner.h"
#include "bench_serve/text_report.h"
#include "bench_serve/workload.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "weft/build_info.h"

namespace weft::cli {
namespace {

using bench_serve::OrderedJson;

struct Args {
  std::string url, api_key, model, endpoint = "completions", workload = "fixed", prompts;
  std::string concurrency, request_rate, slo, json_out, html_out, extra_body, report_from;
  int num_requests = 64, prompt_len = 128, output_len = 64, prefix_len = -1, warmup = 0;
  uint64_t seed = 1;
  double timeout = 600;
  bool no_ignore_eos = false;
  bool num_requests_given = false;
};

// SIGINT/SIGTERM, while this lives, set `stop` (the first) or exit 130 (the second). The
// signals are blocked in the calling thread, so every thread started after inherits that,
// and one thread here waits for them. They get a handler (never run) because an ignored
// signal is discarded rather than left pending: a shell starts background jobs with
// SIGINT ignored, and `kill -INT` must still stop a backgrounded run.
class SignalStop {
 public:
  SignalStop() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    waiter_ = std::thread([this] {
      const timespec tick{0, 100 * 1000 * 1000};
      while (!done_.load()) {
        if (sigtimedwait(&set_, nullptr, &tick) < 0) continue;
        if (stop_.exchange(true)) std::_Exit(130);
        std::fprintf(stderr, "\nweft bench serve: stopping: aborting in-flight requests, writing the reports of "
                             "finished ones (Ctrl-C again quits at once)\n");
      }
    });
  }
  ~SignalStop() {
    done_ = true;
    waiter_.join();
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  const std::atomic<bool>& stop() const { return stop_; }

 private:
  sigset_t set_{}, old_{};
  struct sigaction old_int_ {}, old_term_{};
  std::atomic<bool> stop_{false}, done_{false};
  std::thread waiter_;
};

std::string CommandLine() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()), out;
  for (char c : raw) out += c == '\0' ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "http://host:port[/v1][/]" -> "http://host:port".
StatusOr<std::string> BaseUrl(std::string url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("--url '" + url + "' is not an http:// or https:// URL: give e.g. http://127.0.0.1:8080");
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() > 3 && url.compare(url.size() - 3, 3, "/v1") == 0) url.resize(url.size() - 3);
  return url;
}

// Checks that the server answers /v1/models (waiting while it answers 503: loading) and
// returns the model to ask for: --model, else the server's first.
StatusOr<std::string> CheckServer(const Args& a, const std::string& base) {
  const std::string url = base + "/v1/models";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto res = bench_serve::HttpGet(url, a.api_key, 10);
    if (!res.ok()) return UnavailableError(res.status().message() + ": start the server or fix --url");
    if (res->status == 503 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (res->status == 401 || res->status == 403) {
      return FailedPreconditionError(fmt::format("{} answered HTTP {}: give the server's key with --api-key", url, res->status));
    }
    if (res->status != 200) {
      if (!a.model.empty()) return a.model;  // a server without /v1/models
      return FailedPreconditionError(fmt::format("{} answered HTTP {}: name the model with --model", url, res->status));
    }
    const auto j = nlohmann::json::parse(res->body, nullptr, false);
    std::vector<std::string> ids;
    if (j.is_object() && j.contains("data") && j["data"].is_array()) {
      for (const auto& m : j["data"]) {
        if (m.is_object() && m.contains("id") && m["id"].is_string()) ids.push_back(m["id"].get<std::string>());
      }
    }
    if (!a.model.empty()) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), a.model) == ids.end()) {
        std::fprintf(stderr, "weft bench serve: warning: the server lists no model '%s' (it has '%s')\n", a.model.c_str(),
                     ids[0].c_str());
      }
      return a.model;
    }
    if (ids.empty()) return FailedPreconditionError(url + " lists no model: name it with --model");
    return ids[0];
  }
}

// One pass per value of the swept flag (at most one of --concurrency, --request-rate
// may list several values).
StatusOr<std::vector<bench_serve::PassOptions>> PlanPasses(const Args& a, int n) {
  std::vector<double> rates{bench_serve::kInfiniteRate}, concs{static_cast<double>(n)};
  if (!a.request_rate.empty()) {
    WEFT_ASSIGN_OR_RETURN(rates, bench_serve::ParseSweep("--request-rate", a.request_rate, true, false));
  }
  if (!a.concurrency.empty()) {
    WEFT_ASSIGN_OR_RETURN(concs, bench_serve::ParseSweep("--concurrency", a.concurrency, false, true));
  }
  if (rates.size() > 1 && concs.size() > 1) {
    return InvalidArgumentError("--concurrency and --request-rate both list several values: sweep one of them");
  }
  std::vector<bench_serve::PassOptions> passes;
  for (double r : rates) {
    for (double c : concs) {
      bench_serve::PassOptions p;
      p.rate = r;
      p.concurrency = std::max(1, std::min(n, static_cast<int>(c)));
      p.seed = a.seed;
      p.path = a.endpoint == "chat" ? "/v1/chat/completions" : "/v1/completions";
      passes.push_back(p);
    }
  }
  return passes;
}

StatusOr<std::vector<std::string>> Bodies(const Args& a, const std::string& model, int pass, int n) {
  std::vector<bench_serve::RequestSpec> specs;
  if (!a.prompts.empty()) {
    WEFT_ASSIGN_OR_RETURN(auto file, bench_serve::LoadJsonlWorkload(a.prompts, a.output_len));
    for (int i = 0; i < n; ++i) specs.push_back(file[static_cast<size_t>(i) % file.size()]);
  } else {
    bench_serve::WorkloadOptions w;
    WEFT_ASSIGN_OR_RETURN(w.kind, bench_serve::ParseWorkloadKind(a.workload));
    w.num_requests = n;
    w.prompt_len = a.prompt_len;
    w.output_len = a.output_len;
    w.prefix_len = a.prefix_len >= 0 ? a.prefix_len : w.kind == bench_serve::WorkloadKind::kSharedPrefix ? 256 : 0;
    w.seed = a.seed;
    w.pass = pass;
    specs = bench_serve::SyntheticWorkload(w);
  }
  nlohmann::json extra;
  if (!a.extra_body.empty()) {
    extra = nlohmann::json::parse(a.extra_body, nullptr, false);
    if (!extra.is_object()) return InvalidArgumentError("--extra-body is not a JSON object: give e.g. '{\"temperature\": 0}'");
  }
  std::vector<std::string> bodies;
  for (const auto& s : specs) {
    if (!s.messages.is_null() && a.endpoint != "chat") {
      return InvalidArgumentError(a.prompts + " has chat messages: add --endpoint chat");
    }
    bodies.push_back(bench_serve::RequestBody(s, model, a.endpoint == "chat", !a.no_ignore_eos, extra).dump());
  }
  return bodies;
}

OrderedJson Config(const Args& a, const std::string& base, const std::string& model, int n) {
  OrderedJson c;
  c["command"] = CommandLine();
  c["url"] = base;
  c["model"] = model;
  c["endpoint"] = a.endpoint == "chat" ? "/v1/chat/completions" : "/v1/completions";
  c["workload"] = a.prompts.empty() ? a.workload : "jsonl";
  if (!a.prompts.empty()) c["prompts"] = a.prompts;
  c["requests_per_pass"] = n;
  if (a.prompts.empty()) {
    c["prompt_len"] = a.prompt_len;
    c["prefix_len"] = a.prefix_len >= 0 ? a.prefix_len : a.workload == "shared-prefix" ? 256 : 0;
  }
  c["output_len"] = a.output_len;
  c["seed"] = a.seed;
  c["ignore_eos"] = !a.no_ignore_eos;
  c["concurrency"] = a.concurrency.empty() ? "requests_per_pass" : a.concurrency;
  c["request_rate"] = a.request_rate.empty() ? "inf" : a.request_rate;
  c["slo"] = a.slo;
  c["warmup"] = a.warmup;
  c["timeout_s"] = a.timeout;
  c["extra_body"] = a.extra_body;
  return c;
}

// Either path may be "" (not written).
Status WriteReports(const std::string& json_out, const std::string& html_out, const OrderedJson& report) {
  if (!json_out.empty()) {
    std::ofstream f(json_out);
    if (!(f << report.dump(1) << "\n")) return UnavailableError("cannot write " + json_out + ": check --json's folder");
  }
  if (!html_out.empty()) {
    std::ofstream f(html_out);
    if (!(f << bench_serve::HtmlReport(report))) return UnavailableError("cannot write " + html_out + ": check --html's folder");
  }
  return Status::Ok();
}

// --report-from: the tables and the HTML report of an earlier run's JSON, nothing sent.
Status Rereport(const Args& a) {
  std::ifstream f(a.report_from);
  if (!f) return NotFoundError("cannot read " + a.report_from + ": give a JSON file written by --json");
  const OrderedJson report = OrderedJson::parse(f, nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.is_object() || !report.contains("passes") || !report["passes"].is_array() ||
      !report.contains("config")) {
    return InvalidArgumentError(a.report_from + " is not a weft bench serve JSON file (no config and passes)");
  }
  std::string slo;
  if (const std::string raw = report["config"].value("slo", ""); !raw.empty()) {
    WEFT_ASSIGN_OR_RETURN(auto parsed, bench_serve::ParseSlo(raw));
    slo = bench_serve::SloString(parsed);
  }
  for (const auto& p : report["passes"]) std::printf("%s\n", bench_serve::PassText(p, slo).c_str());
  if (report["passes"].size() > 1) std::printf("%s", bench_serve::SweepTable(report["passes"]).c_str());
  if (!a.html_out.empty()) {
    WEFT_RETURN_IF_ERROR(WriteReports("", a.html_out, report));
    std::fprintf(stderr, "weft bench serve: wrote %s\n", a.html_out.c_str());
  }
  return Status::Ok();
}

Status Run(const Args& a, int* exit_code) {
  if (!a.report_from.empty()) return Rereport(a);
  if (a.url.empty()) return InvalidArgumentError("--url is required: give the server, e.g. --url http://127.0.0.1:8080");
  WEFT_ASSIGN_OR_RETURN(const std::string base, BaseUrl(a.url));
  WEFT_ASSIGN_OR_RETURN(auto slo, a.slo.empty() ? StatusOr<bench_serve::Slo>(bench_serve::Slo{}) : bench_serve::ParseSlo(a.slo));
  int n = a.num_requests;
  if (!a.prompts.empty() && !a.num_requests_given) {
    WEFT_ASSIGN_OR_RETURN(auto file, bench_serve::LoadJsonlWorkload(a.prompts, a.output_len));
    n = static_cast<int>(file.size());
  }
  WEFT_ASSIGN_OR_RETURN(auto passes, PlanPasses(a, n));
  // A bad --prompts file or --extra-body fails before anything is sent.
  WEFT_RETURN_IF_ERROR(Bodies(a, "", 0, 1).status());
  WEFT_ASSIGN_OR_RETURN(const std::string model, CheckServer(a, base));
  bench_serve::ClientOptions client;
  client.base_url = base;
  client.api_key = a.api_key;
  client.timeout_s = a.timeout;

  OrderedJson report;
  report["tool"] = "weft bench serve";
  report["weft"] = std::string(WEFT_VERSION) + " (" + WEFT_GIT_COMMIT + ")";
  report["started"] = UtcNow();
  report["client"] = {{"cpus", std::thread::hardware_concurrency()}};
  report["config"] = Config(a, base, model, n);
  report["interrupted"] = false;
  report["passes"] = OrderedJson::array();
  std::fprintf(stderr, "weft bench serve: %s, model '%s', %zu pass%s of %d requests\n", base.c_str(), model.c_str(),
               passes.size(), passes.size() == 1 ? "" : "es", n);

  SignalStop signals;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (a.warmup > 0) {
    WEFT_ASSIGN_OR_RETURN(auto warm, Bodies(a, model, -1, a.warmup));
    bench_serve::PassOptions p = passes[0];
    p.rate = bench_serve::kInfiniteRate;
    p.concurrency = std::min(a.warmup, passes[0].concurrency);
    bench_serve::RunPass(warm, p, client, signals.stop(), nullptr);
  }
  const std::string slo_text = bench_serve::SloString(slo);
  for (size_t i = 0; i < passes.size() && !signals.stop().load(); ++i) {
    WEFT_ASSIGN_OR_RETURN(auto bodies, Bodies(a, model, static_cast<int>(i), n));
    const std::string label = bench_serve::PassLabel(passes[i], n);
    ProgressBar bar("bench serve [" + label + "]");
    const auto t0 = std::chrono::steady_clock::now();
    auto result = bench_serve::RunPass(bodies, passes[i], client, signals.stop(), [&](int done, int total) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (tty) bar.Update(done, total, fmt::format("{:.1f} s", s));
    });
    if (tty) bar.Finish();
    const auto summary = bench_serve::SummarizePass(result, passes[i], slo);
    report["passes"].push_back(bench_serve::PassJson(passes[i], result, summary, n));
    report["interrupted"] = result.stopped;
    std::printf("%s\n", bench_serve::PassText(report["passes"].back(), slo_text).c_str());
    std::fflush(stdout);
    if (summary.client_cpu_percent > 50) {
      std::fprintf(stderr, "weft bench serve: warning: the client used %.0f%% of a core in this pass; its numbers may "
                           "be limited by the client\n", summary.client_cpu_percent);
    }
    WEFT_RETURN_IF_ERROR(WriteReports(a.json_out, a.html_out, report));
  }
  if (report["passes"].size() > 1) std::printf("%s", bench_serve::SweepTable(report["passes"]).c_str());
  if (signals.stop().load()) {
    report["interrupted"] = true;
    WEFT_RETURN_IF_ERROR(WriteReports(a.json_out, a.html_out, report));
    *exit_code = 130;
  }
  if (!a.json_out.empty()) std::fprintf(stderr, "weft bench serve: wrote %s\n", a.json_out.c_str());
  if (!a.html_out.empty()) std::fprintf(stderr, "weft bench serve: wrote %s\n", a.html_out.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterBenchServeCommand(CLI::App& bench, int* exit_code) {
  auto* cmd = bench.add_subcommand(
      "serve", "Load-test an OpenAI-compatible server (weft serve, vLLM, llama-server): streamed requests at a "
               "concurrency or request rate, latency percentiles, throughput, goodput, JSON and HTML reports");
  auto a = std::make_shared<Args>();
  cmd->add_option("--url,--base-url", a->url, "The server, e.g. http://127.0.0.1:8080 (required unless --report-from)");
  cmd->add_option("--api-key", a->api_key, "Send 'Authorization: Bearer KEY'");
  cmd->add_option("--model", a->model, "Model name to ask for (default: the first of the server's /v1/models)");
  cmd->add_option("--endpoint", a->endpoint, "completions (/v1/completions) or chat (/v1/chat/completions) (default: completions)")
      ->check(CLI::IsMember({"completions", "chat"}));
  cmd->add_option("--workload", a->workload,
                  "Synthetic prompts: fixed lengths, lognormal lengths (seeded, chat-like spread) or shared-prefix "
                  "(a common system prompt of --prefix-len words) (default: fixed)")
      ->check(CLI::IsMember({"fixed", "lognormal", "shared-prefix"}));
  cmd->add_option("--prompts", a->prompts,
                  "JSONL file, one request a line: {\"prompt\": TEXT, \"max_tokens\": N} or {\"messages\": [...]} "
                  "(replaces --workload; default --num-requests: the file's lines)");
  auto* num = cmd->add_option("-n,--num-requests,--num-prompts", a->num_requests, "Requests per pass (default: 64)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--prompt-len,--random-input-len,--input-len", a->prompt_len,
                  "Prompt tokens per request, the mean for lognormal: words that are one token each in GPT-2 and "
                  "Llama vocabularies; reports use the server's own counts (default: 128)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--output-len,--random-output-len", a->output_len, "max_tokens per request, the mean for lognormal (default: 64)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--prefix-len,--random-prefix-len", a->prefix_len, "Words of a system prompt shared by every request (default: 256 with "
                                                 "--workload shared-prefix, else 0)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--seed", a->seed, "Seed of the workload and of the arrival times (default: 1)");
  cmd->add_option("-c,--concurrency,--max-concurrency", a->concurrency,
                  "Requests in flight at most; a list sweeps, one pass each, e.g. 1,4,16,64 (default: all at once)");
  cmd->add_option("-r,--request-rate", a->request_rate,
                  "Poisson arrivals at this many requests/s (inf = all at once); a list sweeps, e.g. 1,2,4 (default: inf)");
  cmd->add_option("--slo", a->slo, "Objectives for goodput, e.g. ttft=1s,tpot=100ms (also itl=, e2e=; units us, ms, s)");
  cmd->add_option("--warmup", a->warmup, "Untimed requests sent before the first pass (default: 0)")->check(CLI::Range(0, 100000));
  cmd->add_option("--timeout", a->timeout, "Seconds one request may take before it counts as a timeout (default: 600)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-ignore-eos", a->no_ignore_eos, "Do not send ignore_eos: true (for servers that refuse it)");
  cmd->add_option("--extra-body", a->extra_body, "JSON object merged into every request body, e.g. '{\"temperature\": 0}'");
  cmd->add_option("--json", a->json_out, "Write every request's timings and the summaries to this JSON file");
  cmd->add_option("--html", a->html_out, "Write a self-contained HTML report with plots to this file");
  cmd->add_option("--report-from", a->report_from,
                  "Send nothing: print the tables of an earlier run's --json file (and write its --html report)");
  cmd->footer(
      "Examples:\n"
      "  weft serve tinyllama-v0 --port 8080 &\n"
      "  weft bench serve --url http://127.0.0.1:8080 -n 64 -c 1,4,16 --json run.json --html run.html\n"
      "  weft bench serve --url http://127.0.0.1:8080 --request-rate 1,2,4 --workload lognormal --slo ttft=1s,tpot=100ms\n"
      "  weft bench serve --url http://127.0.0.1:8000 --model meta-llama/Llama-3.2-1B --endpoint chat --prompts chats.jsonl\n"
      "  weft bench serve --report-from run.json --html run.html    # redraw an earlier run\n"
      "\n"
      "Prompts are built from common words (~1 token each); the token counts reported are the server's own (usage\n"
      "in the last stream chunk) or, where it sends none, content chunks counted. Each pass of a sweep draws new\n"
      "prompts (keeping a shared prefix), so that passes do not hit each other in a prefix cache.\n"
      "Ctrl-C stops early: in-flight requests are aborted, the reports of finished ones are written, exit 130.");
  cmd->callback([a, num, exit_code] {
    a->num_requests_given = num->count() > 0;
    Status s = Run(*a, exit_code);
    if (!s.ok()) {
      std::fprintf(stderr, "weft bench serve: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
