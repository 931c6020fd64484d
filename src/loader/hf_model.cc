// OpenSafetensorsModel: a Hugging Face model directory (config.json + model.safetensors,
// or shards listed in model.safetensors.index.json), or one .safetensors file with
// config.json beside it. HF tensor names are mapped to weft's (GGUF) names; for llama and
// mistral the q/k projection rows are permuted from HF's rotate-half layout back to the
// interleaved GGUF layout, into buffers owned by the ModelFile.
#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/log.h"
#include "base/mapped_file.h"
#include "loader/hf_chat_template.h"
#include "loader/hf_config.h"
#include "loader/hf_model.h"
#include "loader/model_file.h"
#include "loader/safetensors.h"
#include "loader/weight_check.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool IsRegularFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// A mixture of experts' tensors of one layer (the part after "model.layers.N."): the
// router, expert E's matrices (kept one per expert: ffn_gate.E.weight ...), Qwen2-MoE's
// shared expert and its gate. Mixtral: block_sparse_moe.gate, experts.E.w1 (gate), w3
// (up), w2 (down); Qwen2/3-MoE: mlp.gate, mlp.experts.E.{gate,up,down}_proj.
std::optional<std::string> MapExpertName(std::string_view rest) {
  static const std::map<std::string_view, std::string_view> kFixed = {
      {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"},
      {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
      {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},
      {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},  // DeepSeek
      {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
      {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
  };
  if (auto f = kFixed.find(rest); f != kFixed.end()) return std::string(f->second);
  std::string_view tail;
  for (std::string_view prefix : {"block_sparse_moe.experts.", "mlp.experts."}) {
    if (rest.substr(0, prefix.size()) == prefix) tail = rest.substr(prefix.size());
  }
  const size_t dot = tail.find('.');
  if (tail.empty() || dot == std::string_view::npos || dot == 0 || dot > 6) return std::nullopt;
  int64_t expert = 0;
  auto [end, ec] = std::from_chars(tail.data(), tail.data() + dot, expert);
  if (ec != std::errc() || end != tail.data() + dot) return std::nullopt;
  static const std::map<std::string_view, std::string_view> kRoles = {
      {"w1.weight", "ffn_gate"}, {"w3.weight", "ffn_up"}, {"w2.weight", "ffn_down"},
      {"gate_proj.weight", "ffn_gate"}, {"up_proj.weight", "ffn_up"}, {"down_proj.weight", "ffn_down"},
  };
  auto role = kRoles.find(tail.substr(dot + 1));
  if (role == kRoles.end()) return std::nullopt;
  return fmt::format("{}.{}.weight", role->second, expert);
}

// HF name -> weft name; nullopt for tensors weft does not use (e.g. rotary inv_freq).
// Gemma (sandwich norms) names its norms differently: post_attention_layernorm is the
// attention output's norm there, and pre_feedforward_layernorm the FFN input's.
std::optional<std::string> MapHfName(std::string_view name, bool gemma) {
  if (name == "model.embed_tokens.weight") return "token_embd.weight";
  if (name == "model.norm.weight") return "output_norm.weight";
  if (name == "lm_head.weight") return "output.weight";
  constexpr std::string_view kLayers = "model.layers.";
  if (name.substr(0, kLayers.size()) != kLayers) return std::nullopt;
  name.remove_prefix(kLayers.size());
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 9) return std::nullopt;
  int64_t layer = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + dot, layer);
  if (ec != std::errc() || end != name.data() + dot) return std::nullopt;
  const std::string_view rest = name.substr(dot + 1);
  static const std::map<std::string_view, std::string_view> kLayerNames = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.o_proj.bias", "attn_output.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"self_attn.qkv_proj.weight", "attn_qkv.weight"},  // Phi-3: fused by rows
      {"mlp.gate_up_proj.weight", "ffn_up.weight"},
      {"self_attn.q_a_proj.weight", "attn_q_a.weight"},  // DeepSeek's latent attention
      {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
      {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
      {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
      {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
      {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  static const std::map<std::string_view, std::string_view> kGemmaNorms = {
      {"post_attention_layernorm.weight", "post_attention_norm.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
  };
  if (gemma) {
    if (auto g = kGemmaNorms.find(rest); g != kGemmaNorms.end()) return fmt::format("blk.{}.{}", layer, g->second);
  }
  auto it = kLayerNames.find(rest);
  if (it != kLayerNames.end()) return fmt::format("blk.{}.{}", layer, it->second);
  if (auto expert = MapExpertName(rest)) return fmt::format("blk.{}.{}", layer, *expert);
  return std::nullopt;
}

// Where the files of one model are.
struct HfLayout {
  fs::path dir;
  fs::path config;
  std::vector<fs::path> shards;
  // From model.safetensors.index.json: tensor -> shard file name (empty without an index).
  std::map<std::string, std::string> weight_map;
  std::string index_path;
};

Status ReadShardIndex(const fs::path& index_path, HfLayout* layout) {
  const std::string src = index_path.string();
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(src));
  json index = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded()) return InvalidArgumentError(fmt::format("{}: not valid JSON", src));
  if (!index.is_object()) return InvalidArgumentError(fmt::format("{}: top level is not an object", src));
  auto it = index.find("weight_map");
  if (it == index.end() || !it->is_object()) {
    return InvalidArgumentError(fmt::format("{}: field 'weight_map' is missing or not an object", src));
  }
  std::set<std::string> files;
  for (const auto& [tensor, file] : it->items()) {
    if (!file.is_string()) {
      return InvalidArgumentError(
          fmt::format("{}: field 'weight_map.{}' is a {}, not a string", src, tensor, file.type_name()));
    }
    const std::string name = file.get<std::string>();
    const fs::path rel(name);
    bool safe = !name.empty() && rel.is_relative();
    for (const auto& part : rel) safe = safe && part != "..";
    if (!safe) {
      return InvalidArgumentError(
          fmt::format("{}: tensor '{}' names shard '{}', which is not a file inside the model directory", src, tensor,
                      name));
    }
    layout->weight_map[tensor] = name;
    files.insert(name);
  }
  if (files.empty()) return InvalidArgumentError(fmt::format("{}: 'weight_map' lists no tensors", src));
  for (const std::string& f : files) layout->shards.push_back(layout->dir / f);
  layout->index_path = src;
  return Status::Ok();
}

StatusOr<HfLayout> FindLayout(const std::string& path) {
  HfLayout layout;
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFoundError(fmt::format("{}: no such file or directory", path));
  if (fs::is_directory(path, ec)) {
    layout.dir = path;
    const fs::path index = layout.dir / "model.safetensors.index.json";
    const fs::path single = layout.dir / "model.safetensors";
    if (IsRegularFile(index)) {
      WEFT_RETURN_IF_ERROR(ReadShardIndex(index, &layout));
    } else if (IsRegularFile(single)) {
      layout.shards.push_back(single);
    } else {
      return NotFoundError(
          fmt::format("{}: no model.safetensors or model.safetensors.index.json in this directory", path));
    }
  } else {
    layout.dir = fs::path(path).parent_path();
    if (layout.dir.empty()) layout.dir = ".";
    layout.shards.push_back(path);
  }
  layout.config = layout.dir / "config.json";
  if (!IsRegularFile(layout.config)) {
    return NotFoundError(fmt::format("{}: config.json not found (looked for {})", path, layout.config.string()));
  }
  return layout;
}

// Rows of `head_rows` per head: HF keeps the two halves of each rotated pair apart
// (row j*half + i, j in {0,1}); GGUF interleaves them (row 2i + j). This is the
// inverse of the permutation that HF's convert_llama_weights_to_hf applies.
std::shared_ptr<std::vector<uint8_t>> InterleaveRopeRows(const TensorView& t, int64_t rows, int64_t head_rows) {
  const size_t row_bytes = t.nbytes / static_cast<size_t>(rows);
  const int64_t half = head_rows / 2;
  auto out = std::make_shared<std::vector<uint8_t>>(t.nbytes);
  for (int64_t h = 0; h < rows / head_rows; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t dst = h * head_rows + 2 * i + j;
        const int64_t src = h * head_rows + j * half + i;
        std::memcpy(out->data() + static_cast<size_t>(dst) * row_bytes,
                    t.data + static_cast<size_t>(src) * row_bytes, row_bytes);
      }
    }
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Gemma's RMSNorm multiplies by (1 + w) and HF checkpoints store w; weft (like GGUF
// files) uses the factor itself: every norm weight becomes 1 + w, in F32.
void OffsetGemmaNorms(ModelFile::Parts* parts) {
  for (TensorView& t : parts->tensors) {
    if (!EndsWith(t.name, "norm.weight")) continue;
    auto values = std::make_shared<std::vector<float>>(static_cast<size_t>(t.NumElements()));
    DequantizeTensor(t, values->data());
    for (float& v : *values) v += 1.0f;
    t.type = DType::kF32;
    t.data = reinterpret_cast<const uint8_t*>(values->data());
    t.nbytes = values->size() * sizeof(float);
    parts->keep_alive.push_back(std::move(values));
  }
}

Status PermuteQkToInterleaved(const ModelConfig& c, ModelFile::Parts* parts) {
  for (TensorView& t : parts->tensors) {
    WEFT_ASSIGN_OR_RETURN(const int64_t head_rows, RopeInterleaveHeadRows(c, t));
    if (head_rows == 0) continue;
    const int64_t rows = t.n_dims == 1 ? t.ne[0] : t.ne[1];
    auto buffer = InterleaveRopeRows(t, rows, head_rows);
    t.data = buffer->data();
    parts->keep_alive.push_back(std::move(buffer));
  }
  return Status::Ok();
}

// True if a tokenizers.json pre_tokenizer/decoder (possibly a Sequence) has a ByteLevel step.
bool HasByteLevel(const json& node, int depth = 0) {
  if (depth > 16) return false;
  if (node.is_object()) {
    auto type = node.find("type");
    if (type != node.end() && type->is_string() && type->get<std::string>() == "ByteLevel") return true;
    for (const char* key : {"pretokenizers", "decoders"}) {
      auto it = node.find(key);
      if (it != node.end() && HasByteLevel(*it, depth + 1)) return true;
    }
  } else if (node.is_array()) {
    for (const json& e : node) {
      if (HasByteLevel(e, depth + 1)) return true;
    }
  }
  return false;
}

// GGUF-style tokenizer kind from tokenizer.json: SentencePiece-like BPE with byte
// fallback -> "llama", byte-level BPE -> "gpt2", WordPiece -> "bert", Unigram -> "t5".
StatusOr<std::string> TokenizerKind(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  json tok = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (tok.is_discarded()) return InvalidArgumentError(fmt::format("{}: not valid JSON", path));
  if (!tok.is_object()) return InvalidArgumentError(fmt::format("{}: top level is not an object", path));
  auto model = tok.find("model");
  if (model == tok.end() || !model->is_object()) {
    return InvalidArgumentError(fmt::format("{}: field 'model' is missing or not an object", path));
  }
  auto type = model->find("type");
  if (type == model->end() || !type->is_string()) {
    return InvalidArgumentError(fmt::format("{}: field 'model.type' is missing or not a string", path));
  }
  const std::string t = type->get<std::string>();
  if (t == "BPE") {
    auto fallback = model->find("byte_fallback");
    if (fallback != model->end() && fallback->is_boolean() && fallback->get<bool>()) return std::string("llama");
    auto pre = tok.find("pre_tokenizer");
    auto dec = tok.find("decoder");
    if ((pre != tok.end() && HasByteLevel(*pre)) || (dec != tok.end() && HasByteLevel(*dec))) {
      return std::string("gpt2");
    }
  } else if (t == "WordPiece") {
    return std::string("bert");
  } else if (t == "Unigram") {
    return std::string("t5");
  }
  WEFT_LOG_WARN("{}: tokenizer model type '{}' is not one weft recognises", path, t);
  return std::string();
}

StatusOr<TokenizerInfo> HfTokenizerInfo(const fs::path& dir, const ModelConfig& config) {
  TokenizerInfo info;
  info.vocab_size = config.n_vocab;
  const fs::path tokenizer_json = dir / "tokenizer.json";
  const fs::path tokenizer_config = dir / "tokenizer_config.json";
  if (IsRegularFile(tokenizer_json)) {
    info.tokenizer_json_path = tokenizer_json.string();
    WEFT_ASSIGN_OR_RETURN(info.kind, TokenizerKind(info.tokenizer_json_path));
  }
  if (IsRegularFile(tokenizer_config)) info.tokenizer_config_path = tokenizer_config.string();
  WEFT_ASSIGN_OR_RETURN(info.chat_template, ReadHfChatTemplate(dir.string(), info.tokenizer_config_path));
  return info;
}

// Maps every shard's tensors to weft names into parts->tensors.
Status CollectTensors(const HfLayout& layout, bool gemma, ModelFile::Parts* parts) {
  std::map<std::string, std::string> seen;  // weft name -> shard it came from
  for (const fs::path& shard_path : layout.shards) {
    WEFT_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapped, MappedFile::Open(shard_path.string()));
    const std::span<const uint8_t> shard_bytes = mapped->bytes();
    parts->mappings.push_back(mapped);
    WEFT_ASSIGN_OR_RETURN(std::shared_ptr<const SafetensorsFile> shard,
                          ParseSafetensorsBuffer(std::move(mapped), shard_bytes, shard_path.string()));
    parts->file_bytes += shard->file_size();
    const std::string shard_name = shard_path.filename().string();
    for (const TensorView& t : shard->tensors()) {
      if (!layout.weight_map.empty()) {
        auto it = layout.weight_map.find(t.name);
        if (it == layout.weight_map.end() || fs::path(it->second).filename() != shard_name) {
          WEFT_LOG_DEBUG("{}: tensor '{}' is not listed for this shard in {}; skipped", shard_path.string(), t.name,
                         layout.index_path);
          continue;
        }
      }
      std::optional<std::string> name = MapHfName(t.name, gemma);
      if (!name) {
        WEFT_LOG_DEBUG("{}: tensor '{}' is not used by weft; skipped", shard_path.string(), t.name);
        continue;
      }
      if (t.type != DType::kF32 && t.type != DType::kF16 && t.type != DType::kBF16) {
        return UnimplementedError(fmt::format("{}: tensor '{}' has dtype {}; weights must be F32, F16 or BF16",
                                              shard_path.string(), t.name, DTypeName(t.type)));
      }
      auto [it, fresh] = seen.emplace(*name, shard_path.string());
      if (!fresh) {
        return DataLossError(fmt::format("{}: tensor '{}' also appears in {}", shard_path.string(), t.name, it->second));
      }
      TensorView view = t;
      view.name = *name;
      // Qwen2-MoE's shared-expert gate is a [1, n_embd] linear layer: a vector to weft.
      if (EndsWith(view.name, ".ffn_gate_inp_shexp.weight") && view.n_dims == 2 && view.ne[1] == 1) view.n_dims = 1;
      parts->tensors.push_back(std::move(view));
    }
    parts->keep_alive.push_back(std::move(shard));
  }
  // Every tensor the index promises must have been found in its shard.
  for (const auto& [hf_name, file] : layout.weight_map) {
    std::optional<std::string> name = MapHfName(hf_name, gemma);
    if (name && seen.count(*name) == 0) {
      return DataLossError(fmt::format("{}: tensor '{}' is listed in shard '{}' but that shard does not hold it",
                                       layout.index_path, hf_name, file));
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<int64_t> RopeInterleaveHeadRows(const ModelConfig& c, const TensorView& t) {
  if (c.rope_style != RopeStyle::kInterleaved || c.is_mla()) return int64_t{0};
  const bool q = EndsWith(t.name, ".attn_q.weight") || EndsWith(t.name, ".attn_q.bias");
  const bool k = EndsWith(t.name, ".attn_k.weight") || EndsWith(t.name, ".attn_k.bias");
  if (!q && !k) return int64_t{0};
  // Shapes were checked: rows = heads * head_dim is the outermost dimension.
  const int64_t rows = t.n_dims == 1 ? t.ne[0] : t.ne[1];
  const int64_t expected = (q ? c.n_head : c.n_head_kv) * c.head_dim;
  if (rows != expected || t.NumElements() == 0 || c.head_dim % 2 != 0) {
    return InternalError(fmt::format("tensor '{}' has {} rows, expected {}", t.name, rows, expected));
  }
  return c.head_dim;
}

int64_t RopeInterleaveSourceRow(int64_t row, int64_t head_rows) {
  const int64_t head = row / head_rows, r = row % head_rows, half = head_rows / 2;
  return head * head_rows + (r % 2) * half + r / 2;
}

StatusOr<std::shared_ptr<const ModelFile>> OpenSafetensorsModel(const std::string& path) {
  return OpenSafetensorsModelAs(path, HfQkRows::kInterleaved);
}

StatusOr<std::shared_ptr<const ModelFile>> OpenSafetensorsModelAs(const std::string& path, HfQkRows qk_rows) {
  WEFT_ASSIGN_OR_RETURN(HfLayout layout, FindLayout(path));
  const std::string config_path = layout.config.string();
  WEFT_ASSIGN_OR_RETURN(std::string config_text, ReadFileToString(config_path));
  WEFT_ASSIGN_OR_RETURN(ModelConfig config, ParseHfConfig(config_text, config_path));

  ModelFile::Parts parts;
  parts.format = ModelFormat::kSafetensors;
  parts.path = path;
  const bool gemma = config.arch == "gemma2" || config.arch == "gemma3";
  WEFT_RETURN_IF_ERROR(CollectTensors(layout, gemma, &parts));
  if (gemma) OffsetGemmaNorms(&parts);

  // tied_embeddings means exactly "there is no output.weight", as for GGUF: a checkpoint
  // that saves lm_head although tie_word_embeddings is true keeps (and uses) it.
  bool has_output = false;
  for (const TensorView& t : parts.tensors) has_output = has_output || t.name == "output.weight";
  if (!has_output && !config.tied_embeddings) {
    return NotFoundError(fmt::format("{}: lm_head.weight is missing and tie_word_embeddings is false", path));
  }
  if (has_output && config.tied_embeddings) {
    WEFT_LOG_DEBUG("{}: tie_word_embeddings is true but lm_head.weight is present; using lm_head", path);
  }
  config.tied_embeddings = !has_output;
  WEFT_RETURN_IF_ERROR(CheckLlamaWeights(config, parts.tensors, path));
  if (qk_rows == HfQkRows::kInterleaved) WEFT_RETURN_IF_ERROR(PermuteQkToInterleaved(config, &parts));

  WEFT_ASSIGN_OR_RETURN(parts.tokenizer, HfTokenizerInfo(layout.dir, config));
  parts.config = std::move(config);
  return std::make_shared<const ModelFile>(std::move(parts));
}

}  // namespace weft
