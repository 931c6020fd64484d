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

namespace {

// Turns one piece's alternating matches and gaps into the pieces `behavior` keeps.
// `marked` covers the piece in order; true marks the spans the behaviour acts on.
void ApplyBehavior(SplitBehavior behavior, const std::vector<std::pair<Span, bool>>& marked,
                   std::vector<Span>* out) {
  bool prev_marked = false;
  const size_t first_new = out->size();
  auto extend_last = [&](const Span& s) { out->back().len = s.begin + s.len - out->back().begin; };
  for (const auto& [span, is_marked] : marked) {
    switch (behavior) {
      case SplitBehavior::kIsolated:
        out->push_back(span);
        break;
      case SplitBehavior::kRemoved:
        if (!is_marked) out->push_back(span);
        break;
      case SplitBehavior::kMergedWithPrevious:  // a match joins the gap before it
        if (is_marked && !prev_marked && out->size() > first_new) extend_last(span);
        else out->push_back(span);
        break;
      case SplitBehavior::kMergedWithNext:  // a gap joins the match before it
        if (!is_marked && prev_marked && out->size() > first_new) extend_last(span);
        else out->push_back(span);
        break;
      case SplitBehavior::kContiguous:  // runs of matches become one piece
        if (is_marked && prev_marked && out->size() > first_new) extend_last(span);
        else out->push_back(span);
        break;
    }
    prev_marked = is_marked;
  }
}

}  // namespace

StatusOr<std::unique_ptr<RegexSplitter>> RegexSplitter::Create(const std::vector<SplitRule>& rules) {
  std::unique_ptr<RegexSplitter> s(new RegexSplitter());
  for (const SplitRule& rule : rules) {
    const std::string& re = rule.regex;
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
    s->rules_.push_back(rule);
  }
  return s;
}

RegexSplitter::~RegexSplitter() {
  for (void* c : codes_) pcre2_code_free(static_cast<pcre2_code*>(c));
}

void RegexSplitter::Split(std::string_view text, Scratch& scratch) const {
  auto& pieces = scratch.pieces;
  auto& next = scratch.pieces_tmp;
  auto& marked = scratch.marked;
  pieces.clear();
  if (text.empty()) return;
  pieces.push_back(Span{0, static_cast<uint32_t>(text.size())});
  if (codes_.empty()) return;
  pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
  for (size_t r = 0; r < codes_.size(); ++r) {
    auto* code = static_cast<pcre2_code*>(codes_[r]);
    const bool invert = rules_[r].invert;
    next.clear();
    for (const Span& piece : pieces) {
      auto subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.begin);
      const size_t len = piece.len;
      size_t pos = 0, emitted = 0;
      marked.clear();
      auto mark = [&](size_t b, size_t e, bool is_match) {
        marked.emplace_back(Span{piece.begin + static_cast<uint32_t>(b), static_cast<uint32_t>(e - b)}, is_match != invert);
      };
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
        if (mb > emitted) mark(emitted, mb, false);
        mark(mb, me, true);
        emitted = pos = me;
      }
      if (emitted < len) mark(emitted, len, false);
      ApplyBehavior(rules_[r].behavior, marked, &next);
    }
    pieces.swap(next);
  }
  pcre2_match_data_free(md);
}

}  // namespace weft::tokenizer_internal
