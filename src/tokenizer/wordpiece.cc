// WordPiece (BERT; GGUF tokenizer.ggml.model "bert", HF WordPiece): the BERT
// normaliser and pre-tokenizer — drop control characters, split on whitespace, isolate
// punctuation and CJK ideographs, lowercase and strip accents — then each word is cut
// greedily into the longest pieces in the vocabulary; a word that cannot be cut
// completely (or is longer than max_word_chars) becomes the unknown token.
//
// Invalid UTF-8 bytes are dropped like U+FFFD (BERT's clean_text removes it); this is
// lossy, as BERT tokenization is in any case (case, accents, spacing).
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace weft::tokenizer_internal {
namespace {

class WordPieceModel final : public TokenizerModel {
 public:
  WordPieceModel(const Vocabulary& v, const TokenIndex& index) : v_(v), index_(index) {
    for (const std::string& t : v.tokens) max_piece_bytes_ = std::max(max_piece_bytes_, t.size());
  }

  void Encode(std::string_view text, Scratch& s, std::vector<int32_t>* out) const override {
    std::string& word = s.word;
    word.clear();
    size_t word_chars = 0;
    std::string folded;
    auto finish = [&] {
      if (!word.empty()) EncodeWord(word, word_chars, s, out);
      word.clear();
      word_chars = 0;
    };
    for (size_t pos = 0; pos < text.size();) {
      size_t len;
      uint32_t cp = unicode::DecodeUtf8(text, pos, &len);
      pos += len;
      if (cp == unicode::kInvalid || cp == 0 || cp == 0xFFFD || unicode::IsBertControl(cp)) continue;
      if (unicode::IsBertWhitespace(cp)) {
        finish();
        continue;
      }
      if (unicode::IsCjkIdeograph(cp)) {
        finish();
        unicode::AppendUtf8(cp, &word);
        word_chars = 1;
        finish();
        continue;
      }
      folded.clear();
      unicode::AppendBertFolded(cp, v_.lowercase, v_.strip_accents, &folded);
      for (size_t fpos = 0; fpos < folded.size();) {
        size_t flen;
        uint32_t fcp = unicode::DecodeUtf8(folded, fpos, &flen);
        std::string_view piece(folded.data() + fpos, flen);
        fpos += flen;
        if (unicode::IsBertPunctuation(fcp)) {
          finish();
          word.append(piece);
          word_chars = 1;
          finish();
        } else {
          word.append(piece);
          ++word_chars;
        }
      }
    }
    finish();
  }

 private:
  void EncodeWord(const std::string& word, size_t chars, Scratch& s, std::vector<int32_t>* out) const {
    const size_t mark = out->size();
    if (static_cast<int>(chars) > v_.max_word_chars) {
      if (v_.unk_id >= 0) out->push_back(v_.unk_id);
      return;
    }
    std::string& cand = s.candidate;
    for (size_t start = 0; start < word.size();) {
      const std::string& prefix = start == 0 ? v_.word_prefix : v_.continuation_prefix;
      size_t end = std::min(word.size(), start + max_piece_bytes_);
      int32_t found = -1;
      for (; end > start; --end) {
        if (end < word.size() && (static_cast<uint8_t>(word[end]) & 0xC0) == 0x80) continue;  // mid-character
        cand.assign(prefix).append(word, start, end - start);
        found = index_.Find(cand);
        if (found >= 0) break;
      }
      if (found < 0) {
        out->resize(mark);
        if (v_.unk_id >= 0) out->push_back(v_.unk_id);
        return;
      }
      out->push_back(found);
      start = end;
    }
  }

  const Vocabulary& v_;
  const TokenIndex& index_;
  size_t max_piece_bytes_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<TokenizerModel>> MakeWordPieceModel(const Vocabulary& v, const TokenIndex& index) {
  return std::unique_ptr<TokenizerModel>(new WordPieceModel(v, index));
}

}  // namespace weft::tokenizer_internal
