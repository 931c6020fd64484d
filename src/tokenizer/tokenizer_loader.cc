// Finding and loading the tokenizer of a model, whatever its format.
#include <filesystem>

#include "loader/gguf.h"
#include "loader/model_file.h"
#include "loader/model_source.h"
#include "tokenizer/tokenizer.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

StatusOr<std::shared_ptr<const Tokenizer>> FromTokenizerJson(const fs::path& json_path) {
  std::error_code ec;
  fs::path config = json_path.parent_path() / "tokenizer_config.json";
  WEFT_ASSIGN_OR_RETURN(Vocabulary v, LoadVocabularyFromTokenizerJson(
                                          json_path.string(), fs::is_regular_file(config, ec) ? config.string() : ""));
  return Tokenizer::Create(std::move(v));
}

}  // namespace

StatusOr<std::shared_ptr<const Tokenizer>> LoadTokenizer(const ModelFile& model) {
  const TokenizerInfo& info = model.tokenizer();
  if (model.gguf() && model.gguf()->Find("tokenizer.ggml.model")) {
    WEFT_ASSIGN_OR_RETURN(Vocabulary v, LoadVocabularyFromGguf(*model.gguf()));
    return Tokenizer::Create(std::move(v));
  }
  if (!info.tokenizer_json_path.empty()) {
    WEFT_ASSIGN_OR_RETURN(Vocabulary v,
                          LoadVocabularyFromTokenizerJson(info.tokenizer_json_path, info.tokenizer_config_path));
    return Tokenizer::Create(std::move(v));
  }
  if (!info.llama2c_tokenizer_path.empty()) {
    WEFT_ASSIGN_OR_RETURN(Vocabulary v, LoadVocabularyFromLlama2c(info.llama2c_tokenizer_path));
    return Tokenizer::Create(std::move(v));
  }
  return NotFoundError(model.path() +
                       ": the model has no tokenizer (no tokenizer.ggml.* metadata, tokenizer.json or llama2.c "
                       "tokenizer file)");
}

StatusOr<std::shared_ptr<const Tokenizer>> LoadTokenizerFromPath(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::is_regular_file(p / "tokenizer.json", ec)) return FromTokenizerJson(p / "tokenizer.json");
    WEFT_ASSIGN_OR_RETURN(std::string model_path, PickModelInDirectory(path));
    WEFT_ASSIGN_OR_RETURN(auto model, OpenModelFile(model_path));
    return LoadTokenizer(*model);
  } else if (!fs::exists(p, ec)) {
    return NotFoundError(path + ": no such file or directory");
  } else if (p.extension() == ".json") {
    return FromTokenizerJson(p);
  } else {
    const std::string name = p.filename().string();
    if (name.starts_with("tok") && p.extension() == ".bin") {  // tok512.bin, tokenizer.bin
      WEFT_ASSIGN_OR_RETURN(Vocabulary v, LoadVocabularyFromLlama2c(path));
      return Tokenizer::Create(std::move(v));
    }
  }
  WEFT_ASSIGN_OR_RETURN(auto model, OpenModelFile(path));
  return LoadTokenizer(*model);
}

}  // namespace weft
