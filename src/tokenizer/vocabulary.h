// Vocabulary: everything a tokenizer needs to know about a model's vocabulary,
// independent of the file it came from. Loaders (one per source format) fill it:
//   LoadVocabularyFromGguf         GGUF tokenizer.ggml.* metadata
//   LoadVocabularyFromTokenizerJson  Hugging Face tokenizer.json (+ tokenizer_config.json)
//   LoadVocabularyFromLlama2c      llama2.c tokenizer .bin (tok512.bin, tokenizer.bin)
// and Tokenizer (tokenizer/tokenizer.h) turns a Vocabulary into encode/decode.
//
// A value type; immutable once handed to a Tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "weft/status.h"

namespace weft {

class GgufFile;

// Values as in GGUF tokenizer.ggml.token_type.
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // BOS/EOS/chat markers: matched in input text only with parse_special
  kUserDefined = 4,  // added tokens: always matched in input text, never split
  kUnused = 5,
  kByte = 6,         // SentencePiece byte-fallback pieces <0xNN>
};

enum class TokenizerAlgorithm : uint8_t {
  kSentencePieceBpe,  // "▁"-escaped text, BPE by score (or by merge rank), byte fallback
  kByteLevelBpe,      // GPT-2 byte-level BPE with regex pre-tokenizer, merge ranks
  kWordPiece,         // BERT: normaliser + greedy longest-match-first
  kUnigram,           // T5/ALBERT/XLM-R SentencePiece Unigram: "▁"-escaped text, best-scoring cut
};
std::string_view TokenizerAlgorithmName(TokenizerAlgorithm a);

// What a pre-tokenizer split does with the text its regex matches (HF tokenizers'
// SplitDelimiterBehavior): keep it as its own piece, drop it, glue it to the piece
// before or after it, or glue runs of matches together.
enum class SplitBehavior : uint8_t { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct SplitRule {
  std::string regex;  // PCRE2 syntax
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;  // the text between matches is what `behavior` applies to
};

enum AddedTokenFlag : uint8_t { kAddedLstrip = 1, kAddedRstrip = 2, kAddedSingleWord = 4 };

// Unicode normalisation applied to the text between special tokens before anything else.
enum class NormalForm : uint8_t { kNone, kNfc, kNfkc, kNfd, kNfkd };

struct Vocabulary {
  TokenizerAlgorithm algorithm = TokenizerAlgorithm::kSentencePieceBpe;
  std::string pre;                  // pre-tokenizer name, informational ("llama3", "tokenizer.json", ...)
  std::vector<std::string> tokens;  // id -> piece as stored ("▁Hello", "Ġworld", "##ing", "<0x0A>")
  std::vector<float> scores;        // id -> SentencePiece score; empty when the source has none
  std::vector<TokenType> types;     // id -> type (same size as tokens)
  // BPE merges in rank order (first = merged first). Empty for kSentencePieceBpe means
  // "merge by score": two adjacent pieces merge when their concatenation is a token,
  // the highest-scoring such token first.
  std::vector<std::pair<std::string, std::string>> merges;

  // HF added-token options, by id (empty, or the size of tokens): bits of AddedTokenFlag.
  // Where an added token is matched in input text, lstrip/rstrip make it take the
  // (ASCII) whitespace to its left/right with it (that whitespace is not tokenized), and
  // single_word matches it only where it is not part of a longer word.
  std::vector<uint8_t> added_token_flags;

  int32_t bos_id = -1, eos_id = -1, eot_id = -1, unk_id = -1, pad_id = -1;
  int32_t sep_id = -1, cls_id = -1, mask_id = -1;
  bool add_bos = false;
  bool add_eos = false;

  // kSentencePieceBpe: prepend a space to every run of text (between special tokens)
  // before escaping spaces as "▁"; Decode removes the first one again.
  bool add_space_prefix = false;
  // With add_space_prefix: only the run at the very start of the text gets it, not those
  // after a special token (HF Metaspace prepend_scheme "first").
  bool space_prefix_first_only = false;
  // With add_space_prefix: not when the run already starts with a space (HF's Metaspace
  // pre-tokenizer; SentencePiece itself and HF's Prepend normalizer always prepend).
  bool space_prefix_unless_space = false;
  // kSentencePieceBpe: characters with no token become their <0xNN> byte tokens (when
  // the vocabulary has them; else unk_id).
  bool byte_fallback = true;
  // kSentencePieceBpe: decode added (kUserDefined) tokens like the others ("▁" -> " "), as
  // HF tokenizer.json decoders do (Gemma's "▁▁" tokens); llama.cpp outputs them raw.
  bool unescape_added_tokens = false;

  NormalForm normal_form = NormalForm::kNone;

  // Pre-tokenizer splits applied one after another; each splits every piece from the
  // previous one. kByteLevelBpe: on the raw text; kSentencePieceBpe: on the "▁"-escaped text.
  std::vector<SplitRule> split_rules;
  bool byte_level_add_prefix_space = false;  // HF ByteLevel(add_prefix_space=true)
  bool ignore_merges = false;  // a pre-tokenized word that is itself a token is not merged (Llama 3)

  // kWordPiece.
  bool lowercase = true;
  bool strip_accents = true;
  std::string word_prefix;          // piece prefix at a word start ("▁" in GGUF bert vocabularies)
  std::string continuation_prefix;  // piece prefix inside a word ("##" in HF/vocab.txt form)
  int max_word_chars = 100;         // longer words become unk

  std::string source;  // where it was loaded from, for messages

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  // Checks sizes agree, ids are in range, merges are well formed.
  Status Validate() const;
};

// The GGUF pre-tokenizer regexes for tokenizer.ggml.pre (llama.cpp's names: "gpt-2",
// "llama-bpe", "qwen2", "smollm", "deepseek-coder", "falcon", ...). Unknown names get
// the default split with a warning.
std::vector<std::string> PreTokenizerRegexesForName(const std::string& pre, bool* known);

StatusOr<Vocabulary> LoadVocabularyFromGguf(const GgufFile& gguf);
// tokenizer_config_path may be empty (then add_bos/eos and the bos/eos tokens come from
// tokenizer.json's post_processor and added tokens alone).
StatusOr<Vocabulary> LoadVocabularyFromTokenizerJson(const std::string& tokenizer_json_path,
                                                     const std::string& tokenizer_config_path);
// The same from strings (tests, fuzzing). config_json may be empty.
StatusOr<Vocabulary> ParseTokenizerJson(const std::string& tokenizer_json, const std::string& config_json,
                                        const std::string& source_name);
StatusOr<Vocabulary> LoadVocabularyFromLlama2c(const std::string& path);

}  // namespace weft
