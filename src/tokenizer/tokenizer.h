// Tokenizer: text <-> token ids for one Vocabulary (tokenizer/vocabulary.h), whatever
// file it came from. The algorithm follows Vocabulary::algorithm:
//   kSentencePieceBpe  Llama/Mistral/Phi-3/TinyLlama SentencePiece BPE with byte fallback
//   kByteLevelBpe      GPT-2, Llama 3, Qwen2, SmolLM, DeepSeek, Falcon byte-level BPE
//   kWordPiece         BERT WordPiece
//   kUnigram           SentencePiece Unigram (T5, ALBERT, XLM-R tokenizer.json)
//
// Special tokens. Control tokens (BOS/EOS, "<|im_start|>") are never produced from
// input text unless EncodeOptions::parse_special is set; then their text in the input
// becomes the token. User-defined (added) tokens are always matched. Neither is ever
// split by BPE. Where two special tokens could match at one place, the leftmost, then
// the longest, wins.
//
// Invalid UTF-8 input never fails: byte-level BPE encodes the bytes as they are,
// SentencePiece encodes each invalid byte as its <0xNN> token (or unk without byte
// tokens), WordPiece drops invalid bytes. Decoding returns the bytes the tokens stand
// for, so decode(encode(x)) == x (without BOS/EOS) when every byte of x has a token
// (byte-level characters or <0xNN> pieces; some vocabularies lack a few, e.g. falcon
// and SmolLM2 for some control bytes and 0xFF, and those bytes are dropped), except that
// SentencePiece decodes a literal U+2581 "▁" in x as a space.
//
// Thread-safety: immutable after Create; Encode/Decode may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocabulary.h"
#include "weft/status.h"

namespace weft {

class ModelFile;
namespace tokenizer_internal {
class TokenIndex;
class TokenizerModel;
}  // namespace tokenizer_internal

struct EncodeOptions {
  bool add_special = true;     // add BOS / EOS as the vocabulary says (add_bos, add_eos)
  bool parse_special = false;  // turn control-token text in the input into that token
};

struct DecodeOptions {
  bool skip_special = true;  // control and unknown tokens render as nothing (else as their text)
  // Drop the space the SentencePiece space prefix (or WordPiece's word separator) puts
  // before the first piece. Turn off when decoding a continuation, not a whole text.
  bool strip_leading_space = true;
};

class Tokenizer {
 public:
  static StatusOr<std::shared_ptr<const Tokenizer>> Create(Vocabulary vocab);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  const Vocabulary& vocab() const { return vocab_; }
  int32_t n_vocab() const { return vocab_.size(); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }

  std::vector<int32_t> Encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Appends to *out.
  void Encode(std::string_view text, const EncodeOptions& options, std::vector<int32_t>* out) const;

  // The text of ids: concatenated token bytes (see TokenBytes), then the leading-space
  // rule. Ids outside the vocabulary are skipped. The result is bytes: it is valid
  // UTF-8 when the tokens form whole characters.
  std::string Decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;
  // The bytes one token stands for in decoded text: "▁" -> " " and <0xNN> -> byte for
  // SentencePiece, the byte-level characters mapped back to bytes, WordPiece "##"
  // continuations without and word starts with a leading space. Control/unknown
  // tokens: "" when skip_special. Out of range: "".
  std::string_view TokenBytes(int32_t id, bool skip_special = true) const;
  // Whether Decode drops a leading space of the first piece (with strip_leading_space).
  bool strips_leading_space() const { return strips_leading_space_; }

  // The piece as stored in the vocabulary ("▁Hello", "Ġworld", "<0x0A>"); "" out of range.
  std::string_view Piece(int32_t id) const;
  // The id of a piece, or -1.
  int32_t PieceToId(std::string_view piece) const;
  bool IsControl(int32_t id) const;

 private:
  explicit Tokenizer(Vocabulary vocab);
  Status Init();
  struct Fragment {
    int32_t token;  // >= 0: a special token; -1: the text [begin, begin + len)
    size_t begin;
    size_t len;
  };
  void Partition(std::string_view text, bool parse_special, std::vector<Fragment>* out) const;

  Vocabulary vocab_;
  std::unique_ptr<tokenizer_internal::TokenIndex> index_;
  std::unique_ptr<tokenizer_internal::TokenizerModel> model_;
  std::vector<std::string> token_bytes_;  // id -> decoded bytes ("" for control/unknown)
  bool strips_leading_space_ = false;
  // Special tokens matched in input text, by first byte, longest first.
  std::vector<std::vector<int32_t>> special_by_first_byte_;
};

// The tokenizer of an opened model: tokenizer.json (+ tokenizer_config.json) for HF
// directories, GGUF metadata, or the llama2.c tokenizer file. NotFound when the model
// comes without one.
StatusOr<std::shared_ptr<const Tokenizer>> LoadTokenizer(const ModelFile& model);

// The tokenizer at a path: a tokenizer.json file, a directory holding tokenizer.json
// (a model directory or a tokenizer-only one), a GGUF file, a llama2.c tokenizer .bin,
// or any model OpenModelFile opens.
StatusOr<std::shared_ptr<const Tokenizer>> LoadTokenizerFromPath(const std::string& path);

}  // namespace weft
