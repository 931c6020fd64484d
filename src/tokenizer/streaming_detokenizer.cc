#include "tokenizer/streaming_detokenizer.h"

#include "tokenizer/unicode.h"

namespace weft {

size_t StreamingDetokenizer::Feed(int32_t id, std::string* out) {
  std::string_view b = tokenizer_->TokenBytes(id, options_.skip_special);
  if (b.empty()) return 0;
  // The same leading-space rule as Tokenizer::Decode: only the first non-empty piece.
  if (at_start_ && options_.strip_leading_space && tokenizer_->strips_leading_space() && b[0] == ' ')
    b.remove_prefix(1);
  at_start_ = false;
  pending_.append(b);
  size_t complete = unicode::CompleteUtf8Prefix(pending_);
  out->append(pending_, 0, complete);
  pending_.erase(0, complete);
  return complete;
}

std::string StreamingDetokenizer::Feed(int32_t id) {
  std::string out;
  Feed(id, &out);
  return out;
}

std::string StreamingDetokenizer::Flush() {
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

void StreamingDetokenizer::Reset() {
  pending_.clear();
  at_start_ = true;
}

}  // namespace weft
