#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace weft::server {
namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out;
}

std::vector<double> TokenBuckets() {
  return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
}

// A mixture of experts: tokens routed per (layer, expert), each layer's load imbalance
// (the busiest expert's tokens over the mean: 1 is perfect balance), and the expert cache.
void RenderMoe(const MoeStats& m, std::string* out) {
  *out += "# HELP weft_expert_tokens_total Tokens routed to each expert, by layer.\n"
          "# TYPE weft_expert_tokens_total counter\n";
  for (int64_t l = 0; l < m.n_layer; ++l) {
    for (int64_t e = 0; e < m.n_expert; ++e) {
      *out += fmt::format("weft_expert_tokens_total{{layer=\"{}\",expert=\"{}\"}} {}\n", l, e,
                          m.routed[static_cast<size_t>(l * m.n_expert + e)]);
    }
  }
  *out += "# HELP weft_expert_load_imbalance Busiest expert's tokens over the mean, by layer (1 = balanced).\n"
          "# TYPE weft_expert_load_imbalance gauge\n";
  const std::vector<double> imbalance = LoadImbalance(m);
  for (size_t l = 0; l < imbalance.size(); ++l) {
    *out += fmt::format("weft_expert_load_imbalance{{layer=\"{}\"}} {}\n", l, imbalance[l]);
  }
  *out += fmt::format("# HELP weft_expert_bytes_used_total Expert weight bytes the matmuls read (an expert counts "
                      "once per step however many tokens share it).\n# TYPE weft_expert_bytes_used_total counter\n"
                      "weft_expert_bytes_used_total {}\n",
                      m.expert_bytes_used);
  if (!m.cache) return;
  const ExpertCacheStats& c = *m.cache;
  auto line = [&](const char* type, const char* name, const char* help, int64_t v) {
    *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  line("counter", "weft_expert_cache_hits_total", "Expert uses served from memory.", c.hits);
  line("counter", "weft_expert_cache_misses_total", "Expert uses that read the expert from the model file.", c.misses);
  line("counter", "weft_expert_cache_prefetches_total", "Experts read ahead of use.", c.prefetches);
  line("counter", "weft_expert_bytes_read_total", "Expert bytes read from the model file.", c.bytes_read);
  line("gauge", "weft_expert_cache_resident_bytes", "Expert bytes in memory now.", c.resident_bytes);
  line("gauge", "weft_expert_cache_capacity_bytes", "The expert cache's capacity (--expert-cache-mem).",
       c.capacity_bytes);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& help, const std::string& labels,
                       std::string* out) const {
  const std::string sep = labels.empty() ? "" : ",";
  const std::string own = labels.empty() ? "" : "{" + labels + "}";
  *out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    *out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_[i], cumulative);
  }
  cumulative += counts_.back();
  *out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n{}_sum{} {}\n{}_count{} {}\n", name, labels, sep, cumulative,
                      name, own, sum_, name, own, count_);
}

Metrics::Metrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80}),
      tpot_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5}),
      e2e_({0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240}),
      queue_({0.001, 0.005, 0.01, 0.05, 0.1, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60, 120}),
      prompt_len_(TokenBuckets()),
      gen_len_(TokenBuckets()) {}

void Metrics::Record(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_by_status_[r.http_status];
  if (!r.finished_reason.empty()) {
    ++success_by_reason_[r.finished_reason];
    prompt_len_.Observe(static_cast<double>(r.prompt_tokens));
    gen_len_.Observe(static_cast<double>(r.generated_tokens));
  }
  prompt_tokens_ += r.prompt_tokens;
  generation_tokens_ += r.generated_tokens;
  if (r.ttft_s >= 0) ttft_.Observe(r.ttft_s);
  if (r.tpot_s >= 0) tpot_.Observe(r.tpot_s);
  if (r.e2e_s >= 0) e2e_.Observe(r.e2e_s);
  if (r.queue_s >= 0) queue_.Observe(r.queue_s);
}

std::string Metrics::Render(const EngineStats& s, int64_t in_flight, const std::string& model_name) const {
  const std::string model = fmt::format("model_name=\"{}\"", LabelValue(model_name));
  std::string out;
  auto metric = [&](const char* type, const char* name, const char* help, const std::string& labels, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{} {}\n", name, help, name, type, name,
                       labels.empty() ? "" : "{" + labels + "}", v);
  };
  // vLLM's names (docs.vllm.ai, "Production Metrics").
  metric("gauge", "vllm:num_requests_running", "Requests running in the engine.", model, s.num_running);
  metric("gauge", "vllm:num_requests_waiting", "Requests waiting for admission.", model, s.num_waiting);
  metric("gauge", "vllm:kv_cache_usage_perc", "KV-cache usage; 1 means 100 percent.", model, s.kv_usage);
  metric("gauge", "vllm:gpu_cache_usage_perc", "KV-cache usage, vLLM's older name (weft's cache is in CPU memory).",
         model, s.kv_usage);
  metric("counter", "vllm:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", model,
         static_cast<double>(s.prefix_queried_tokens));
  metric("counter", "vllm:prefix_cache_hits_total", "Prompt tokens served from the prefix cache.", model,
         static_cast<double>(s.prefix_hit_tokens));
  metric("counter", "vllm:num_preemptions_total", "Sequences preempted (recomputed) for lack of KV blocks.", model,
         static_cast<double>(s.num_preemptions));
  metric("counter", "vllm:spec_decode_num_drafts_total", "Target passes of a sequence that verified a draft.", model,
         static_cast<double>(s.spec_passes));
  metric("counter", "vllm:spec_decode_num_draft_tokens_total", "Draft tokens verified.", model,
         static_cast<double>(s.spec_draft_tokens));
  metric("counter", "vllm:spec_decode_num_accepted_tokens_total", "Draft tokens accepted.", model,
         static_cast<double>(s.spec_accepted_tokens));
  metric("counter", "weft_kv_window_evicted_tokens_total",
         "Sinks + window (--kv-window / kv_window) and KV budgets (--kv-budget / kv_budget): tokens whose KV blocks "
         "went back to the pool.",
         model, static_cast<double>(s.kv_evicted_tokens));
  metric("counter", "weft_kv_window_shifted_blocks_total",
         "Sinks + window and KV budgets: KV blocks whose K was re-rotated to its new position in the cache.", model,
         static_cast<double>(s.kv_shifted_blocks));
  metric("gauge", "weft_kv_budget_peak_tokens",
         "KV budgets: the most KV positions one budgeted sequence's attention saw in a step, since start.", model,
         static_cast<double>(s.kv_budget_peak_tokens));
  metric("counter", "weft_kv_budget_overruns_total",
         "KV budgets: steps in which a budgeted sequence attended more positions than its budget (0 unless broken).",
         model, static_cast<double>(s.kv_budget_overruns));
  if (s.tp_size > 1 || s.pp_size > 1) {
    metric("gauge", "weft_tp_size", "Tensor-parallel ranks (--tp).", "", s.tp_size);
    metric("gauge", "weft_pp_size", "Pipeline-parallel stages (--pp).", "", s.pp_size);
    metric("counter", "weft_tp_communication_seconds_total",
           "Rank 0's seconds in the tensor/pipeline-parallel communication (divide by the steps for time per step; "
           "under --pp it includes waiting for the later stages' logits).",
           "", s.tp_comm_seconds);
    metric("counter", "weft_tp_communication_bytes_total", "Bytes rank 0 moved in the tensor-parallel collectives.",
           "", static_cast<double>(s.tp_comm_bytes));
  }
  metric("gauge", "weft_spec_decode_acceptance_rate", "Accepted / verified draft tokens so far (0 without drafts).",
         "", s.spec_acceptance_rate());
  metric("gauge", "weft_spec_decode_tokens_per_pass",
         "Tokens produced per target pass of the sequences that verified a draft (mean accepted + 1).", "",
         s.spec_tokens_per_pass());
  metric("gauge", "weft_spec_decode_nodes_per_pass",
         "Draft tokens (token-tree nodes, --spec tree:...) verified per target pass of the sequences that verified a "
         "draft.", "", s.spec_nodes_per_pass());
  metric("counter", "weft_spec_decode_tree_branch_tokens_total",
         "Token trees: accepted tokens off the first-child chain (what the tree won over a chain).", "",
         static_cast<double>(s.spec_tree_branch_tokens));
  metric("counter", "weft_spec_decode_draft_seconds_total",
         "Seconds the proposer took (a draft model's forward passes); divide by the step time for its share.", "",
         s.spec_draft_seconds);
  metric("gauge", "weft_spec_decode_draft_kv_bytes", "Bytes of a draft model's own KV cache (out of the KV budget).",
         "", static_cast<double>(s.spec_kv_bytes));
  // weft's own, where vLLM has none.
  metric("gauge", "weft_num_requests_in_flight", "HTTP generation requests being served.", "",
         static_cast<double>(in_flight));
  metric("gauge", "weft_kv_cache_blocks", "KV cache blocks in total.", "", s.num_blocks);
  metric("gauge", "weft_kv_cache_bytes_per_token",
         "KV cache bytes one token takes (all layers, K and V, quantisation scales included); kv_type is \"K,V\" when they differ.",
         fmt::format("kv_type=\"{}\"", kernels::KvTypeName(s.kv_type)), static_cast<double>(s.kv_bytes_per_token));
  metric("counter", "weft_engine_steps_total", "Engine steps run.", "", static_cast<double>(s.num_steps));
  if (s.moe) RenderMoe(*s.moe, &out);
  std::lock_guard<std::mutex> lock(mu_);
  metric("counter", "vllm:prompt_tokens_total", "Prompt tokens of served requests.", model,
         static_cast<double>(prompt_tokens_));
  metric("counter", "vllm:generation_tokens_total", "Tokens generated for served requests.", model,
         static_cast<double>(generation_tokens_));
  out += "# HELP vllm:request_success_total Requests finished, by finish reason.\n"
         "# TYPE vllm:request_success_total counter\n";
  for (const auto& [reason, n] : success_by_reason_) {
    out += fmt::format("vllm:request_success_total{{{},finished_reason=\"{}\"}} {}\n", model, reason, n);
  }
  out += "# HELP weft_http_requests_total Generation requests answered, by HTTP status.\n"
         "# TYPE weft_http_requests_total counter\n";
  for (const auto& [code, n] : requests_by_status_) out += fmt::format("weft_http_requests_total{{code=\"{}\"}} {}\n", code, n);
  ttft_.Render("vllm:time_to_first_token_seconds", "Time from arrival to the first token.", model, &out);
  tpot_.Render("vllm:time_per_output_token_seconds", "Mean time between output tokens of a request.", model, &out);
  tpot_.Render("vllm:inter_token_latency_seconds", "Mean time between output tokens of a request (per request).",
               model, &out);
  e2e_.Render("vllm:e2e_request_latency_seconds", "Time from arrival to the last token.", model, &out);
  queue_.Render("vllm:request_queue_time_seconds", "Time from arrival to the first admission.", model, &out);
  prompt_len_.Render("vllm:request_prompt_tokens", "Prompt tokens per finished request.", model, &out);
  gen_len_.Render("vllm:request_generation_tokens", "Generated tokens per finished request.", model, &out);
  return out;
}

}  // namespace weft::server
