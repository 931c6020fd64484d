#include "quant/scale_fold.h"

#include <fmt/format.h>

#include <algorithm>

namespace weft::quant {
namespace {

constexpr const char* kDenseArchs[] = {"llama", "qwen2", "qwen3", "gemma2", "gemma3"};
constexpr const char* kMoeArchs[] = {"qwen2moe", "qwen3moe", "olmoe"};

std::string ArchList() {
  std::string s;
  for (const char* a : kDenseArchs) s += (s.empty() ? "" : ", ") + std::string(a);
  for (const char* a : kMoeArchs) s += std::string(", ") + a + " (attention only)";
  return s;
}

// Rows `rows` (indices) of a matrix as floats, row after row.
std::vector<float> LoadRows(const TensorView& t, const std::vector<int64_t>& rows) {
  const int64_t k = t.ne[0];
  const size_t row_bytes = BytesForElements(t.type, k);
  std::vector<float> out(rows.size() * static_cast<size_t>(k));
  for (size_t i = 0; i < rows.size(); ++i) {
    DequantizeRow(t.type, t.data + static_cast<size_t>(rows[i]) * row_bytes, out.data() + i * k, k);
  }
  return out;
}

void MultiplyInto(std::vector<float>& dst, const std::vector<float>& f) {
  if (dst.empty()) {
    dst = f;
    return;
  }
  for (size_t i = 0; i < dst.size(); ++i) dst[i] *= f[i];
}

std::vector<float> Inverse(const std::vector<float>& s) {
  std::vector<float> r(s.size());
  for (size_t i = 0; i < s.size(); ++i) r[i] = 1.0f / s[i];
  return r;
}

// One group: its consumers read what `producer` writes (a norm: its weight/bias divided
// by s; a linear: its rows and bias divided by s).
struct GroupSpec {
  std::string input;
  std::vector<std::string> consumers;
  std::string producer;       // full tensor name
  std::string producer_bias;  // full tensor name (may not exist)
  bool producer_is_norm = true;
  bool gqa_map = false;  // attn_v -> attn_output: consumer column -> value channel
};

}  // namespace

Status CheckScaleFoldArchitecture(const GgufFile& file) {
  auto arch = file.GetString("general.architecture");
  if (!arch.ok()) return InvalidArgumentError("the model has no general.architecture: weft cannot tell where to fold scales");
  for (const char* a : kDenseArchs) if (*arch == a) return Status::Ok();
  for (const char* a : kMoeArchs) if (*arch == a) return Status::Ok();
  return InvalidArgumentError(fmt::format(
      "architecture '{}': weft does not know which layers read each norm's output there, so it cannot fold AWQ or "
      "SmoothQuant scales into it (supported: {}); quantise it with --method rtn or gptq",
      *arch, ArchList()));
}

void ApplyTensorScales(const TensorScales& s, int64_t first_row, int64_t nrows, int64_t ne0, float* rows) {
  for (int64_t r = 0; r < nrows; ++r) {
    const float rf = s.row.empty() ? 1.0f : s.row[static_cast<size_t>(first_row + r)];
    float* x = rows + r * ne0;
    if (s.col.empty()) {
      for (int64_t c = 0; c < ne0; ++c) x[c] *= rf;
    } else {
      for (int64_t c = 0; c < ne0; ++c) x[c] *= s.col[static_cast<size_t>(c)] * rf;
    }
  }
}

StatusOr<FoldPlan> PlanScaleFolding(const GgufFile& file, const std::vector<PlannedTensor>& plan,
                                    const InputStatsFn& stats, const FoldOptions& options, ThreadPool& pool) {
  WEFT_RETURN_IF_ERROR(CheckScaleFoldArchitecture(file));
  WEFT_ASSIGN_OR_RETURN(const std::string arch, file.GetString("general.architecture"));
  WEFT_ASSIGN_OR_RETURN(const int64_t n_layer, file.GetInt(arch + ".block_count"));
  const auto n_head = file.FindInt(arch + ".attention.head_count");
  const auto n_head_kv = file.FindInt(arch + ".attention.head_count_kv");
  std::map<std::string, DType> dst_type;
  for (const PlannedTensor& p : plan) dst_type[p.name] = p.dst_type;

  FoldPlan out;
  auto has = [&](const std::string& name) { return file.FindTensor(name) != nullptr; };
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    std::vector<GroupSpec> specs;
    if (has(b + "attn_qkv.weight")) {
      specs.push_back({"attn_norm", {b + "attn_qkv.weight"}, b + "attn_norm.weight", b + "attn_norm.bias", true, false});
    } else {
      specs.push_back({"attn_norm", {b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"},
                       b + "attn_norm.weight", b + "attn_norm.bias", true, false});
      specs.push_back({"attn_v", {b + "attn_output.weight"}, b + "attn_v.weight", b + "attn_v.bias", false, true});
    }
    const bool moe = has(b + "ffn_gate_inp.weight");
    if (moe) {
      out.skipped.push_back(b + "ffn: mixture of experts (the router reads ffn_norm's output; experts are rounded to "
                                "nearest, unscaled)");
    } else if (has(b + "ffn_gate.weight")) {
      specs.push_back({"ffn_norm", {b + "ffn_gate.weight", b + "ffn_up.weight"}, b + "ffn_norm.weight",
                       b + "ffn_norm.bias", true, false});
      specs.push_back({"ffn_up", {b + "ffn_down.weight"}, b + "ffn_up.weight", b + "ffn_up.bias", false, false});
    } else {
      specs.push_back({"ffn_norm", {b + "ffn_up.weight"}, b + "ffn_norm.weight", b + "ffn_norm.bias", true, false});
    }
    for (const GroupSpec& g : specs) {
      auto skip = [&](const std::string& why) { out.skipped.push_back(fmt::format("blk.{} {}: {}", l, g.input, why)); };
      // The consumers: present, 2-D, one shared calibration input read by nothing else.
      const InputStats* st = nullptr;
      std::vector<const TensorView*> views;
      std::string why;
      for (const std::string& c : g.consumers) {
        const TensorView* t = file.FindTensor(c);
        if (t == nullptr) { why = c + " is missing"; break; }
        if (t->n_dims != 2) { why = c + " is not a matrix"; break; }
        const InputStats* s = stats(c);
        if (s == nullptr) { why = "no calibration input was seen for " + c; break; }
        if (st != nullptr && s != st) { why = "its layers did not read one shared input"; break; }
        if (s->k != t->ne[0]) { why = c + "'s width differs from its calibration input's"; break; }
        st = s;
        views.push_back(t);
      }
      if (why.empty() && st->readers != nullptr) {
        for (const std::string& r : *st->readers) {
          if (std::find(g.consumers.begin(), g.consumers.end(), r) == g.consumers.end()) {
            why = r + " reads the same input (its scale would not be folded)";
          }
        }
      }
      if (!why.empty()) { skip(why); continue; }
      const TensorView* producer = file.FindTensor(g.producer);
      if (producer == nullptr) { skip(g.producer + " is missing"); continue; }
      const int64_t k = st->k;
      // The channel map and the number of channels the producer writes.
      std::vector<int32_t> channel;
      int64_t channels = k;
      if (g.gqa_map) {
        if (!n_head.ok() || !n_head_kv.ok() || !n_head->has_value() || !n_head_kv->has_value()) {
          skip("the head counts are not single integers (per-layer head counts)");
          continue;
        }
        const int64_t nh = **n_head, nkv = **n_head_kv;
        if (nh <= 0 || nkv <= 0 || nh % nkv != 0 || k % nh != 0) { skip("head counts do not divide the width"); continue; }
        const int64_t hd = k / nh;
        channels = nkv * hd;
        channel.resize(static_cast<size_t>(k));
        for (int64_t j = 0; j < k; ++j) channel[static_cast<size_t>(j)] = static_cast<int32_t>((j / hd) / (nh / nkv) * hd + j % hd);
      }
      const int64_t produced = g.producer_is_norm ? producer->NumElements() : producer->ne[1];
      if ((g.producer_is_norm && producer->n_dims != 1) || (!g.producer_is_norm && producer->n_dims != 2) ||
          produced != channels) {
        skip(fmt::format("{} does not write {} channels", g.producer, channels));
        continue;
      }
      const TensorView* bias = file.FindTensor(g.producer_bias);
      if (bias != nullptr && bias->NumElements() != channels) { skip(g.producer_bias + " has the wrong size"); continue; }
      // Consumers' weights in float: every row (SmoothQuant's max |w|), or a sample (AWQ).
      std::vector<std::vector<float>> weights;
      std::vector<ScaleConsumer> consumers;
      weights.reserve(views.size());
      for (const TensorView* t : views) {
        const int64_t rows = t->ne[1];
        const int64_t n = options.rule == ScaleRule::kAwq && options.search_rows > 0 ? std::min(rows, options.search_rows) : rows;
        std::vector<int64_t> idx(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i * rows / n;
        weights.push_back(LoadRows(*t, idx));
        auto it = dst_type.find(t->name);
        consumers.push_back({weights.back().data(), n, it == dst_type.end() ? t->type : it->second});
      }
      ScaleGroup sg;
      sg.k = k;
      sg.h = st->h;
      sg.channel = channel.empty() ? nullptr : channel.data();
      sg.channels = channels;
      FoldedGroup fg;
      fg.layer = static_cast<int>(l);
      fg.input = g.input;
      std::vector<float> s;
      if (options.rule == ScaleRule::kAwq) {
        if (st->mean_abs == nullptr) { skip("no activation statistics"); continue; }
        sg.act = st->mean_abs;
        if (sg.h == nullptr && options.awq.fixed_alpha < 0) { skip("no Hessian"); continue; }
        AwqResult r = AwqSearch(sg, consumers, options.awq, pool);
        s = std::move(r.scales);
        fg.alpha = r.alpha;
        fg.rtn_error = r.rtn_error;
        fg.error = r.error;
        fg.duo = r.duo;
      } else {
        if (st->max_abs == nullptr) { skip("no activation statistics"); continue; }
        sg.act = st->max_abs;
        s = SmoothQuantScales(sg, consumers, options.smooth_alpha);
        fg.alpha = options.smooth_alpha;
      }
      bool trivial = true;
      for (float v : s) trivial = trivial && v == 1.0f;
      out.groups.push_back(fg);
      if (trivial) continue;  // alpha 0: nothing to fold
      std::vector<float> col(static_cast<size_t>(k));
      for (int64_t j = 0; j < k; ++j) col[static_cast<size_t>(j)] = s[static_cast<size_t>(channel.empty() ? j : channel[static_cast<size_t>(j)])];
      const std::vector<float> inv = Inverse(s);
      for (const TensorView* t : views) MultiplyInto(out.tensors[t->name].col, col);
      if (g.producer_is_norm) {
        MultiplyInto(out.tensors[g.producer].col, inv);
      } else {
        MultiplyInto(out.tensors[g.producer].row, inv);
      }
      if (bias != nullptr) MultiplyInto(out.tensors[g.producer_bias].col, inv);
    }
  }
  return out;
}

}  // namespace weft::quant
