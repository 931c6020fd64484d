#include "quant/hf_gguf_metadata.h"

#include <fmt/format.h>

#include <map>
#include <utility>
#include <string>
#include <string_view>
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

// The tokenizer.ggml.pre name for v's pre-tokenizer splits, or an error naming what has no
// GGUF form. llama.cpp's converter names it by hashing the tokenizer's output on a test
// text; here the splits weft reads from tokenizer.json are matched against the forms each
// name has in public tokenizer.json files (Llama 3 and Qwen2: a Split with the regex that
// GGUF's name stands for; GPT-2 and SmolLM/StarCoder: ByteLevel's own regex, after
// individual Digits for SmolLM). The GGUF side then splits with PreTokenizerRegexesForName,
// which for the last two writes digits as \p{N} and leaves out ByteLevel's final "|\s+",
// as llama.cpp does: the same pieces on ordinary text (cli.quantize_hf checks a sample).
StatusOr<std::string> GgufPreName(const Vocabulary& v, const std::string& path) {
  if (v.byte_level_add_prefix_space || v.normal_form != NormalForm::kNone) {
    return UnimplementedError(fmt::format("{}: a byte-level tokenizer with {} has no GGUF pre-tokenizer; weft "
                                          "quantize cannot carry it over",
                                          path, v.byte_level_add_prefix_space ? "add_prefix_space" : "a normalizer"));
  }
  // tokenizer.json's ByteLevel(use_regex) split (tokenizer/vocab_tokenizer_json.cc).
  const std::string byte_level = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  bool known = false;
  const std::vector<std::pair<std::string, std::vector<std::string>>> forms = {
      {"llama-bpe", PreTokenizerRegexesForName("llama-bpe", &known)},
      {"qwen2", PreTokenizerRegexesForName("qwen2", &known)},
      {"gpt-2", {byte_level}},
      {"smollm", {"[0-9]", byte_level}},
  };
  for (const auto& [name, want] : forms) {
    bool same = want.size() == v.split_rules.size() && (name == "llama-bpe") == v.ignore_merges;
    for (size_t i = 0; same && i < want.size(); ++i) {
      const SplitRule& r = v.split_rules[i];
      same = r.regex == want[i] && r.behavior == SplitBehavior::kIsolated && !r.invert;
    }
    if (same) return name;
  }
  return UnimplementedError(fmt::format("{}: its pre-tokenizer ({} split rules) is none of the forms weft knows a "
                                        "GGUF name for (llama-bpe, qwen2, gpt-2, smollm); convert it with "
                                        "llama.cpp's convert_hf_to_gguf.py and quantize the GGUF",
                                        path, v.split_rules.size()));
}

Status AddTokenizer(const ModelFile& hf, std::map<std::string, GgufValue>& md) {
  const TokenizerInfo& ti = hf.tokenizer();
  if (ti.tokenizer_json_path.empty()) {
    return NotFoundError(fmt::format("{}: no tokenizer.json (weft quantize converts the tokenizer from it)", hf.path()));
  }
  WEFT_ASSIGN_OR_RETURN(Vocabulary v, LoadVocabularyFromTokenizerJson(ti.tokenizer_json_path, ti.tokenizer_config_path));
  GgufArray tokens, types;
  tokens.strings = v.tokens;
  for (TokenType t : v.types) types.ints.push_back(static_cast<int64_t>(t));
  if (v.algorithm == TokenizerAlgorithm::kSentencePieceBpe) {
    md["tokenizer.ggml.model"] = Str("llama");
    GgufArray scores;
    scores.floats = ScoresFromMerges(v);
    md["tokenizer.ggml.scores"] = Array(GgufType::kFloat32, std::move(scores));
    md["tokenizer.ggml.add_space_prefix"] = Bool(v.add_space_prefix);
  } else if (v.algorithm == TokenizerAlgorithm::kByteLevelBpe) {
    // GPT-2-style byte-level BPE (Llama 3, Qwen2, SmolLM, ...): the pieces as stored
    // (bytes mapped to printable characters), the merges in rank order as "a b".
    WEFT_ASSIGN_OR_RETURN(std::string pre, GgufPreName(v, ti.tokenizer_json_path));
    md["tokenizer.ggml.model"] = Str("gpt2");
    md["tokenizer.ggml.pre"] = Str(std::move(pre));
    GgufArray merges;
    merges.strings.reserve(v.merges.size());
    for (const auto& [a, b] : v.merges) merges.strings.push_back(a + " " + b);
    md["tokenizer.ggml.merges"] = Array(GgufType::kString, std::move(merges));
  } else {
    return UnimplementedError(fmt::format(
        "{}: the tokenizer is {}; weft quantize converts BPE tokenizers (SentencePiece-style and byte-level) only "
        "so far",
        ti.tokenizer_json_path, TokenizerAlgorithmName(v.algorithm)));
  }
  md["tokenizer.ggml.tokens"] = Array(GgufType::kString, std::move(tokens));
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
  if (ti.chat_template) md["tokenizer.chat_template"] = Str(*ti.chat_template);
  return Status::Ok();
}

}  // namespace

StatusOr<std::map<std::string, GgufValue>> GgufMetadataForHf(const ModelFile& hf, const std::string& name) {
  const ModelConfig& c = hf.config();
  // The families whose GGUF form is the llama key set under their own prefix (Qwen2's q/k/v
  // biases and Qwen3's q/k norms are tensors, named by the HF loader; their rotate-half
  // RoPE keeps HF's q/k row order, llama's is interleaved back: quant_source.cc).
  if (c.arch != "llama" && c.arch != "qwen2" && c.arch != "qwen3") {
    return UnimplementedError(fmt::format(
        "{}: architecture '{}': weft quantize converts llama (Llama, Mistral, SmolLM, TinyLlama), qwen2 and qwen3 "
        "HF models only so far; convert it with llama.cpp's convert_hf_to_gguf.py and quantize the GGUF",
        hf.path(), c.arch));
  }
  if (c.sliding_window > 0 && c.sliding_window_pattern > 1) {
    return UnimplementedError(fmt::format("{}: a per-layer sliding-window pattern is not converted yet", hf.path()));
  }
  if (c.is_mla() || c.is_moe()) {
    return UnimplementedError(fmt::format("{}: mixtures of experts are not converted yet (their expert tensors are "
                                          "merged per layer in GGUF)", hf.path()));
  }
  // llama3 scaling travels as the tensor rope_freqs.weight (quant_source.cc), linear as keys.
  if (c.rope_scaling.type != RopeScalingType::kNone && c.rope_scaling.type != RopeScalingType::kLinear &&
      c.rope_scaling.type != RopeScalingType::kLlama3) {
    return UnimplementedError(fmt::format("{}: this rope scaling is not converted yet ({})", hf.path(), c.ToString()));
  }
  std::map<std::string, GgufValue> md;
  const std::string a = c.arch;
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
  if (c.sliding_window > 0) md[a + ".attention.sliding_window"] = U32(c.sliding_window);  // Mistral: every layer
  if (c.rope_scaling.type == RopeScalingType::kLinear) {
    md[a + ".rope.scaling.type"] = Str("linear");
    md[a + ".rope.scaling.factor"] = F32(c.rope_scaling.factor);
  }
  WEFT_RETURN_IF_ERROR(AddTokenizer(hf, md));
  return md;
}

}  // namespace weft::quant
