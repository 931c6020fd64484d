// RegexSplitter: the pre-tokenizer regexes, run with PCRE2 in UTF + UCP mode (\p{L},
// \s etc. are Unicode-aware), JIT-compiled when the library supports it. Input that is
// not valid UTF-8 is allowed (PCRE2_MATCH_INVALID_UTF): invalid bytes never match, so
// they end up in the gaps between matches and are still tokenized (byte-level).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace weft::tokenizer_internal {

StatusOr<std::unique_ptr<RegexSplitter>> RegexSplitter::Create(const std::vector<std::string>& regexes) {
  std::unique_ptr<RegexSplitter> s(new RegexSplitter());
  for (const std::string& re : regexes) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return InvalidArgumentError(fmt::format("pre-tokenizer regex '{}': {} at offset {}", re,
                                              reinterpret_cast<const char*>(msg), offset));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when unavailable
    s->codes_.push_back(code);
  }
  return s;
}

RegexSplitter::~RegexSplitter() {
  for (void* c : codes_) pcre2_code_free(static_cast<pcre2_code*>(c));
}

void RegexSplitter::Split(std::string_view text, Scratch& scratch) const {
  auto& pieces = scratch.pieces;
  auto& next = scratch.pieces_tmp;
  pieces.clear();
  if (text.empty()) return;
  pieces.push_back(Span{0, static_cast<uint32_t>(text.size())});
  if (codes_.empty()) return;
  pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
  for (void* c : codes_) {
    auto* code = static_cast<pcre2_code*>(c);
    next.clear();
    for (const Span& piece : pieces) {
      auto subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.begin);
      const size_t len = piece.len;
      size_t pos = 0, emitted = 0;
      while (pos < len) {
        int rc = pcre2_match(code, subject, len, pos, 0, md, nullptr);
        if (rc < 0) break;  // no more matches (or a resource limit: the rest is one gap)
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        size_t mb = ov[0], me = ov[1];
        if (me <= mb) {  // empty match: step over one character
          if (mb >= len) break;
          size_t clen = 1;
          unicode::DecodeUtf8(std::string_view(text.data() + piece.begin, len), mb, &clen);
          pos = mb + clen;
          continue;
        }
        if (mb > emitted) next.push_back(Span{piece.begin + static_cast<uint32_t>(emitted), static_cast<uint32_t>(mb - emitted)});
        next.push_back(Span{piece.begin + static_cast<uint32_t>(mb), static_cast<uint32_t>(me - mb)});
        emitted = pos = me;
      }
      if (emitted < len)
        next.push_back(Span{piece.begin + static_cast<uint32_t>(emitted), static_cast<uint32_t>(len - emitted)});
    }
    pieces.swap(next);
  }
  pcre2_match_data_free(md);
}

}  // namespace weft::tokenizer_internal
