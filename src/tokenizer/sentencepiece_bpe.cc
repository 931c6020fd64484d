// SentencePiece-style BPE (GGUF tokenizer.ggml.model "llama", llama2.c, HF BPE without
// ByteLevel): spaces are escaped as "▁" (after an optional space prefix), the text
// starts as one symbol per UTF-8 character, and adjacent symbols merge — by the score
// of the merged token (GGUF/llama2.c), or by merge rank when the vocabulary lists
// merges (tokenizer.json). Characters left without a token become their <0xNN> byte
// tokens (byte fallback), else the unknown token.
//
// Invalid UTF-8: each invalid byte is a symbol of its own with no token, so it comes
// out as its byte token (lossless) or unk.
#include <fmt/format.h>

#include <array>

#include "base/log.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace weft::tokenizer_internal {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

class SentencePieceModel final : public TokenizerModel {
 public:
  SentencePieceModel(const Vocabulary& v, const TokenIndex& index, std::unique_ptr<RegexSplitter> splitter)
      : v_(v), index_(index), splitter_(std::move(splitter)) {
    byte_ids_.fill(-1);
    for (int b = 0; b < 256; ++b) {
      int32_t id = index.Find(fmt::format("<0x{:02X}>", b));
      if (id >= 0 && v.types[id] == TokenType::kByte) byte_ids_[b] = id;
    }
    // Single-character tokens by code point: the starting symbols. And every character
    // that occurs in a longer token (the others never merge).
    for (int32_t id = 0; id < v.size(); ++id) {
      const std::string& t = v.tokens[id];
      size_t clen;
      if (!t.empty() && unicode::DecodeUtf8(t, 0, &clen) != unicode::kInvalid && clen < t.size()) {
        for (size_t pos = 0; pos < t.size(); pos += clen) {
          uint32_t c = unicode::DecodeUtf8(t, pos, &clen);
          if (c != unicode::kInvalid) in_multi_char_token_.Insert(c, 1);
        }
      }
      if (t.empty() || t.size() > 4) continue;
      size_t len;
      uint32_t cp = unicode::DecodeUtf8(t, 0, &len);
      if (cp != unicode::kInvalid && len == t.size()) cp_ids_.Insert(cp, id);
    }
    if (v.merges.empty()) {
      BuildScoreMerges();
      text_pairs_ = TextPairLookup{&index_, &v_.scores};
    } else {
      size_t skipped;
      merges_ = BuildRankedMergeTable(v, index, &skipped);
      if (skipped) WEFT_LOG_DEBUG("{}: {} merges name pieces that are not tokens", v.source, skipped);
    }
  }

  void Encode(std::string_view text, Scratch& s, std::vector<int32_t>* out) const override {
    if (text.empty()) return;
    EscapeSpaces(text, v_, s);
    const std::string& buf = s.buffer;
    bool last_was_unk = false;
    if (splitter_->empty()) {
      EncodePiece(buf, 0, buf.size(), s, out, &last_was_unk);
      return;
    }
    splitter_->Split(buf, s);  // on the escaped text, as HF pre-tokenizers see the normalised text
    for (const Span& piece : s.pieces) {
      last_was_unk = false;  // unknown characters fuse within a piece only
      EncodePiece(buf, piece.begin, piece.begin + piece.len, s, out, &last_was_unk);
    }
  }

 private:
  // Encodes the pre-tokenized piece buf[begin, end).
  void EncodePiece(const std::string& buf, size_t begin, size_t end, Scratch& s, std::vector<int32_t>* out,
                   bool* last_was_unk) const {
    // A character that occurs in no multi-character token never merges, so the runs
    // between such characters (e.g. line breaks) merge independently: this keeps the
    // merge queue small on long texts without changing the result.
    size_t run_start = begin;
    for (size_t pos = begin; pos < end;) {
      size_t len;
      uint32_t cp = unicode::DecodeUtf8(buf, pos, &len);
      if (cp != unicode::kInvalid && !in_multi_char_token_.Find(cp)) {
        EncodeRun(buf, run_start, pos, s, out, last_was_unk);
        EncodeRun(buf, pos, pos + len, s, out, last_was_unk);
        run_start = pos + len;
      }
      pos += len;
    }
    EncodeRun(buf, run_start, end, s, out, last_was_unk);
  }

  // Merges the characters of buf[begin, end) and appends the resulting ids.
  void EncodeRun(const std::string& buf, size_t begin, size_t end, Scratch& s, std::vector<int32_t>* out,
                 bool* last_was_unk) const {
    if (begin >= end) return;
    s.symbols.clear();
    for (size_t pos = begin; pos < end;) {
      size_t len;
      uint32_t cp = unicode::DecodeUtf8(buf, pos, &len);
      int32_t id = -1;
      if (cp != unicode::kInvalid) {
        if (const int32_t* found = cp_ids_.Find(cp)) id = *found;
      }
      int32_t i = static_cast<int32_t>(s.symbols.size());
      s.symbols.push_back(Symbol{id, static_cast<uint32_t>(pos), static_cast<uint32_t>(len), i - 1, i + 1});
      pos += len;
    }
    s.symbols.back().next = -1;
    if (s.symbols.size() > 1) MergeSymbols(merges_, v_.merges.empty() ? &text_pairs_ : nullptr, buf, s);
    for (int32_t i = 0; i >= 0; i = s.symbols[i].next) {
      const Symbol& sym = s.symbols[i];
      if (sym.id >= 0) {
        out->push_back(sym.id);
        *last_was_unk = false;
      } else if (v_.byte_fallback) {
        for (uint32_t k = 0; k < sym.len; ++k) {
          int32_t b = byte_ids_[static_cast<uint8_t>(buf[sym.begin + k])];
          if (b >= 0) out->push_back(b);
          else if (v_.unk_id >= 0) out->push_back(v_.unk_id);
        }
        *last_was_unk = false;
      } else if (v_.unk_id >= 0) {
        // HF BPE fuses runs of unknown characters into one unk (fuse_unk).
        if (!(*last_was_unk && !v_.merges.empty())) out->push_back(v_.unk_id);
        *last_was_unk = true;
      }
    }
  }

  // Merge by score: every way to cut a token into two tokens is a merge rule whose
  // priority is the whole token's score.
  void BuildScoreMerges() {
    merges_.Reserve(v_.tokens.size() * 4);
    for (int32_t id = 0; id < v_.size(); ++id) {
      const std::string& t = v_.tokens[id];
      if (t.size() < 2 || index_.Find(t) != id) continue;
      float score = v_.scores.empty() ? 0.0f : v_.scores[id];
      size_t pos = 0, len;
      unicode::DecodeUtf8(t, pos, &len);
      for (pos = len; pos < t.size(); pos += len) {
        int32_t l = index_.Find(std::string_view(t).substr(0, pos));
        int32_t r = index_.Find(std::string_view(t).substr(pos));
        if (l >= 0 && r >= 0) merges_.Add(l, r, MergeTable::Rule{id, score});
        unicode::DecodeUtf8(t, pos, &len);
      }
    }
  }

  const Vocabulary& v_;
  const TokenIndex& index_;
  std::array<int32_t, 256> byte_ids_;
  FlatMap64<int32_t> cp_ids_;
  FlatMap64<uint8_t> in_multi_char_token_;
  MergeTable merges_;
  TextPairLookup text_pairs_{nullptr, nullptr};
  std::unique_ptr<RegexSplitter> splitter_;  // pre-tokenizer splits of the escaped text (may be empty)
};

}  // namespace

void EscapeSpaces(std::string_view text, const Vocabulary& v, Scratch& s) {
  std::string& buf = s.buffer;
  buf.clear();
  if (v.add_space_prefix && (!v.space_prefix_first_only || s.run_at_text_start) &&
      !(v.space_prefix_unless_space && text.starts_with(' ')))
    buf.append(kSpaceMark);
  for (char c : text) {
    if (c == ' ') buf.append(kSpaceMark);
    else buf.push_back(c);
  }
}

StatusOr<std::unique_ptr<TokenizerModel>> MakeSentencePieceModel(const Vocabulary& v, const TokenIndex& index) {
  WEFT_ASSIGN_OR_RETURN(auto splitter, RegexSplitter::Create(v.split_rules));
  return std::unique_ptr<TokenizerModel>(new SentencePieceModel(v, index, std::move(splitter)));
}

}  // namespace weft::tokenizer_internal
