#include "bench_serve/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "bench_serve/metrics.h"
#include "bench_serve/svg_chart.h"

namespace weft::bench_serve {
namespace {

using Json = nlohmann::ordered_json;

const Json& At(const Json& j, const char* key) {
  static const Json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

double Number(const Json& j) { return j.is_number() ? j.get<double>() : 0.0; }

// A table cell that carries the JSON value it shows.
std::string Cell(const Json& value, const std::string& key) {
  std::string text;
  if (value.is_number_integer()) text = value.dump();
  else if (value.is_number()) text = fmt::format("{:.2f}", value.get<double>());
  else if (value.is_string()) text = value.get<std::string>();
  else text = value.dump();
  return fmt::format("<td data-key=\"{}\" data-value=\"{}\">{}</td>", EscapeXml(key),
                     EscapeXml(value.is_string() ? value.get<std::string>() : value.dump()), EscapeXml(text));
}

const char* kStyle = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f3f5f8}td:first-child,th:first-child,#config td{text-align:left}.muted{color:#666;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #eee}.warn{color:#a40}
)";

std::string ConfigTable(const Json& config) {
  std::string h = "<table id=\"config\">\n";
  for (const auto& [k, v] : config.items()) {
    h += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", EscapeXml(k),
                     EscapeXml(v.is_string() ? v.get<std::string>() : v.dump()));
  }
  return h + "</table>\n";
}

std::string ThroughputTable(const Json& passes) {
  struct Col {
    const char *key, *title;
  };
  static const Col kCols[] = {{"sent", "sent"},
                              {"completed", "completed"},
                              {"failed", "failed"},
                              {"cancelled", "cancelled"},
                              {"duration_s", "duration (s)"},
                              {"request_throughput", "requests/s"},
                              {"output_throughput", "output tok/s"},
                              {"total_token_throughput", "total tok/s"},
                              {"goodput", "goodput (req/s)"},
                              {"mean_in_flight", "mean in flight"},
                              {"prompt_tokens", "prompt tokens"},
                              {"output_tokens", "output tokens"},
                              {"token_counts", "token counts"},
                              {"client_cpu_percent", "client CPU %"}};
  std::string h = "<table id=\"throughput\">\n<tr><th>pass</th>";
  for (const Col& c : kCols) h += fmt::format("<th>{}</th>", c.title);
  h += "</tr>\n";
  for (size_t i = 0; i < passes.size(); ++i) {
    const Json& s = At(passes[i], "summary");
    h += fmt::format("<tr><td>{}</td>", EscapeXml(At(passes[i], "label").get<std::string>()));
    for (const Col& c : kCols) h += Cell(At(s, c.key), fmt::format("passes.{}.summary.{}", i, c.key));
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

std::string LatencyTable(const Json& passes, const char* metric, const char* title) {
  static const char* kStats[] = {"mean", "p50", "p90", "p99"};
  std::string h = fmt::format("<table id=\"{}\">\n<tr><th>{}</th>", metric, title);
  for (const char* st : kStats) h += fmt::format("<th>{}</th>", st);
  h += "<th>samples</th></tr>\n";
  for (size_t i = 0; i < passes.size(); ++i) {
    const Json& d = At(At(passes[i], "summary"), metric);
    h += fmt::format("<tr><td>{}</td>", EscapeXml(At(passes[i], "label").get<std::string>()));
    for (const char* st : kStats) h += Cell(At(d, st), fmt::format("passes.{}.summary.{}.{}", i, metric, st));
    h += Cell(At(d, "count"), fmt::format("passes.{}.summary.{}.count", i, metric));
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

std::string ErrorTable(const Json& passes) {
  std::string rows;
  for (size_t i = 0; i < passes.size(); ++i) {
    const Json& s = At(passes[i], "summary");
    for (const auto& [cls, n] : At(s, "errors").items()) {
      rows += fmt::format("<tr><td>{}</td><td>{}</td>{}<td style=\"text-align:left\">{}</td></tr>\n",
                          EscapeXml(At(passes[i], "label").get<std::string>()), EscapeXml(cls),
                          Cell(n, fmt::format("passes.{}.summary.errors.{}", i, cls)),
                          EscapeXml(At(s, "first_error").get<std::string>()));
    }
  }
  if (rows.empty()) return "<p id=\"errors\">No request failed.</p>\n";
  return "<table id=\"errors\">\n<tr><th>pass</th><th>class</th><th>count</th><th>first error</th></tr>\n" + rows +
         "</table>\n";
}

// The objective on `metric` ("ttft_ms", ...) from the config's --slo text, if any.
std::optional<double> SloOf(const Json& config, const std::string& metric) {
  const Json& raw = At(config, "slo");
  if (!raw.is_string() || raw.get<std::string>().empty()) return std::nullopt;
  StatusOr<Slo> slo = ParseSlo(raw.get<std::string>());
  if (!slo.ok()) return std::nullopt;
  if (metric == "ttft_ms") return slo->ttft_ms;
  if (metric == "tpot_ms") return slo->tpot_ms;
  if (metric == "itl_ms") return slo->itl_ms;
  if (metric == "e2e_ms") return slo->e2e_ms;
  return std::nullopt;
}

// "At concurrency 16: 457 tok/s, TTFT p99 0.92 s, goodput 100 %": the pass with the best
// output throughput, in one line.
std::string Conclusion(const Json& config, const Json& passes) {
  const Json* best = nullptr;
  for (const Json& p : passes) {
    if (best == nullptr ||
        Number(At(At(p, "summary"), "output_throughput")) > Number(At(At(*best, "summary"), "output_throughput"))) {
      best = &p;
    }
  }
  if (best == nullptr) return "No pass finished.";
  const Json& s = At(*best, "summary");
  std::string line = fmt::format("At {}: {:.0f} tok/s, TTFT p99 {:.2f} s", At(*best, "label").get<std::string>(),
                                 Number(At(s, "output_throughput")), Number(At(At(s, "ttft_ms"), "p99")) / 1e3);
  const double completed = Number(At(s, "completed"));
  if (At(config, "slo").is_string() && !At(config, "slo").get<std::string>().empty() && completed > 0) {
    line += fmt::format(", goodput {:.0f} %", 100.0 * Number(At(s, "slo_met")) / completed);
  }
  const double failed = Number(At(s, "failed"));
  if (failed > 0) line += fmt::format(", {:.0f} failed", failed);
  return line + (passes.size() > 1 ? " (the highest throughput of the passes)." : ".");
}

// p50/p90/p99 of one metric against output throughput, a point per pass, with its SLO.
std::string PercentileChart(const Json& config, const Json& passes, const char* metric, const char* title) {
  std::vector<ChartSeries> series;
  for (const char* st : {"p50", "p90", "p99"}) {
    ChartSeries s;
    s.name = st;
    for (const Json& p : passes) {
      const Json& sum = At(p, "summary");
      s.points.emplace_back(Number(At(sum, "output_throughput")), Number(At(At(sum, metric), st)));
      if (std::string(st) == "p99") s.point_labels.push_back(At(p, "label").get<std::string>());
    }
    series.push_back(std::move(s));
  }
  ChartOptions o;
  o.title = std::string(title) + " against throughput";
  o.x_label = "achieved output throughput (tokens/s)";
  o.y_label = std::string(title) + " (ms)";
  o.threshold_y = SloOf(config, metric);
  if (o.threshold_y) o.threshold_label = fmt::format("SLO {:g} ms", *o.threshold_y);
  return LineChartSvg(o, series);
}

// The TTFT CDF of each pass (at most ~400 points each).
std::string TtftCdf(const Json& passes) {
  std::vector<ChartSeries> series;
  for (const Json& p : passes) {
    std::vector<double> v;
    for (const Json& r : At(p, "requests")) {
      if (At(r, "ok").get<bool>()) v.push_back(Number(At(r, "ttft_ms")));
    }
    std::sort(v.begin(), v.end());
    ChartSeries s;
    s.name = At(p, "label").get<std::string>();
    s.markers = false;
    const size_t stride = std::max<size_t>(1, v.size() / 400);
    for (size_t k = 0; k < v.size(); k += stride) {
      s.points.emplace_back(v[k], static_cast<double>(k + 1) / static_cast<double>(v.size()));
    }
    if (!v.empty() && s.points.back().second < 1) s.points.emplace_back(v.back(), 1.0);
    series.push_back(std::move(s));
  }
  ChartOptions o;
  o.title = "TTFT distribution (CDF)";
  o.x_label = "time to first token (ms)";
  o.y_label = "fraction of requests";
  o.step = true;
  o.legend_low_right = true;
  o.width = 1132;
  o.height = 380;
  return LineChartSvg(o, series);
}

// The config and every pass without its requests, embedded for machines.
std::string SummaryScript(const Json& report) {
  Json s;
  s["config"] = At(report, "config");
  s["passes"] = Json::array();
  for (const Json& p : At(report, "passes")) {
    Json q = p;
    q.erase("requests");
    s["passes"].push_back(std::move(q));
  }
  std::string text = s.dump(1);
  // "</" would end the script element: JSON lets '/' be escaped.
  for (size_t pos = 0; (pos = text.find("</", pos)) != std::string::npos; pos += 3) text.replace(pos, 2, "<\\/");
  return "<script type=\"application/json\" id=\"weft-bench-summary\">\n" + text + "\n</script>\n";
}

}  // namespace

std::string HtmlReport(const Json& report) {
  const Json& config = At(report, "config");
  const Json& passes = At(report, "passes");
  auto str = [](const Json& j) { return j.is_string() ? j.get<std::string>() : j.is_null() ? std::string() : j.dump(); };
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<title>weft bench serve: " + EscapeXml(str(At(config, "model"))) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  h += "<h1>weft bench serve</h1>\n";
  h += "<p id=\"conclusion\"><b>" + EscapeXml(Conclusion(config, passes)) + "</b></p>\n";
  h += fmt::format("<p class=\"muted\">{} &middot; model {} at {} &middot; {} &middot; client {} CPUs</p>\n",
                   EscapeXml(str(At(report, "started"))), EscapeXml(str(At(config, "model"))),
                   EscapeXml(str(At(config, "url"))), EscapeXml(str(At(report, "weft"))),
                   EscapeXml(str(At(At(report, "client"), "cpus"))));
  if (At(report, "interrupted").is_boolean() && At(report, "interrupted").get<bool>()) {
    h += "<p class=\"warn\">Stopped early (Ctrl-C): the tables cover the requests that finished.</p>\n";
  }
  h += "<h2>Throughput</h2>\n" + ThroughputTable(passes);
  h += "<h2>Latency percentiles against throughput</h2>\n<div class=\"charts\">\n";
  h += PercentileChart(config, passes, "ttft_ms", "TTFT") + PercentileChart(config, passes, "tpot_ms", "TPOT");
  h += PercentileChart(config, passes, "itl_ms", "ITL") + PercentileChart(config, passes, "e2e_ms", "End-to-end latency");
  h += "</div>\n<h2>Time to first token</h2>\n<div class=\"charts\">\n" + TtftCdf(passes) + "</div>\n";
  h += "<h2>Latency (ms)</h2>\n";
  h += LatencyTable(passes, "ttft_ms", "TTFT") + LatencyTable(passes, "tpot_ms", "TPOT");
  h += LatencyTable(passes, "itl_ms", "ITL") + LatencyTable(passes, "e2e_ms", "end-to-end");
  h += "<h2>Errors</h2>\n" + ErrorTable(passes);
  h += "<h2>Configuration</h2>\n" + ConfigTable(config);
  h += "<p class=\"muted\">TTFT: send to the first non-empty content chunk. TPOT: (end-to-end - TTFT) / (output "
       "tokens - 1). ITL: every gap between content chunks. Token counts are the server's (the usage of the final "
       "stream chunk) where it reports them, else content chunks counted (see token_counts). Goodput: completed "
       "requests per second meeting every SLO. Client CPU: user + system time of weft bench serve over the pass, "
       "in % of one core.</p>\n";
  h += SummaryScript(report);
  h += "</body>\n</html>\n";
  return h;
}

}  // namespace weft::bench_serve
