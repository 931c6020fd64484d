#include "grammar/regex.h"

#include <algorithm>

#include <fmt/format.h>

namespace weft::grammar {
namespace {

constexpr uint32_t kMaxCp = 0x10FFFF;

CodepointRanges Normalize(CodepointRanges r) {
  std::sort(r.begin(), r.end());
  CodepointRanges out;
  for (auto [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) out.back().second = std::max(out.back().second, hi);
    else out.emplace_back(lo, hi);
  }
  // Remove surrogates.
  CodepointRanges res;
  for (auto [lo, hi] : out) {
    if (hi < 0xD800 || lo > 0xDFFF) { res.emplace_back(lo, hi); continue; }
    if (lo < 0xD800) res.emplace_back(lo, 0xD7FF);
    if (hi > 0xDFFF) res.emplace_back(0xE000, hi);
  }
  return res;
}

CodepointRanges Complement(const CodepointRanges& r) {
  CodepointRanges n = Normalize(r), out;
  uint32_t next = 0;
  for (auto [lo, hi] : n) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCp) out.emplace_back(next, kMaxCp);
  return Normalize(out);
}

int Utf8Len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void EncodeUtf8(uint32_t cp, uint8_t* b) {
  const int n = Utf8Len(cp);
  if (n == 1) { b[0] = static_cast<uint8_t>(cp); return; }
  for (int i = n - 1; i > 0; --i) { b[i] = static_cast<uint8_t>(0x80 | (cp & 0x3F)); cp >>= 6; }
  static const uint8_t lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
  b[0] = static_cast<uint8_t>(lead[n] | cp);
}

// Appends byte-range sequences matching exactly the UTF-8 encodings of [lo, hi] (same length).
void SplitSameLength(uint32_t lo, uint32_t hi, std::vector<Expr>* alts) {
  const int n = Utf8Len(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        SplitSameLength(lo, lo | m, alts);
        SplitSameLength((lo | m) + 1, hi, alts);
        return;
      }
      if ((hi & m) != m) {
        SplitSameLength(lo, (hi & ~m) - 1, alts);
        SplitSameLength(hi & ~m, hi, alts);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  EncodeUtf8(lo, a);
  EncodeUtf8(hi, b);
  std::vector<Expr> seq;
  for (int i = 0; i < n; ++i) seq.push_back(Expr::Bytes(ByteSet::Range(a[i], b[i])));
  alts->push_back(Expr::Seq(std::move(seq)));
}

void Utf8RangeAlts(uint32_t lo, uint32_t hi, std::vector<Expr>* alts) {
  static const uint32_t bounds[] = {0x7F, 0x7FF, 0xFFFF, kMaxCp};
  for (uint32_t b : bounds) {
    if (lo > hi) return;
    if (lo <= b) {
      const uint32_t top = std::min(hi, b);
      if (Utf8Len(lo) == 1) alts->push_back(Expr::Bytes(ByteSet::Range(static_cast<uint8_t>(lo), static_cast<uint8_t>(top))));
      else SplitSameLength(lo, top, alts);
      lo = top + 1;
    }
  }
}

std::string JsonEscape(uint32_t cp) {
  switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return fmt::format("\\u{:04x}", cp);
  }
}

class RegexParser {
 public:
  RegexParser(std::string_view p, const RegexOptions& o) : p_(p), o_(o) {}

  StatusOr<Expr> Parse() {
    bool anchored_start = false, anchored_end = false;
    if (!p_.empty() && p_[0] == '^') { anchored_start = true; ++i_; }
    size_t end = p_.size();
    if (end > i_ && p_[end - 1] == '$' && (end < 2 || p_[end - 2] != '\\')) { anchored_end = true; --end; }
    p_ = p_.substr(0, end);
    WEFT_ASSIGN_OR_RETURN(Expr e, ParseAlt());
    if (i_ < p_.size()) return Err(fmt::format("unexpected '{}'", p_[i_]));
    if (!o_.search) return e;
    std::vector<Expr> seq;
    if (!anchored_start) seq.push_back(Expr::Star(CodepointSetExpr(AnyCodepoint(), o_.json_string)));
    seq.push_back(std::move(e));
    if (!anchored_end) seq.push_back(Expr::Star(CodepointSetExpr(AnyCodepoint(), o_.json_string)));
    return Expr::Seq(std::move(seq));
  }

 private:
  Status Err(std::string what) const {
    return InvalidArgumentError(fmt::format("regex /{}/ at offset {}: {}", p_, i_, what));
  }
  bool More() const { return i_ < p_.size(); }
  char Peek() const { return p_[i_]; }

  StatusOr<Expr> ParseAlt() {
    std::vector<Expr> alts;
    WEFT_ASSIGN_OR_RETURN(Expr first, ParseSeq());
    alts.push_back(std::move(first));
    while (More() && Peek() == '|') {
      ++i_;
      WEFT_ASSIGN_OR_RETURN(Expr next, ParseSeq());
      alts.push_back(std::move(next));
    }
    return alts.size() == 1 ? std::move(alts[0]) : Expr::Alt(std::move(alts));
  }

  StatusOr<Expr> ParseSeq() {
    std::vector<Expr> seq;
    while (More() && Peek() != '|' && Peek() != ')') {
      WEFT_ASSIGN_OR_RETURN(Expr atom, ParseAtom());
      WEFT_ASSIGN_OR_RETURN(Expr q, ParseQuant(std::move(atom)));
      seq.push_back(std::move(q));
    }
    return seq.size() == 1 ? std::move(seq[0]) : Expr::Seq(std::move(seq));
  }

  StatusOr<int> ParseInt() {
    if (!More() || !isdigit(static_cast<unsigned char>(Peek()))) return Err("expected a number");
    long v = 0;
    while (More() && isdigit(static_cast<unsigned char>(Peek()))) {
      v = v * 10 + (Peek() - '0');
      if (v > 100000) return Err("repetition count too large");
      ++i_;
    }
    return static_cast<int>(v);
  }

  StatusOr<Expr> ParseQuant(Expr atom) {
    for (;;) {
      if (!More()) return atom;
      int lo, hi;
      const char c = Peek();
      if (c == '*') { lo = 0; hi = -1; ++i_; }
      else if (c == '+') { lo = 1; hi = -1; ++i_; }
      else if (c == '?') { lo = 0; hi = 1; ++i_; }
      else if (c == '{') {
        const size_t save = i_;
        ++i_;
        if (!More() || !isdigit(static_cast<unsigned char>(Peek()))) { i_ = save; return atom; }  // literal '{'
        WEFT_ASSIGN_OR_RETURN(lo, ParseInt());
        hi = lo;
        if (More() && Peek() == ',') {
          ++i_;
          if (More() && Peek() == '}') hi = -1;
          else { WEFT_ASSIGN_OR_RETURN(hi, ParseInt()); }
        }
        if (!More() || Peek() != '}') return Err("expected '}'");
        ++i_;
        if (hi >= 0 && hi < lo) return Err("repetition {n,m} with m < n");
      } else {
        return atom;
      }
      if (More() && Peek() == '?') ++i_;  // lazy: same language
      if (More() && Peek() == '+') return Err("possessive quantifiers are not supported");
      atom = Expr::Repeat(std::move(atom), lo, hi);
    }
  }

  StatusOr<uint32_t> DecodeChar() {
    const auto b0 = static_cast<uint8_t>(p_[i_]);
    int n = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : (b0 >> 3) == 30 ? 4 : 0;
    if (n == 0 || i_ + static_cast<size_t>(n) > p_.size()) return Err("invalid UTF-8");
    uint32_t cp = n == 1 ? b0 : b0 & (0x7F >> n);
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(p_[i_ + static_cast<size_t>(k)]) & 0x3F);
    i_ += static_cast<size_t>(n);
    return cp;
  }

  StatusOr<uint32_t> Hex(int digits) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (!More() || !isxdigit(static_cast<unsigned char>(Peek()))) return Err("expected a hex digit");
      const char c = Peek();
      v = v * 16 + static_cast<uint32_t>(isdigit(static_cast<unsigned char>(c)) ? c - '0' : (tolower(c) - 'a' + 10));
      ++i_;
    }
    return v;
  }

  // After a backslash: a class escape fills *set; a character escape returns its code point.
  Status ParseEscape(CodepointRanges* set, bool in_class) {
    if (!More()) return Err("trailing backslash");
    const char c = Peek();
    ++i_;
    static const CodepointRanges kDigit = {{'0', '9'}};
    static const CodepointRanges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    static const CodepointRanges kSpace = {{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                                           {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                                           {0xFEFF, 0xFEFF}};
    auto add = [&](const CodepointRanges& r) { set->insert(set->end(), r.begin(), r.end()); };
    auto one = [&](uint32_t cp) { set->emplace_back(cp, cp); };
    switch (c) {
      case 'd': add(kDigit); return Status::Ok();
      case 'D': add(Complement(kDigit)); return Status::Ok();
      case 'w': add(kWord); return Status::Ok();
      case 'W': add(Complement(kWord)); return Status::Ok();
      case 's': add(kSpace); return Status::Ok();
      case 'S': add(Complement(kSpace)); return Status::Ok();
      case 'n': one('\n'); return Status::Ok();
      case 'r': one('\r'); return Status::Ok();
      case 't': one('\t'); return Status::Ok();
      case 'f': one('\f'); return Status::Ok();
      case 'v': one('\v'); return Status::Ok();
      case '0': one(0); return Status::Ok();
      case 'x': { WEFT_ASSIGN_OR_RETURN(uint32_t v, Hex(2)); one(v); return Status::Ok(); }
      case 'u': {
        if (More() && Peek() == '{') {
          ++i_;
          uint32_t v = 0;
          int digits = 0;
          while (More() && Peek() != '}') { WEFT_ASSIGN_OR_RETURN(uint32_t d, Hex(1)); v = v * 16 + d; if (++digits > 6) return Err("\\u{} too long"); }
          if (!More()) return Err("expected '}'");
          ++i_;
          if (v > kMaxCp) return Err("code point out of range");
          one(v);
          return Status::Ok();
        }
        WEFT_ASSIGN_OR_RETURN(uint32_t v, Hex(4));
        one(v);
        return Status::Ok();
      }
      case 'b': if (in_class) { one('\b'); return Status::Ok(); } return Err("word boundaries (\\b) are not supported");
      case 'B': return Err("word boundaries (\\B) are not supported");
      default:
        if (c >= '1' && c <= '9') return Err("backreferences are not supported");
        if (isalnum(static_cast<unsigned char>(c))) return Err(fmt::format("unknown escape \\{}", c));
        --i_;
        { WEFT_ASSIGN_OR_RETURN(uint32_t cp, DecodeChar()); one(cp); }
        return Status::Ok();
    }
  }

  StatusOr<Expr> ParseClass() {
    bool negate = false;
    if (More() && Peek() == '^') { negate = true; ++i_; }
    CodepointRanges set;
    bool first = true;
    while (More() && (Peek() != ']' || (first && false))) {
      first = false;
      CodepointRanges item;
      if (Peek() == '\\') { ++i_; WEFT_RETURN_IF_ERROR(ParseEscape(&item, true)); }
      else { WEFT_ASSIGN_OR_RETURN(uint32_t cp, DecodeChar()); item.emplace_back(cp, cp); }
      if (item.size() == 1 && item[0].first == item[0].second && More() && Peek() == '-' && i_ + 1 < p_.size() &&
          p_[i_ + 1] != ']') {
        ++i_;
        CodepointRanges hi;
        if (Peek() == '\\') { ++i_; WEFT_RETURN_IF_ERROR(ParseEscape(&hi, true)); }
        else { WEFT_ASSIGN_OR_RETURN(uint32_t cp, DecodeChar()); hi.emplace_back(cp, cp); }
        if (hi.size() != 1 || hi[0].first != hi[0].second) return Err("a class escape cannot end a range");
        if (hi[0].first < item[0].first) return Err("range out of order in character class");
        set.emplace_back(item[0].first, hi[0].first);
      } else {
        set.insert(set.end(), item.begin(), item.end());
      }
    }
    if (!More()) return Err("unterminated character class");
    ++i_;  // ']'
    return CodepointSetExpr(negate ? Complement(set) : Normalize(set), o_.json_string);
  }

  StatusOr<Expr> ParseAtom() {
    const char c = Peek();
    if (c == '(') {
      ++i_;
      if (More() && Peek() == '?') {
        ++i_;
        if (More() && Peek() == ':') ++i_;
        else if (More() && Peek() == '<' && i_ + 1 < p_.size() && p_[i_ + 1] != '=' && p_[i_ + 1] != '!') {
          while (More() && Peek() != '>') ++i_;
          if (!More()) return Err("unterminated group name");
          ++i_;
        } else {
          return Err("lookaround and inline flags are not supported");
        }
      }
      WEFT_ASSIGN_OR_RETURN(Expr e, ParseAlt());
      if (!More() || Peek() != ')') return Err("missing ')'");
      ++i_;
      return e;
    }
    if (c == '[') { ++i_; return ParseClass(); }
    if (c == '.') {
      ++i_;
      return CodepointSetExpr(Complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}), o_.json_string);
    }
    if (c == '^' || c == '$') return Err("anchors are supported only at the start and end");
    if (c == '*' || c == '+' || c == '?') return Err("nothing to repeat");
    CodepointRanges set;
    if (c == '\\') { ++i_; WEFT_RETURN_IF_ERROR(ParseEscape(&set, false)); }
    else { WEFT_ASSIGN_OR_RETURN(uint32_t cp, DecodeChar()); set.emplace_back(cp, cp); }
    return CodepointSetExpr(Normalize(set), o_.json_string);
  }

  std::string_view p_;
  RegexOptions o_;
  size_t i_ = 0;
};

}  // namespace

CodepointRanges AnyCodepoint() { return Normalize({{0, kMaxCp}}); }

Expr CodepointSetExpr(const CodepointRanges& set_in, bool json_string) {
  const CodepointRanges set = Normalize(set_in);
  std::vector<Expr> alts;
  for (auto [lo, hi] : set) {
    if (!json_string) { Utf8RangeAlts(lo, hi, &alts); continue; }
    // Characters JSON escapes: their canonical escape; the rest as UTF-8.
    uint32_t a = lo;
    while (a <= hi) {
      if (a < 0x20 || a == '"' || a == '\\') {
        alts.push_back(Expr::Literal(JsonEscape(a)));
        ++a;
        continue;
      }
      uint32_t b = a;
      while (b < hi && !(b + 1 < 0x20 || b + 1 == '"' || b + 1 == '\\')) ++b;
      Utf8RangeAlts(a, b, &alts);
      a = b + 1;
    }
  }
  // Merge single-byte alternatives into one byte set.
  ByteSet single;
  std::vector<Expr> rest;
  for (Expr& e : alts) {
    if (e.kind == Expr::kBytes) single.AddAll(e.bytes);
    else rest.push_back(std::move(e));
  }
  if (!single.Empty()) rest.insert(rest.begin(), Expr::Bytes(single));
  if (rest.size() == 1) return std::move(rest[0]);
  return Expr::Alt(std::move(rest));
}

StatusOr<Expr> CompileRegex(std::string_view pattern, const RegexOptions& options) {
  return RegexParser(pattern, options).Parse();
}

}  // namespace weft::grammar
