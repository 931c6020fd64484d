#include "tokenizer/vocabulary.h"

#include <fmt/format.h>

namespace weft {

std::string_view TokenizerAlgorithmName(TokenizerAlgorithm a) {
  switch (a) {
    case TokenizerAlgorithm::kSentencePieceBpe: return "sentencepiece-bpe";
    case TokenizerAlgorithm::kByteLevelBpe: return "byte-level-bpe";
    case TokenizerAlgorithm::kWordPiece: return "wordpiece";
    case TokenizerAlgorithm::kUnigram: return "unigram";
  }
  return "?";
}

Status Vocabulary::Validate() const {
  const std::string where = source.empty() ? "vocabulary" : source;
  if (tokens.empty()) return InvalidArgumentError(where + ": the vocabulary has no tokens");
  if (types.size() != tokens.size())
    return InvalidArgumentError(fmt::format("{}: {} token types for {} tokens", where, types.size(), tokens.size()));
  if (!scores.empty() && scores.size() != tokens.size())
    return InvalidArgumentError(fmt::format("{}: {} scores for {} tokens", where, scores.size(), tokens.size()));
  const std::pair<const char*, int32_t> ids[] = {{"bos", bos_id}, {"eos", eos_id}, {"eot", eot_id},
                                                 {"unknown", unk_id}, {"padding", pad_id}, {"separator", sep_id},
                                                 {"cls", cls_id}, {"mask", mask_id}};
  for (const auto& [name, id] : ids) {
    if (id < -1 || id >= size())
      return InvalidArgumentError(
          fmt::format("{}: {} token id {} is outside the vocabulary (size {})", where, name, id, size()));
  }
  if (add_bos && bos_id < 0) return InvalidArgumentError(where + ": add_bos is set but there is no BOS token");
  if (add_eos && eos_id < 0) return InvalidArgumentError(where + ": add_eos is set but there is no EOS token");
  if (!added_token_flags.empty() && added_token_flags.size() != tokens.size())
    return InvalidArgumentError(
        fmt::format("{}: {} added-token flags for {} tokens", where, added_token_flags.size(), tokens.size()));
  if (algorithm == TokenizerAlgorithm::kByteLevelBpe && merges.empty())
    return InvalidArgumentError(where + ": a byte-level BPE vocabulary needs merges");
  return Status();
}

namespace {
// Regexes of the pre-tokenizers, as public model tokenizer.json files and llama.cpp
// (for GGUF tokenizer.ggml.pre names) define them.
const char* const kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
}  // namespace

std::vector<std::string> PreTokenizerRegexesForName(const std::string& pre, bool* known) {
  *known = true;
  auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (pre == n) return true;
    return false;
  };
  if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe", "pixtral"}))
    return {kLlama3};
  if (is({"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan"})) return {kQwen2};
  if (is({"gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es",
          "jina-v2-de", "jina-v2-code", "gigachat", "roberta-bpe"}))
    return {kGpt2};
  if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}))
    return {"\\p{N}", kGpt2};
  if (pre == "deepseek-coder")
    return {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+", "\\p{N}"};
  if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
  if (is({"poro-chat", "bloom", "gpt3-finnish"})) return {" ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"};
  if (!is({"default", ""})) *known = false;
  return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
}

}  // namespace weft
