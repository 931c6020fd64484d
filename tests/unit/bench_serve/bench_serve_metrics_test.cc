// weft bench serve's numbers: percentiles, goodput, arrival schedules, synthetic
// workloads, the reports (the HTML shows the JSON's numbers), and the client and runner
// against a fake streaming server on loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <regex>
#include <thread>

#include "bench_serve/arrivals.h"
#include "bench_serve/html_report.h"
#include "bench_serve/json_report.h"
#include "bench_serve/load_runner.h"
#include "bench_serve/metrics.h"
#include "bench_serve/svg_chart.h"
#include "bench_serve/workload.h"

namespace weft::bench_serve {
namespace {

TEST(Percentile, InterpolatesLikeNumpy) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(Percentile({4, 1, 3, 2}, 50), 2.5);
  std::vector<double> v;
  for (int i = 1; i <= 101; ++i) v.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 91);
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99), 9.91);
  const Distribution d = Summarize({10, 20, 30, 40});
  EXPECT_EQ(d.count, 4);
  EXPECT_DOUBLE_EQ(d.mean, 25);
  EXPECT_DOUBLE_EQ(d.p50, 25);
  EXPECT_DOUBLE_EQ(d.p90, 37);
}

RequestResult Ok(double ttft, double e2e, int64_t tokens, std::vector<double> itl = {}) {
  RequestResult r;
  r.ttft_ms = ttft;
  r.e2e_ms = e2e;
  r.output_tokens = tokens;
  r.prompt_tokens = 10;
  r.usage_reported = true;
  r.itl_ms = std::move(itl);
  return r;
}

TEST(Goodput, CountsRequestsMeetingEverySlo) {
  PassResult pass;
  pass.duration_s = 2;
  pass.cpu_user_s = 0.1;
  pass.cpu_sys_s = 0.1;
  pass.requests.push_back(Ok(100, 1090, 100, {5, 20}));   // tpot 10
  pass.requests.push_back(Ok(900, 1890, 100, {5, 5}));    // tpot 10
  pass.requests.push_back(Ok(100, 3070, 100, {50, 5}));   // tpot 30
  pass.requests.push_back(Ok(1500, 1500, 1));             // one token: no tpot
  RequestResult failed;
  failed.error = ErrorClass::kHttp5xx;
  failed.error_message = "HTTP 500: boom";
  failed.e2e_ms = 5;
  pass.requests.push_back(failed);
  RequestResult cancelled;
  cancelled.error = ErrorClass::kCancelled;
  pass.requests.push_back(cancelled);
  PassOptions opt;
  opt.concurrency = 4;
  opt.rate = kInfiniteRate;

  auto slo = ParseSlo("ttft=1s,tpot=20ms");
  ASSERT_TRUE(slo.ok());
  const PassSummary s = SummarizePass(pass, opt, *slo);
  EXPECT_EQ(s.sent, 6);
  EXPECT_EQ(s.completed, 4);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.cancelled, 1);
  EXPECT_EQ(s.errors.at("http_5xx"), 1);
  EXPECT_EQ(s.first_error, "http_5xx: HTTP 500: boom");
  EXPECT_EQ(s.slo_met, 2);  // the first two; the third is slow per token, the fourth late
  EXPECT_DOUBLE_EQ(s.goodput, 1.0);
  EXPECT_DOUBLE_EQ(s.request_throughput, 2.0);
  EXPECT_EQ(s.output_tokens, 301);
  EXPECT_DOUBLE_EQ(s.output_throughput, 150.5);
  EXPECT_EQ(s.tpot_ms.count, 3);
  EXPECT_DOUBLE_EQ(s.tpot_ms.p50, 10);
  EXPECT_EQ(s.itl_ms.count, 6);
  EXPECT_DOUBLE_EQ(s.client_cpu_percent, 10);
  EXPECT_EQ(s.token_counts, "usage");
  // An itl objective bounds every gap.
  auto itl = ParseSlo("itl=30ms");
  ASSERT_TRUE(itl.ok());
  EXPECT_EQ(SummarizePass(pass, opt, *itl).slo_met, 3);
  // No objectives: goodput is the request throughput.
  EXPECT_DOUBLE_EQ(SummarizePass(pass, opt, Slo{}).goodput, 2.0);
}

TEST(Arrivals, PoissonMeanRateAndSeed) {
  const auto a = PoissonArrivals(20000, 50, 7);
  ASSERT_EQ(a.size(), 20000u);
  EXPECT_EQ(a[0], 0);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  const double rate = static_cast<double>(a.size() - 1) / a.back();
  EXPECT_NEAR(rate, 50, 1.5);  // 20000 exponential gaps: sd of the mean ~0.7%
  // Gaps: exponential, so their coefficient of variation is ~1.
  double sum = 0, sq = 0;
  for (size_t i = 1; i < a.size(); ++i) {
    const double g = a[i] - a[i - 1];
    sum += g;
    sq += g * g;
  }
  const double n = static_cast<double>(a.size() - 1), mean = sum / n;
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean) / mean, 1.0, 0.05);
  EXPECT_EQ(PoissonArrivals(100, 3, 7), PoissonArrivals(100, 3, 7));
  EXPECT_NE(PoissonArrivals(100, 3, 7), PoissonArrivals(100, 3, 8));
  for (double t : PoissonArrivals(5, kInfiniteRate, 1)) EXPECT_EQ(t, 0);
}

int Words(const std::string& s) {
  return s.empty() ? 0 : 1 + static_cast<int>(std::count(s.begin(), s.end(), ' '));
}

TEST(Workload, SyntheticLengthsSeedsAndPrefix) {
  WorkloadOptions o;
  o.num_requests = 50;
  o.prompt_len = 20;
  o.output_len = 8;
  const auto fixed = SyntheticWorkload(o);
  ASSERT_EQ(fixed.size(), 50u);
  for (const auto& r : fixed) {
    EXPECT_EQ(Words(r.prompt), 20);
    EXPECT_EQ(r.max_tokens, 8);
    EXPECT_TRUE(r.system.empty());
  }
  EXPECT_NE(fixed[0].prompt, fixed[1].prompt);
  EXPECT_EQ(SyntheticWorkload(o)[3].prompt, fixed[3].prompt);  // seeded
  o.pass = 1;
  EXPECT_NE(SyntheticWorkload(o)[0].prompt, fixed[0].prompt);  // a new pass, new prompts

  o.kind = WorkloadKind::kSharedPrefix;
  o.prefix_len = 30;
  const auto shared = SyntheticWorkload(o);
  o.pass = 2;
  const auto shared2 = SyntheticWorkload(o);
  EXPECT_EQ(Words(shared[0].system), 30);
  EXPECT_EQ(shared[0].system, shared[49].system);
  EXPECT_EQ(shared[0].system, shared2[0].system);  // the prefix survives passes
  const auto body = RequestBody(shared[0], "m", /*chat=*/false, /*ignore_eos=*/false, nullptr);
  EXPECT_EQ(body["prompt"], shared[0].system + "\n\n" + shared[0].prompt);
  EXPECT_FALSE(body.contains("ignore_eos"));
  const auto chat = RequestBody(shared[0], "m", /*chat=*/true, /*ignore_eos=*/true, nullptr);
  EXPECT_EQ(chat["messages"][0]["role"], "system");
  EXPECT_EQ(chat["messages"][1]["content"], shared[0].prompt);

  o.kind = WorkloadKind::kLognormal;
  o.prefix_len = 0;
  o.num_requests = 4000;
  o.prompt_len = 100;
  o.output_len = 50;
  double words = 0, out = 0;
  int distinct = 0, last = -1;
  for (const auto& r : SyntheticWorkload(o)) {
    words += r.prompt_words;
    out += r.max_tokens;
    distinct += r.prompt_words != last;
    last = r.prompt_words;
  }
  EXPECT_NEAR(words / 4000, 100, 4);
  EXPECT_NEAR(out / 4000, 50, 2);
  EXPECT_GT(distinct, 1000);
  EXPECT_FALSE(ParseWorkloadKind("uniform").ok());
}

// The report JSON of one pass of made-up requests.
OrderedJson SampleReport() {
  PassResult pass;
  pass.duration_s = 3;
  for (int i = 0; i < 20; ++i) pass.requests.push_back(Ok(10 + i * 1.37, 100 + i * 3.1, 16, {1.5, 2.25}));
  PassOptions opt;
  opt.concurrency = 4;
  opt.rate = kInfiniteRate;
  OrderedJson report;
  report["config"] = {{"model", "m</script>"}, {"url", "http://x"}};
  report["passes"] = OrderedJson::array({PassJson(opt, pass, SummarizePass(pass, opt, Slo{}), 20)});
  return report;
}

TEST(Reports, HtmlCellsCarryTheJsonNumbers) {
  const OrderedJson report = SampleReport();
  const std::string html = HtmlReport(report);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("m</script>"), std::string::npos);  // escaped in the embedded JSON
  const std::regex cell("<td data-key=\"([^\"]+)\" data-value=\"([^\"]*)\">([^<]*)</td>");
  int cells = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), cell); it != std::sregex_iterator(); ++it) {
    const std::string key = (*it)[1], value = (*it)[2], text = (*it)[3];
    std::string pointer = "/" + key;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    const OrderedJson& v = report.at(OrderedJson::json_pointer(pointer));
    if (v.is_string()) {
      EXPECT_EQ(value, v.get<std::string>()) << key;
      continue;
    }
    EXPECT_EQ(value, v.dump()) << key;
    if (v.is_number_float()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
      EXPECT_EQ(text, buf) << key;
    }
    ++cells;
  }
  EXPECT_GT(cells, 25);
  EXPECT_EQ(report["passes"][0]["summary"]["completed"], 20);
  EXPECT_EQ(report["passes"][0]["requests"].size(), 20u);
  EXPECT_EQ(report["passes"][0]["label"], "concurrency 4");
}

TEST(Reports, ChartDrawsEverySeries) {
  ChartOptions o;
  o.title = "a < b";
  const std::string svg = LineChartSvg(o, {{"p50", {{1, 2}, {3, 4}}, true, {"c=1", "c=4"}}, {"p99", {{1, 5}}, false, {}}});
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 5, true);
  EXPECT_NE(svg.find("a &lt; b"), std::string::npos);
  EXPECT_NE(svg.find(">c=4<"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(LineChartSvg(o, {}).find("nan"), std::string::npos);  // empty: still drawable
}

// A fake OpenAI streaming server: /v1/completions streams 5 tokens 10 ms apart, /bad
// sends garbage, /err answers 404, /slow streams for a long time.
class FakeServer {
 public:
  FakeServer() {
    svr_.set_tcp_nodelay(true);
    svr_.Post("/v1/completions", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
        for (int i = 0; i < 5; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          const std::string ev = "data: {\"choices\":[{\"text\":\"t" + std::to_string(i) + "\",\"finish_reason\":" +
                                 (i == 4 ? "\"length\"" : "null") + "}]}\n\n";
          sink.write(ev.data(), ev.size());
        }
        const std::string tail = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n";
        sink.write(tail.data(), tail.size());
        sink.done();
        return true;
      });
    });
    svr_.Post("/bad", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: nonsense\n\n", "text/event-stream");
    });
    svr_.Post("/err", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content(R"({"error":{"message":"no such model","type":"invalid_request_error"}})", "application/json");
    });
    svr_.Post("/slow", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
        for (int i = 0; i < 300 && sink.is_writable(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          const std::string ev = "data: {\"choices\":[{\"text\":\"x\"}]}\n\n";
          if (!sink.write(ev.data(), ev.size())) return false;
        }
        sink.done();
        return true;
      });
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    svr_.stop();
    thread_.join();
  }
  ClientOptions Client() const {
    ClientOptions c;
    c.base_url = "http://127.0.0.1:" + std::to_string(port_);
    c.timeout_s = 30;
    return c;
  }

 private:
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
};

TEST(Client, TimesTokensAndClassifiesErrors) {
  FakeServer server;
  InitHttpClients();
  StreamingClient c(server.Client());
  std::atomic<bool> stop{false};
  const RequestResult r = c.Send("/v1/completions", "{}", stop);
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.content_chunks, 5);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.output_tokens, 5);
  EXPECT_EQ(r.prompt_tokens, 3);
  EXPECT_EQ(r.finish_reason, "length");
  ASSERT_EQ(r.itl_ms.size(), 4u);
  for (double g : r.itl_ms) EXPECT_GT(g, 5);  // the 10 ms gaps arrive as gaps
  EXPECT_GE(r.ttft_ms, 9);
  EXPECT_GE(r.e2e_ms, r.ttft_ms + 35);

  const RequestResult bad = c.Send("/bad", "{}", stop);
  EXPECT_EQ(bad.error, ErrorClass::kStreamParse);
  const RequestResult err = c.Send("/err", "{}", stop);
  EXPECT_EQ(err.error, ErrorClass::kHttp4xx);
  EXPECT_EQ(err.error_message, "HTTP 404: no such model");

  ClientOptions nowhere = server.Client();
  nowhere.base_url = "http://127.0.0.1:9";
  StreamingClient refused(nowhere);
  EXPECT_EQ(refused.Send("/v1/completions", "{}", stop).error, ErrorClass::kConnect);
  ClientOptions hurry = server.Client();
  hurry.timeout_s = 0.2;
  StreamingClient late(hurry);
  EXPECT_EQ(late.Send("/slow", "{}", stop).error, ErrorClass::kTimeout);
  EXPECT_FALSE(HttpGet("http://127.0.0.1:9/v1/models", "", 5).ok());
}

TEST(Runner, ConcurrencyRateAndStop) {
  FakeServer server;
  std::atomic<bool> stop{false};
  std::vector<std::string> bodies(12, "{}");
  PassOptions p;
  p.path = "/v1/completions";
  p.rate = kInfiniteRate;
  p.concurrency = 4;
  int calls = 0;
  const PassResult all = RunPass(bodies, p, server.Client(), stop, [&](int done, int total) {
    ++calls;
    EXPECT_LE(done, total);
  });
  ASSERT_EQ(all.requests.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(all.requests[i].index, static_cast<int>(i));
    EXPECT_TRUE(all.requests[i].ok()) << all.requests[i].error_message;
  }
  EXPECT_GE(calls, 1);
  EXPECT_FALSE(all.stopped);
  // 12 requests of ~50 ms, 4 at a time: at least 3 rounds.
  EXPECT_GE(all.duration_s, 0.14);
  const PassSummary s = SummarizePass(all, p, Slo{});
  EXPECT_GT(s.mean_in_flight, 2.5);

  p.rate = 40;
  p.concurrency = 12;
  const PassResult paced = RunPass(bodies, p, server.Client(), stop, nullptr);
  ASSERT_EQ(paced.requests.size(), 12u);
  for (const auto& r : paced.requests) EXPECT_GE(r.send_s + 1e-3, r.scheduled_s);
  EXPECT_GT(paced.requests.back().scheduled_s, 0);

  // Stopped while requests stream: they come back cancelled, the rest are not sent.
  p.path = "/slow";
  p.rate = kInfiniteRate;
  p.concurrency = 2;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
  });
  const PassResult stopped = RunPass(std::vector<std::string>(6, "{}"), p, server.Client(), stop, nullptr);
  stopper.join();
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.requests.size(), 2u);
  for (const auto& r : stopped.requests) EXPECT_EQ(r.error, ErrorClass::kCancelled);
  EXPECT_LT(stopped.duration_s, 2.5);
}

}  // namespace
}  // namespace weft::bench_serve
