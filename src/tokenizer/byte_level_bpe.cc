// Byte-level BPE (GGUF tokenizer.ggml.model "gpt2"; HF BPE with ByteLevel): the text is
// split by the pre-tokenizer regexes, each piece's bytes become the GPT-2 byte
// characters (one symbol per byte), and adjacent symbols merge by merge rank.
//
// Every byte has a token, so any input — invalid UTF-8 included — is encoded losslessly.
#include <array>

#include "base/log.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace weft::tokenizer_internal {
namespace {

class ByteLevelBpeModel final : public TokenizerModel {
 public:
  ByteLevelBpeModel(const Vocabulary& v, const TokenIndex& index, std::unique_ptr<RegexSplitter> splitter)
      : v_(v), index_(index), splitter_(std::move(splitter)) {
    std::string s;
    for (int b = 0; b < 256; ++b) {
      s.clear();
      unicode::AppendUtf8(unicode::ByteToCodepoint(static_cast<uint8_t>(b)), &s);
      byte_ids_[b] = index.Find(s);
      byte_chars_[b] = s;
    }
    size_t skipped;
    merges_ = BuildRankedMergeTable(v, index, &skipped);
    if (skipped) WEFT_LOG_DEBUG("{}: {} merges name pieces that are not tokens", v.source, skipped);
  }

  void Encode(std::string_view text, Scratch& s, std::vector<int32_t>* out) const override {
    if (text.empty()) return;
    if (v_.byte_level_add_prefix_space && text[0] != ' ') {
      s.buffer.assign(" ").append(text);
      text = s.buffer;
    }
    splitter_->Split(text, s);
    for (const Span& piece : s.pieces) EncodeWord(text.substr(piece.begin, piece.len), s, out);
  }

 private:
  void EncodeWord(std::string_view word, Scratch& s, std::vector<int32_t>* out) const {
    if (word.size() == 1) {
      int32_t id = byte_ids_[static_cast<uint8_t>(word[0])];
      if (id >= 0) out->push_back(id);
      return;
    }
    if (v_.ignore_merges) {
      s.word.clear();
      for (char c : word) s.word.append(byte_chars_[static_cast<uint8_t>(c)]);
      int32_t id = index_.Find(s.word);
      if (id >= 0) {
        out->push_back(id);
        return;
      }
    }
    s.symbols.resize(word.size());
    const int32_t n = static_cast<int32_t>(word.size());
    for (int32_t i = 0; i < n; ++i)
      s.symbols[i] = Symbol{byte_ids_[static_cast<uint8_t>(word[i])], static_cast<uint32_t>(i), 1, i - 1,
                            i + 1 < n ? i + 1 : -1};
    MergeSymbols(merges_, nullptr, word, s);
    for (int32_t i = 0; i >= 0; i = s.symbols[i].next) {
      const Symbol& sym = s.symbols[i];
      if (sym.id >= 0) {
        out->push_back(sym.id);
      } else {  // a byte with no token (a damaged vocabulary): its bytes' tokens, if any
        for (uint32_t k = 0; k < sym.len; ++k) {
          int32_t id = byte_ids_[static_cast<uint8_t>(word[sym.begin + k])];
          if (id >= 0) out->push_back(id);
        }
      }
    }
  }

  const Vocabulary& v_;
  const TokenIndex& index_;
  std::unique_ptr<RegexSplitter> splitter_;
  std::array<int32_t, 256> byte_ids_;
  std::array<std::string, 256> byte_chars_;
  MergeTable merges_;
};

}  // namespace

StatusOr<std::unique_ptr<TokenizerModel>> MakeByteLevelBpeModel(const Vocabulary& v, const TokenIndex& index) {
  WEFT_ASSIGN_OR_RETURN(auto splitter, RegexSplitter::Create(v.split_rules));
  return std::unique_ptr<TokenizerModel>(new ByteLevelBpeModel(v, index, std::move(splitter)));
}

}  // namespace weft::tokenizer_internal
