// Vocabulary from GGUF metadata (tokenizer.ggml.*), with llama.cpp's defaults for keys
// a file leaves out.
#include <fmt/format.h>

#include "base/log.h"
#include "loader/gguf.h"
#include "tokenizer/vocabulary.h"

namespace weft {
namespace {

Status ReadId(const GgufFile& gguf, const char* key, int32_t* id) {
  WEFT_ASSIGN_OR_RETURN(auto v, gguf.FindInt(key));
  if (v) *id = *v >= 0 && *v <= INT32_MAX ? static_cast<int32_t>(*v) : -1;
  return Status();
}
Status ReadFlag(const GgufFile& gguf, const char* key, bool* flag) {
  WEFT_ASSIGN_OR_RETURN(auto v, gguf.FindBool(key));
  if (v) *flag = *v;
  return Status();
}

}  // namespace

StatusOr<Vocabulary> LoadVocabularyFromGguf(const GgufFile& gguf) {
  Vocabulary v;
  v.source = gguf.source_name();
  auto status = [&]() -> Status {
    WEFT_ASSIGN_OR_RETURN(std::string model, gguf.GetString("tokenizer.ggml.model"));
    WEFT_ASSIGN_OR_RETURN(auto pre, gguf.FindString("tokenizer.ggml.pre"));
    v.pre = pre.value_or("default");
    WEFT_ASSIGN_OR_RETURN(const GgufArray* tokens, gguf.GetArray("tokenizer.ggml.tokens"));
    if (tokens->elem_type != GgufType::kString)
      return InvalidArgumentError("tokenizer.ggml.tokens is not an array of strings");
    v.tokens = tokens->strings;
    const size_t n = v.tokens.size();
    if (n == 0 || n > INT32_MAX / 2) return InvalidArgumentError(fmt::format("tokenizer.ggml.tokens has {} entries", n));

    v.types.assign(n, TokenType::kNormal);
    if (gguf.Find("tokenizer.ggml.token_type")) {
      WEFT_ASSIGN_OR_RETURN(const GgufArray* types, gguf.GetArray("tokenizer.ggml.token_type"));
      if (types->ints.size() != n)
        return InvalidArgumentError(
            fmt::format("tokenizer.ggml.token_type has {} entries for {} tokens", types->ints.size(), n));
      for (size_t i = 0; i < n; ++i) {
        int64_t t = types->ints[i];
        v.types[i] = t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::kNormal;
      }
    }
    if (gguf.Find("tokenizer.ggml.scores")) {
      WEFT_ASSIGN_OR_RETURN(const GgufArray* scores, gguf.GetArray("tokenizer.ggml.scores"));
      if (scores->floats.size() != n)
        return InvalidArgumentError(
            fmt::format("tokenizer.ggml.scores has {} entries for {} tokens", scores->floats.size(), n));
      v.scores.assign(scores->floats.begin(), scores->floats.end());
    }

    if (model == "llama") {
      v.algorithm = TokenizerAlgorithm::kSentencePieceBpe;
      v.add_space_prefix = true;
      v.add_bos = true;
      v.bos_id = 1, v.eos_id = 2, v.unk_id = 0;
    } else if (model == "gpt2") {
      v.algorithm = TokenizerAlgorithm::kByteLevelBpe;
      WEFT_ASSIGN_OR_RETURN(const GgufArray* merges, gguf.GetArray("tokenizer.ggml.merges"));
      v.merges.reserve(merges->strings.size());
      for (const std::string& m : merges->strings) {
        size_t sp = m.find(' ', 1);
        if (sp == std::string::npos)
          return InvalidArgumentError(fmt::format("tokenizer.ggml.merges: entry '{}' has no space", m));
        v.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
      }
      bool known;
      for (std::string& re : PreTokenizerRegexesForName(v.pre, &known)) v.split_rules.push_back(SplitRule{std::move(re)});
      if (!known) WEFT_LOG_WARN("{}: unknown tokenizer.ggml.pre '{}': using the default split", v.source, v.pre);
      v.ignore_merges = v.pre == "llama3" || v.pre == "llama-v3" || v.pre == "llama-bpe";
      v.bos_id = 11, v.eos_id = 11;  // llama.cpp's defaults for BPE vocabularies
    } else if (model == "bert") {
      v.algorithm = TokenizerAlgorithm::kWordPiece;
      v.word_prefix = "\xE2\x96\x81";  // GGUF bert vocabularies store "##x" as "x" and "x" as "▁x"
      v.add_bos = v.add_eos = true;
      v.unk_id = 100, v.bos_id = 101, v.eos_id = 102;
    } else if (model == "no_vocab" || model == "none") {
      return UnimplementedError("the model has no vocabulary (tokenizer.ggml.model = '" + model + "')");
    } else {
      return UnimplementedError("tokenizer.ggml.model '" + model +
                                "' is not supported (supported: llama, gpt2, bert)");
    }
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.bos_token_id", &v.bos_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.eos_token_id", &v.eos_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.eot_token_id", &v.eot_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.unknown_token_id", &v.unk_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.padding_token_id", &v.pad_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.seperator_token_id", &v.sep_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.separator_token_id", &v.sep_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.cls_token_id", &v.cls_id));
    WEFT_RETURN_IF_ERROR(ReadId(gguf, "tokenizer.ggml.mask_token_id", &v.mask_id));
    if (v.algorithm == TokenizerAlgorithm::kWordPiece) {
      // BERT's sequence markers are [CLS] ... [SEP].
      if (v.cls_id >= 0) v.bos_id = v.cls_id;
      if (v.sep_id >= 0) v.eos_id = v.sep_id;
    }
    WEFT_RETURN_IF_ERROR(ReadFlag(gguf, "tokenizer.ggml.add_bos_token", &v.add_bos));
    WEFT_RETURN_IF_ERROR(ReadFlag(gguf, "tokenizer.ggml.add_eos_token", &v.add_eos));
    WEFT_RETURN_IF_ERROR(ReadFlag(gguf, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix));
    // Ids past the end (some files name a BOS they do not have) are dropped, not fatal.
    for (int32_t* id : {&v.bos_id, &v.eos_id, &v.eot_id, &v.unk_id, &v.pad_id, &v.sep_id, &v.cls_id, &v.mask_id})
      if (*id >= static_cast<int32_t>(n)) *id = -1;
    if (v.bos_id < 0) v.add_bos = false;
    if (v.eos_id < 0) v.add_eos = false;
    return v.Validate();
  }();
  if (!status.ok()) return std::move(status).WithContext(gguf.source_name());
  return v;
}

}  // namespace weft
