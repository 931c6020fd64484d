#include "model/model_summary.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "kernels/kv_type.h"
#include "loader/gguf.h"
#include "loader/gguf_model.h"
#include "loader/weight_check.h"
#include "model/model_registry.h"
#include "loader/rope_freq_factors.h"

namespace weft {
namespace {

bool StartsWithGgufMagic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[4] = {};
  in.read(head, 4);
  return in.gcount() == 4 && std::memcmp(head, "GGUF", 4) == 0;
}

void AddTensors(const std::vector<TensorView>& tensors, ModelSummary* s) {
  s->n_tensors = static_cast<int64_t>(tensors.size());
  int64_t misaligned = 0;
  std::string example;
  for (const auto& t : tensors) {
    auto& tc = s->types[std::string(DTypeName(t.type))];
    tc.tensors += 1;
    tc.elements += t.NumElements();
    tc.bytes += t.nbytes;
    s->n_params += t.NumElements();
    s->weight_bytes += t.nbytes;
    if (!t.RowsAreBlockAligned()) {
      if (misaligned++ == 0) example = t.name + " " + t.ShapeString();
    }
  }
  if (misaligned > 0) {
    s->notes.push_back(fmt::format(
        "{} tensor(s) have rows that are not a whole number of quantisation blocks (e.g. {}), so blocks run across "
        "rows; weft dequantises these to F32 at load",
        misaligned, example));
  }
}

}  // namespace

// KV cache bytes a token takes with each --kv-type (kernels/kv_type.h: scales included),
// and with one mixed pair (K q8, V q4) as an example of --kv-type K,V.
constexpr kernels::KvTypes kAllKvTypes[] = {kernels::KvType::kF16, kernels::KvType::kBF16, kernels::KvType::kF32,
                                            kernels::KvType::kQ8,  kernels::KvType::kFp8,  kernels::KvType::kQ4,
                                            {kernels::KvType::kQ8, kernels::KvType::kQ4}};
static int64_t KvBytesPerTokenOf(const ModelConfig& c, kernels::KvTypes t) {
  // Latent attention (DeepSeek) caches one row of kv_lora_rank + rope_dim per token.
  const int64_t heads = c.is_mla() ? 1 : c.n_head_kv;
  const int64_t dim = c.is_mla() ? c.kv_lora_rank + c.rope_dim : c.head_dim;
  return c.n_layer * heads * kernels::KvRowBytes(t, static_cast<int>(dim));  // K + V
}

bool IsSupportedArchitecture(const std::string& arch) { return FindArchitecture(arch) != nullptr; }

std::optional<uint64_t> ModelSummary::KvBytesPer1kTokens() const {
  if (!config) return std::nullopt;
  return static_cast<uint64_t>(config->KvBytesPerToken(2)) * 1024;
}

StatusOr<ModelSummary> SummarizeModel(const std::string& path) {
  ModelSummary s;
  s.path = path;
  struct stat st {};
  const bool is_dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  // Keeps the file mapped while `tensors` is in use.
  std::shared_ptr<const void> owner;
  const std::vector<TensorView>* tensors = nullptr;
  if (!is_dir && StartsWithGgufMagic(path)) {
    // GGUF is summarised from the file itself so that tokenizer-only files and
    // architectures weft does not run are still described.
    WEFT_ASSIGN_OR_RETURN(auto gguf, OpenGgufFile(path));
    s.format = fmt::format("GGUF v{}", gguf->version());
    s.file_bytes = gguf->file_size();
    auto arch = gguf->GetString("general.architecture");
    s.arch = arch.ok() ? *arch : std::string("unknown");
    auto config = ModelConfigFromGguf(*gguf);
    if (config.ok()) s.config = std::move(config).value();
    else s.config_error = config.status().message();
    auto tok = TokenizerInfoFromGguf(*gguf);
    if (!tok.ok()) return std::move(tok).status().WithContext(path);
    s.tokenizer = std::move(tok).value();
    if (gguf->tensors().empty()) s.notes.push_back("no tensors: a vocabulary-only file (tokenizer tests)");
    tensors = &gguf->tensors();
    owner = gguf;
  } else {
    WEFT_ASSIGN_OR_RETURN(auto model, OpenModelFile(path));
    s.format = std::string(ModelFormatName(model->format()));
    s.file_bytes = model->file_bytes();
    s.config = model->config();
    s.arch = model->config().arch;
    s.tokenizer = model->tokenizer();
    tensors = &model->tensors();
    owner = model;
  }
  AddTensors(*tensors, &s);
  s.arch_supported = IsSupportedArchitecture(s.arch);
  if (s.arch_supported && s.config && !tensors->empty()) {
    // Say now, not at `weft run` time, when a file cannot be run as it is.
    Status weights = CheckLlamaWeights(*s.config, *tensors, "weights");
    if (!weights.ok()) s.notes.push_back("cannot run as is: " + weights.message());
  }
  return s;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string HumanCount(int64_t n) {
  if (n < 1000) return std::to_string(n);
  if (n < 1000000) return fmt::format("{:.1f} K", static_cast<double>(n) / 1e3);
  if (n < 1000000000) return fmt::format("{:.1f} M", static_cast<double>(n) / 1e6);
  return fmt::format("{:.2f} B", static_cast<double>(n) / 1e9);
}

std::string FormatModelSummary(const ModelSummary& s) {
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<15}{}\n", key, value); };
  line("file:", fmt::format("{} ({}, {})", s.path, s.format, HumanBytes(s.file_bytes)));
  line("architecture:", s.arch + (s.arch_supported ? "" : "  (weft does not run this architecture; it runs: " + ArchitectureNames() + ")"));
  line("parameters:", fmt::format("{} ({} tensors)", HumanCount(s.n_params), s.n_tensors));
  std::string types;
  for (const auto& [name, tc] : s.types) {
    if (!types.empty()) types += ", ";
    types += fmt::format("{} x{} ({})", name, tc.tensors, HumanBytes(tc.bytes));
  }
  line("tensor types:", types.empty() ? "none" : types);
  line("weights:", HumanBytes(s.weight_bytes) + " in memory");
  if (s.config) {
    const ModelConfig& c = *s.config;
    line("layers:", fmt::format("{} x (embd {}, heads {}/{} kv, head dim {}, ffn {})", c.n_layer, c.n_embd, c.n_head,
                                c.n_head_kv, c.head_dim, c.n_ff));
    if (c.is_moe()) {
      line("experts:", fmt::format("{} per layer, top {} per token{} (expert ffn {}{}); --expert-cache-mem keeps them "
                                   "on disk",
                                   c.n_expert, c.n_expert_used, c.expert_weights_norm ? ", weights renormalised" : "",
                                   c.ExpertFf(),
                                   c.n_ff_shared_expert > 0 ? fmt::format(", shared expert ffn {}", c.n_ff_shared_expert)
                                                            : std::string()));
      std::string routing = c.expert_gating == ExpertGating::kSigmoid ? "sigmoid scores" : "softmax scores";
      if (c.expert_group_count > 0) {
        routing += fmt::format(", best {} of {} expert groups", c.expert_group_used, c.expert_group_count);
      }
      if (c.expert_weights_scale != 1.0f) routing += fmt::format(", weights x {:g}", c.expert_weights_scale);
      if (c.n_dense_lead_layers > 0) routing += fmt::format(", first {} layers dense", c.n_dense_lead_layers);
      line("routing:", routing);
    }
    if (c.is_mla()) {
      line("attention:", fmt::format("multi-head latent: per token a latent of {} + a rope key of {} cached (heads: "
                                     "{} + {} q/k dims, {} v dims){}",
                                     c.kv_lora_rank, c.rope_dim, c.qk_nope_dim, c.rope_dim, c.v_head_dim,
                                     c.q_lora_rank > 0 ? fmt::format(", q bottleneck {}", c.q_lora_rank) : ""));
    }
    line("context:", fmt::format("{} tokens", c.context_length));
    if (c.LayerWindow(0) > 0 || c.LayerWindow(c.sliding_window_pattern - 1) > 0) {
      line("attention:", fmt::format("sliding window of {} tokens{}", c.sliding_window,
                                     c.sliding_window_pattern <= 1
                                         ? std::string(" in every layer")
                                         : fmt::format(", global every {} layers", c.sliding_window_pattern)));
    }
    line("kv cache:", fmt::format("{} per 1k tokens (F16); {} for the full context", HumanBytes(*s.KvBytesPer1kTokens()),
                                  HumanBytes(static_cast<uint64_t>(c.KvBytesPerToken(2) * c.context_length))));
    {
      std::string per_type;
      for (kernels::KvTypes t : kAllKvTypes) {
        per_type += fmt::format("{}{} {}", per_type.empty() ? "" : ", ", kernels::KvTypeName(t), KvBytesPerTokenOf(c, t));
      }
      line("kv per token:", per_type + " bytes (--kv-type)");
    }
    if (!c.is_mla()) {
      // What a KV budget bounds (kv/kv_budget.h): the same bytes at any length.
      const int64_t budget = std::min<int64_t>(1024, std::max<int64_t>(64, c.context_length / 4));
      line("kv budget:", fmt::format("--kv-budget {} holds a sequence in {} (F16) however long it runs, past the "
                                     "context too (--kv-policy h2o|window|sinks; or --kv-window)",
                                     budget, HumanBytes(static_cast<uint64_t>(c.KvBytesPerToken(2) * budget))));
    }
    std::string scaling;
    if (c.rope_scaling.type == RopeScalingType::kLongRope) {
      scaling = fmt::format(", longrope ({} factors: context {} vs original {}; cos/sin x {:.4g})",
                            LongRopeUsesLongFactors(c.rope_scaling, c.context_length) ? "long" : "short",
                            c.context_length, c.rope_scaling.original_context, c.rope_scaling.yarn_attn_factor);
    }
    line("rope:", fmt::format("theta {:g}, {} dims, {}{}", c.rope_theta, c.rope_dim,
                              c.rope_style == RopeStyle::kNeox ? "neox (half rotation)" : "interleaved", scaling));
  } else {
    line("config:", "unavailable: " + s.config_error);
  }
  std::string tok = s.tokenizer.kind.empty() ? std::string("none found") : s.tokenizer.kind;
  if (s.tokenizer.kind == "llama") tok += " (SentencePiece BPE)";
  else if (s.tokenizer.kind == "gpt2") tok += " (byte-level BPE)";
  else if (s.tokenizer.kind == "bert") tok += " (WordPiece)";
  if (!s.tokenizer.pre.empty()) tok += ", pre-tokenizer " + s.tokenizer.pre;
  if (s.tokenizer.vocab_size > 0) tok += fmt::format(", {} tokens", s.tokenizer.vocab_size);
  line("tokenizer:", tok);
  line("chat template:", s.tokenizer.chat_template
                             ? fmt::format("present ({} bytes)", s.tokenizer.chat_template->size())
                             : std::string("none (give one with --chat-template FILE)"));
  for (const auto& note : s.notes) line("note:", note);
  return out;
}

std::string FormatModelSummaryJson(const ModelSummary& s) {
  nlohmann::ordered_json j;
  j["path"] = s.path;
  j["format"] = s.format;
  j["file_bytes"] = s.file_bytes;
  j["architecture"] = s.arch;
  j["architecture_supported"] = s.arch_supported;
  j["n_tensors"] = s.n_tensors;
  j["n_params"] = s.n_params;
  j["weight_bytes"] = s.weight_bytes;
  auto& types = j["tensor_types"] = nlohmann::ordered_json::object();
  for (const auto& [name, tc] : s.types) {
    types[name] = {{"tensors", tc.tensors}, {"elements", tc.elements}, {"bytes", tc.bytes}};
  }
  if (s.config) {
    const ModelConfig& c = *s.config;
    j["config"] = {{"arch", c.arch},
                   {"n_vocab", c.n_vocab},
                   {"n_embd", c.n_embd},
                   {"n_layer", c.n_layer},
                   {"n_head", c.n_head},
                   {"n_head_kv", c.n_head_kv},
                   {"head_dim", c.head_dim},
                   {"n_ff", c.n_ff},
                   {"context_length", c.context_length},
                   {"norm_eps", c.norm_eps},
                   {"rope_theta", c.rope_theta},
                   {"rope_dim", c.rope_dim},
                   {"rope_style", c.rope_style == RopeStyle::kNeox ? "neox" : "interleaved"},
                   {"tied_embeddings", c.tied_embeddings},
                   {"attn_qkv_bias", c.attn_qkv_bias},
                   {"qk_norm", c.qk_norm}};
    if (c.is_moe()) {
      j["config"]["n_expert"] = c.n_expert;
      j["config"]["n_expert_used"] = c.n_expert_used;
      j["config"]["n_ff_expert"] = c.ExpertFf();
      j["config"]["n_ff_shared_expert"] = c.n_ff_shared_expert;
      j["config"]["expert_weights_norm"] = c.expert_weights_norm;
    }
    j["kv_bytes_per_1k_tokens"] = *s.KvBytesPer1kTokens();
    for (kernels::KvTypes t : kAllKvTypes) j["kv_bytes_per_token"][kernels::KvTypeName(t)] = KvBytesPerTokenOf(c, t);
  } else {
    j["config"] = nullptr;
    j["config_error"] = s.config_error;
  }
  j["tokenizer"] = {{"kind", s.tokenizer.kind},
                    {"pre", s.tokenizer.pre},
                    {"vocab_size", s.tokenizer.vocab_size},
                    {"chat_template", s.tokenizer.chat_template.has_value()}};
  j["notes"] = s.notes;
  return j.dump(2) + "\n";
}

}  // namespace weft
