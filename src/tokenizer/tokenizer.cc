#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>

#include <utf8proc.h>

#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace weft {

using tokenizer_internal::Scratch;

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581
// Model input is cut into runs of at most this many bytes (spans are 32-bit).
constexpr size_t kMaxRun = size_t{1} << 30;

std::string ReplaceSpaceMarks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.substr(i, 3) == kSpaceMark) {
      out.push_back(' ');
      i += 3;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// A letter, digit, mark or connector (regex \w), for single_word added tokens.
bool IsWordCodepoint(uint32_t cp) {
  if (cp == unicode::kInvalid) return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// Whether text[begin, end) stands as a word of its own: no word character touches it.
bool IsSingleWord(std::string_view text, size_t begin, size_t end) {
  size_t len;
  if (end < text.size() && IsWordCodepoint(unicode::DecodeUtf8(text, end, &len))) return false;
  if (begin == 0) return true;
  size_t prev = begin - 1;
  while (prev > 0 && begin - prev < 4 && (static_cast<uint8_t>(text[prev]) & 0xC0) == 0x80) --prev;
  return !IsWordCodepoint(unicode::DecodeUtf8(text, prev, &len));
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string DecodedBytes(const Vocabulary& v, int32_t id) {
  const std::string& t = v.tokens[id];
  const TokenType type = v.types[id];
  if (type == TokenType::kControl || type == TokenType::kUnknown) return "";
  // Matched from raw input text, so rendered raw (unless the vocabulary says otherwise).
  if (type == TokenType::kUserDefined && !v.unescape_added_tokens) return t;
  switch (v.algorithm) {
    case TokenizerAlgorithm::kSentencePieceBpe:
    case TokenizerAlgorithm::kUnigram:
      if (type == TokenType::kByte && t.size() == 6) {
        int hi = HexDigit(t[3]), lo = HexDigit(t[4]);
        if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
      }
      return ReplaceSpaceMarks(t);
    case TokenizerAlgorithm::kByteLevelBpe: {
      std::string out;
      for (size_t pos = 0; pos < t.size();) {
        size_t len;
        uint32_t cp = unicode::DecodeUtf8(t, pos, &len);
        int b = cp == unicode::kInvalid ? -1 : unicode::CodepointToByte(cp);
        if (b >= 0) out.push_back(static_cast<char>(b));
        else out.append(t, pos, len);
        pos += len;
      }
      return out;
    }
    case TokenizerAlgorithm::kWordPiece:
      if (!v.word_prefix.empty()) {
        if (t.starts_with(v.word_prefix)) return " " + t.substr(v.word_prefix.size());
        return t;
      }
      if (!v.continuation_prefix.empty() && t.starts_with(v.continuation_prefix))
        return t.substr(v.continuation_prefix.size());
      return " " + t;
  }
  return t;
}

}  // namespace

Tokenizer::Tokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {}
Tokenizer::~Tokenizer() = default;

StatusOr<std::shared_ptr<const Tokenizer>> Tokenizer::Create(Vocabulary vocab) {
  WEFT_RETURN_IF_ERROR(vocab.Validate());
  std::shared_ptr<Tokenizer> t(new Tokenizer(std::move(vocab)));
  WEFT_RETURN_IF_ERROR(t->Init());
  return std::shared_ptr<const Tokenizer>(std::move(t));
}

Status Tokenizer::Init() {
  index_ = std::make_unique<tokenizer_internal::TokenIndex>(vocab_);
  StatusOr<std::unique_ptr<tokenizer_internal::TokenizerModel>> model = UnimplementedError("no algorithm");
  switch (vocab_.algorithm) {
    case TokenizerAlgorithm::kSentencePieceBpe:
      model = tokenizer_internal::MakeSentencePieceModel(vocab_, *index_);
      strips_leading_space_ = vocab_.add_space_prefix;
      break;
    case TokenizerAlgorithm::kByteLevelBpe:
      model = tokenizer_internal::MakeByteLevelBpeModel(vocab_, *index_);
      strips_leading_space_ = vocab_.byte_level_add_prefix_space;
      break;
    case TokenizerAlgorithm::kWordPiece:
      model = tokenizer_internal::MakeWordPieceModel(vocab_, *index_);
      strips_leading_space_ = true;
      break;
    case TokenizerAlgorithm::kUnigram:
      model = tokenizer_internal::MakeUnigramModel(vocab_, *index_);
      strips_leading_space_ = vocab_.add_space_prefix;
      break;
  }
  if (!model.ok()) return std::move(model).status().WithContext(vocab_.source);
  model_ = std::move(model).value();

  token_bytes_.resize(vocab_.tokens.size());
  for (int32_t id = 0; id < vocab_.size(); ++id) token_bytes_[id] = DecodedBytes(vocab_, id);

  special_by_first_byte_.assign(256, {});
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    TokenType type = vocab_.types[id];
    if (vocab_.tokens[id].empty()) continue;
    if (type != TokenType::kControl && type != TokenType::kUserDefined && type != TokenType::kUnknown) continue;
    special_by_first_byte_[static_cast<uint8_t>(vocab_.tokens[id][0])].push_back(id);
  }
  for (auto& bucket : special_by_first_byte_)
    std::stable_sort(bucket.begin(), bucket.end(),
                     [&](int32_t a, int32_t b) { return vocab_.tokens[a].size() > vocab_.tokens[b].size(); });
  return Status();
}

void Tokenizer::Partition(std::string_view text, bool parse_special, std::vector<Fragment>* out) const {
  size_t run_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto& bucket = special_by_first_byte_[static_cast<uint8_t>(text[pos])];
    int32_t match = -1;
    for (int32_t id : bucket) {
      if (!parse_special && vocab_.types[id] != TokenType::kUserDefined) continue;
      if (!text.substr(pos).starts_with(vocab_.tokens[id])) continue;
      const uint8_t flags = vocab_.added_token_flags.empty() ? 0 : vocab_.added_token_flags[id];
      if ((flags & kAddedSingleWord) && !IsSingleWord(text, pos, pos + vocab_.tokens[id].size())) continue;
      match = id;
      break;
    }
    if (match < 0) {
      ++pos;
      continue;
    }
    const uint8_t flags = vocab_.added_token_flags.empty() ? 0 : vocab_.added_token_flags[match];
    size_t run_end = pos;  // lstrip: the whitespace before the token goes with it
    if (flags & kAddedLstrip)
      while (run_end > run_start && IsAsciiSpace(text[run_end - 1])) --run_end;
    if (run_end > run_start) out->push_back(Fragment{-1, run_start, run_end - run_start});
    out->push_back(Fragment{match, pos, vocab_.tokens[match].size()});
    pos += vocab_.tokens[match].size();
    if (flags & kAddedRstrip)
      while (pos < text.size() && IsAsciiSpace(text[pos])) ++pos;
    run_start = pos;
  }
  if (text.size() > run_start) out->push_back(Fragment{-1, run_start, text.size() - run_start});
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  Encode(text, options, &out);
  return out;
}

void Tokenizer::Encode(std::string_view text, const EncodeOptions& options, std::vector<int32_t>* out) const {
  if (options.add_special && vocab_.add_bos && vocab_.bos_id >= 0) out->push_back(vocab_.bos_id);
  std::vector<Fragment> fragments;
  Partition(text, options.parse_special, &fragments);
  Scratch scratch;
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out->push_back(f.token);
      continue;
    }
    std::string_view run = text.substr(f.begin, f.len);
    scratch.run_at_text_start = f.begin == 0;
    std::string normalized;
    if (vocab_.normal_form != NormalForm::kNone) {
      normalized = NormalizeUnicode(run, vocab_.normal_form);
      run = normalized;
    }
    while (run.size() > kMaxRun) {  // only for > 1 GiB of text without a special token
      size_t cut = kMaxRun;
      while (cut > 0 && (static_cast<uint8_t>(run[cut]) & 0xC0) == 0x80) --cut;
      if (cut == 0) cut = kMaxRun;
      model_->Encode(run.substr(0, cut), scratch, out);
      run.remove_prefix(cut);
      scratch.run_at_text_start = false;
    }
    model_->Encode(run, scratch, out);
  }
  if (options.add_special && vocab_.add_eos && vocab_.eos_id >= 0) out->push_back(vocab_.eos_id);
}

std::string_view Tokenizer::TokenBytes(int32_t id, bool skip_special) const {
  if (id < 0 || id >= vocab_.size()) return {};
  if (!skip_special && token_bytes_[id].empty() &&
      (vocab_.types[id] == TokenType::kControl || vocab_.types[id] == TokenType::kUnknown))
    return vocab_.tokens[id];
  return token_bytes_[id];
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) {
    std::string_view b = TokenBytes(id, options.skip_special);
    if (b.empty()) continue;
    if (at_start && options.strip_leading_space && strips_leading_space_ && b[0] == ' ') b.remove_prefix(1);
    at_start = false;
    out.append(b);
  }
  return out;
}

std::string_view Tokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_.size()) return {};
  return vocab_.tokens[id];
}

int32_t Tokenizer::PieceToId(std::string_view piece) const { return index_->Find(piece); }

bool Tokenizer::IsControl(int32_t id) const {
  return id >= 0 && id < vocab_.size() && vocab_.types[id] == TokenType::kControl;
}

}  // namespace weft
