// StreamingDetokenizer: turns ids, fed one at a time (as a model generates them), into
// text deltas that never end inside a UTF-8 character: bytes of an incomplete
// character are held back until the token that completes it arrives. Bytes that can
// never become valid UTF-8 are passed through as they are, so the concatenation of
// every Feed() and the final Flush() equals Tokenizer::Decode of all the ids (with the
// same DecodeOptions).
//
// Thread-safety: one instance per stream; the Tokenizer must outlive it.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace weft {

class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, DecodeOptions options = {})
      : tokenizer_(&tokenizer), options_(options) {}

  // The text that became complete with this token (often empty or one piece).
  std::string Feed(int32_t id);
  // Appends the delta to *out instead; returns how many bytes were appended.
  size_t Feed(int32_t id, std::string* out);
  // Everything still held back (an incomplete character at the end of the stream).
  std::string Flush();
  // Starts a new stream.
  void Reset();
  // Bytes held back now.
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  DecodeOptions options_;
  std::string pending_;
  bool at_start_ = true;
};

}  // namespace weft
