// Unigram (T5, ALBERT, XLM-R, mT5-style SentencePiece vocabularies; tokenizer.json model
// "Unigram"): the text is escaped as for SentencePiece BPE ("▁" for spaces, the optional
// prefix, then the pre-tokenizer's splits), and each piece is cut into the sequence of
// vocabulary pieces with the highest total score (log probability), by Viterbi over the
// lattice of every piece that matches at every character.
//
// As HF tokenizers' Unigram: a character where no one-character piece matches gets an
// unknown node of score (lowest piece score - 10), which is also the unknown token's own
// score; runs of unknown nodes fuse into one unknown token (fuse_unk); with byte_fallback
// an unknown node becomes the <0xNN> tokens of its bytes instead, when they all exist.
// Ties between equal totals go to the path whose last piece starts first (the lattice's
// insertion order), as tokenizers.js and HF do.
//
// Cost: O(bytes x longest piece) hash lookups per piece of text; no allocation per call
// beyond the scratch vectors' growth.
#include <algorithm>
#include <array>
#include <limits>

#include <fmt/format.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace weft::tokenizer_internal {
namespace {

class UnigramModel final : public TokenizerModel {
 public:
  UnigramModel(const Vocabulary& v, const TokenIndex& index, std::unique_ptr<RegexSplitter> splitter)
      : v_(v), index_(index), splitter_(std::move(splitter)) {
    float min_score = 0;
    for (int32_t id = 0; id < v.size(); ++id) {
      if (v.types[id] == TokenType::kUnused) continue;
      max_piece_bytes_ = std::max(max_piece_bytes_, v.tokens[id].size());
      if (!v.scores.empty()) min_score = std::min(min_score, v.scores[id]);
    }
    unk_score_ = min_score - 10.0f;
    byte_ids_.fill(-1);
    all_bytes_ = true;
    for (int b = 0; b < 256; ++b) {
      byte_ids_[b] = index.Find(fmt::format("<0x{:02X}>", b));
      all_bytes_ = all_bytes_ && byte_ids_[b] >= 0;
    }
  }

  void Encode(std::string_view text, Scratch& s, std::vector<int32_t>* out) const override {
    if (text.empty()) return;
    EscapeSpaces(text, v_, s);
    const std::string& buf = s.buffer;
    if (splitter_->empty()) {
      EncodePiece(buf, 0, buf.size(), out);
      return;
    }
    splitter_->Split(buf, s);
    for (const Span& piece : s.pieces) EncodePiece(buf, piece.begin, piece.begin + piece.len, out);
  }

 private:
  float Score(int32_t id) const {
    if (id == v_.unk_id) return unk_score_;
    return v_.scores.empty() ? 0.0f : v_.scores[id];
  }

  // Viterbi over buf[begin, end). Node ending at byte i (relative): best_[i] = (total,
  // id or kUnkNode, start).
  void EncodePiece(const std::string& buf, size_t begin, size_t end, std::vector<int32_t>* out) const {
    const size_t n = end - begin;
    if (n == 0) return;
    std::vector<Node>& best = nodes_scratch();
    best.assign(n + 1, Node{});
    best[0].total = 0;
    best[0].reached = true;
    std::string_view text(buf.data() + begin, n);
    for (size_t i = 0; i < n;) {
      size_t clen;
      unicode::DecodeUtf8(text, i, &clen);
      if (best[i].reached) {
        bool single = false;
        // Every piece that starts here, shortest first (char boundaries only).
        for (size_t j = i + clen; j <= n && j - i <= max_piece_bytes_;) {
          const int32_t id = index_.Find(text.substr(i, j - i));
          if (id >= 0 && v_.types[id] != TokenType::kUnused) {
            Relax(best, i, j, id, Score(id));
            single = single || j == i + clen;
          }
          if (j == n) break;
          size_t l;
          unicode::DecodeUtf8(text, j, &l);
          j += l;
        }
        if (!single) Relax(best, i, i + clen, kUnkNode, unk_score_);
      }
      i += clen;
    }
    // Back from the end: the pieces in reverse.
    std::vector<std::pair<size_t, int32_t>>& path = path_scratch();  // (start, id)
    path.clear();
    for (size_t e = n; e > 0; e = best[e].start) path.emplace_back(best[e].start, best[e].id);
    std::reverse(path.begin(), path.end());
    for (size_t k = 0; k < path.size(); ++k) {
      const auto [start, id] = path[k];
      if (id != kUnkNode) {
        out->push_back(id);
        continue;
      }
      // A run of unknown nodes: fused into one unk, or its bytes.
      size_t stop = k;
      while (stop + 1 < path.size() && path[stop + 1].second == kUnkNode) ++stop;
      const size_t run_end = stop + 1 < path.size() ? path[stop + 1].first : n;
      if (v_.byte_fallback && all_bytes_) {
        for (size_t b = start; b < run_end; ++b) out->push_back(byte_ids_[static_cast<uint8_t>(text[b])]);
      } else if (v_.unk_id >= 0) {
        out->push_back(v_.unk_id);
      }
      k = stop;
    }
  }

  struct Node {
    double total = -std::numeric_limits<double>::infinity();
    int32_t id = -1;
    size_t start = 0;
    bool reached = false;
  };
  static constexpr int32_t kUnkNode = -2;

  static void Relax(std::vector<Node>& best, size_t from, size_t to, int32_t id, float score) {
    const double total = best[from].total + static_cast<double>(score);
    if (!best[to].reached || total > best[to].total) best[to] = Node{total, id, from, true};
  }

  // Per-thread scratch (the tokenizer is shared between threads; Encode is const).
  static std::vector<Node>& nodes_scratch() {
    thread_local std::vector<Node> v;
    return v;
  }
  static std::vector<std::pair<size_t, int32_t>>& path_scratch() {
    thread_local std::vector<std::pair<size_t, int32_t>> v;
    return v;
  }

  const Vocabulary& v_;
  const TokenIndex& index_;
  std::unique_ptr<RegexSplitter> splitter_;  // pre-tokenizer splits of the escaped text (may be empty)
  size_t max_piece_bytes_ = 1;
  float unk_score_ = -10.0f;
  std::array<int32_t, 256> byte_ids_;
  bool all_bytes_ = false;
};

}  // namespace

StatusOr<std::unique_ptr<TokenizerModel>> MakeUnigramModel(const Vocabulary& v, const TokenIndex& index) {
  if (v.scores.size() != v.tokens.size()) {
    return InvalidArgumentError(fmt::format("Unigram: {} scores for {} pieces", v.scores.size(), v.tokens.size()));
  }
  WEFT_ASSIGN_OR_RETURN(auto splitter, RegexSplitter::Create(v.split_rules));
  return std::unique_ptr<TokenizerModel>(new UnigramModel(v, index, std::move(splitter)));
}

}  // namespace weft::tokenizer_internal
