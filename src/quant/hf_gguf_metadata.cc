#include "quant/hf_gguf_metadata.h"

#include <fmt/format.h>

#include <map>
#include <string>
#include <vector>

#include "tokenizer/vocabulary.h"

namespace weft::quant {
namespace {

GgufValue U32(int64_t v) { return GgufValue{GgufType::kUint32, v}; }
GgufValue F32(double v) { return GgufValue{GgufType::kFloat32, v}; }
GgufValue Str(std::string v) { return GgufValue{GgufType::kString, std::move(v)}; }
GgufValue Bool(bool v) { return GgufValue{GgufType::kBool, v}; }

GgufValue Array(GgufType elem, GgufArray a) {
  a.elem_type = elem;
  a.size = elem == GgufType::kString ? a.strings.size() : elem == GgufType::kFloat32 ? a.floats.size() : a.ints.size();
  return GgufValue{GgufType::kArray, std::move(a)};
}

// SentencePiece scores that make merge-by-score follow the BPE merge ranks: the token a
// merge of rank r produces scores -r (the first merge highest); every other token (bytes,
// single characters, specials: never a merge's product) scores below them all.
std::vector<double> ScoresFromMerges(const Vocabulary& v) {
  std::map<std::string, int64_t> id_of;
  for (int32_t i = 0; i < v.size(); ++i) id_of.emplace(v.tokens[static_cast<size_t>(i)], i);
  std::vector<double> scores(v.tokens.size(), -static_cast<double>(v.merges.size()));
  std::vector<bool> set(v.tokens.size(), false);
  for (size_t r = 0; r < v.merges.size(); ++r) {
    auto it = id_of.find(v.merges[r].first + v.merges[r].second);
    if (it == id_of.end() || set[static_cast<size_t>(it->second)]) continue;
    scores[static_cast<size_t>(it->second)] = -static_cast<double>(r);
    set[static_cast<size_t>(it->second)] = true;
  }
  return scores;
}

Status AddTokenizer(const ModelFile& hf, std::map<std::string, GgufValue>& md) {
  const TokenizerInfo& ti = hf.tokenizer();
  if (ti.tokenizer_json_path.empty()) {
    return NotFoundError(fmt::format("{}: no tokenizer.json (weft quantize converts the tokenizer from it)", hf.path()));
  }
  WEFT_ASSIGN_OR_RETURN(Vocabulary v, LoadVocabularyFromTokenizerJson(ti.tokenizer_json_path, ti.tokenizer_config_path));
  if (v.algorithm != TokenizerAlgorithm::kSentencePieceBpe) {
    return UnimplementedError(fmt::format(
        "{}: the tokenizer is {}; weft quantize converts SentencePiece-style BPE tokenizers (llama's) only so far",
        ti.tokenizer_json_path, TokenizerAlgorithmName(v.algorithm)));
  }
  md["tokenizer.ggml.model"] = Str("llama");
  GgufArray tokens, scores, types;
  tokens.strings = v.tokens;
  scores.floats = ScoresFromMerges(v);
  for (TokenType t : v.types) types.ints.push_back(static_cast<int64_t>(t));
  md["tokenizer.ggml.tokens"] = Array(GgufType::kString, std::move(tokens));
  md["tokenizer.ggml.scores"] = Array(GgufType::kFloat32, std::move(scores));
  md["tokenizer.ggml.token_type"] = Array(GgufType::kInt32, std::move(types));
  const std::pair<const char*, int32_t> ids[] = {{"tokenizer.ggml.bos_token_id", v.bos_id},
                                                 {"tokenizer.ggml.eos_token_id", v.eos_id},
                                                 {"tokenizer.ggml.unknown_token_id", v.unk_id},
                                                 {"tokenizer.ggml.padding_token_id", v.pad_id}};
  for (const auto& [key, id] : ids) {
    if (id >= 0) md[key] = U32(id);
  }
  md["tokenizer.ggml.add_bos_token"] = Bool(v.add_bos);
  md["tokenizer.ggml.add_eos_token"] = Bool(v.add_eos);
  md["tokenizer.ggml.add_space_prefix"] = Bool(v.add_space_prefix);
  if (ti.chat_template) md["tokenizer.chat_template"] = Str(*ti.chat_template);
  return Status::Ok();
}

}  // namespace

StatusOr<std::map<std::string, GgufValue>> GgufMetadataForHf(const ModelFile& hf, const std::string& name) {
  const ModelConfig& c = hf.config();
  if (c.arch != "llama") {
    return UnimplementedError(fmt::format(
        "{}: architecture '{}': weft quantize converts llama-family HF models (llama, mistral) only so far; "
        "convert it with llama.cpp's convert_hf_to_gguf.py and quantize the GGUF",
        hf.path(), c.arch));
  }
  if (c.is_mla() || c.is_moe()) {
    return UnimplementedError(fmt::format("{}: mixtures of experts are not converted yet (their expert tensors are "
                                          "merged per layer in GGUF)", hf.path()));
  }
  if (c.rope_scaling.type != RopeScalingType::kNone && c.rope_scaling.type != RopeScalingType::kLinear) {
    return UnimplementedError(fmt::format("{}: rope scaling '{}' is not converted yet (llama3 scaling needs a "
                                          "rope_freqs tensor)", hf.path(), c.ToString()));
  }
  std::map<std::string, GgufValue> md;
  const std::string a = "llama";
  md["general.architecture"] = Str(a);
  md["general.name"] = Str(name);
  md[a + ".block_count"] = U32(c.n_layer);
  md[a + ".context_length"] = U32(c.context_length);
  md[a + ".embedding_length"] = U32(c.n_embd);
  md[a + ".feed_forward_length"] = U32(c.n_ff);
  md[a + ".attention.head_count"] = U32(c.n_head);
  md[a + ".attention.head_count_kv"] = U32(c.n_head_kv);
  md[a + ".rope.freq_base"] = F32(c.rope_theta);
  md[a + ".attention.layer_norm_rms_epsilon"] = F32(c.norm_eps);
  md[a + ".vocab_size"] = U32(c.n_vocab);
  md[a + ".rope.dimension_count"] = U32(c.head_dim);
  if (c.head_dim * c.n_head != c.n_embd) {  // readers default them to n_embd / n_head
    md[a + ".attention.key_length"] = U32(c.head_dim);
    md[a + ".attention.value_length"] = U32(c.head_dim);
  }
  if (c.rope_scaling.type == RopeScalingType::kLinear) {
    md[a + ".rope.scaling.type"] = Str("linear");
    md[a + ".rope.scaling.factor"] = F32(c.rope_scaling.factor);
  }
  WEFT_RETURN_IF_ERROR(AddTokenizer(hf, md));
  return md;
}

}  // namespace weft::quant
