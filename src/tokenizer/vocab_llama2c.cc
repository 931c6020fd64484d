// Vocabulary from a llama2.c tokenizer file (tok512.bin, tokenizer.bin):
//   int32 max_token_length, then per token: float32 score, int32 length, bytes.
// The file does not store the count: tokens run to the end of the file. Pieces use a
// plain space where SentencePiece uses "▁", and BOS/EOS are stored as "\n<s>\n" and
// "\n</s>\n"; both are normalised to the SentencePiece form here.
#include <fmt/format.h>

#include <cstring>

#include "base/mapped_file.h"
#include "tokenizer/vocabulary.h"

namespace weft {

StatusOr<Vocabulary> LoadVocabularyFromLlama2c(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  Vocabulary v;
  v.source = path;
  v.pre = "llama2.c";
  v.algorithm = TokenizerAlgorithm::kSentencePieceBpe;
  v.add_space_prefix = true;
  v.add_bos = true;
  v.bos_id = 1, v.eos_id = 2, v.unk_id = 0;
  if (bytes.size() < 4) return DataLossError(path + ": too short for a llama2.c tokenizer");
  size_t pos = 4;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 8)
      return DataLossError(fmt::format("{}: token {}: truncated header at byte {}", path, v.tokens.size(), pos));
    float score;
    int32_t len;
    std::memcpy(&score, bytes.data() + pos, 4);
    std::memcpy(&len, bytes.data() + pos + 4, 4);
    pos += 8;
    if (len < 0 || static_cast<size_t>(len) > bytes.size() - pos)
      return DataLossError(fmt::format("{}: token {}: length {} runs past the end of the file", path,
                                       v.tokens.size(), len));
    std::string piece = bytes.substr(pos, static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
    TokenType type = TokenType::kNormal;
    if (piece == "\n<s>\n" || piece == "\n</s>\n") {
      piece = piece.substr(1, piece.size() - 2);
      type = TokenType::kControl;
    } else if (piece == "<unk>") {
      type = TokenType::kUnknown;
    } else if (piece.size() == 6 && piece.starts_with("<0x") && piece.back() == '>') {
      type = TokenType::kByte;
    } else {
      std::string escaped;
      for (char c : piece) {
        if (c == ' ') escaped += "\xE2\x96\x81";
        else escaped.push_back(c);
      }
      piece = std::move(escaped);
    }
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  if (v.tokens.size() < 3) return DataLossError(path + ": fewer than 3 tokens");
  WEFT_RETURN_IF_ERROR(v.Validate());
  return v;
}

}  // namespace weft
