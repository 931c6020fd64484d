#include "grammar/gbnf.h"

#include <algorithm>
#include <map>
#include <string>

#include <fmt/format.h>

#include "grammar/regex.h"
#include "tokenizer/unicode.h"

namespace weft::grammar {
namespace {

constexpr int kMaxBound = 10000;

// Sorted, merged, surrogates removed.
CodepointRanges Normalize(CodepointRanges r) {
  std::sort(r.begin(), r.end());
  CodepointRanges out;
  for (auto [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, hi);
    } else {
      out.emplace_back(lo, hi);
    }
  }
  CodepointRanges cut;
  for (auto [lo, hi] : out) {
    if (hi < 0xD800 || lo > 0xDFFF) { cut.emplace_back(lo, hi); continue; }
    if (lo < 0xD800) cut.emplace_back(lo, 0xD7FF);
    if (hi > 0xDFFF) cut.emplace_back(0xE000, hi);
  }
  return cut;
}

CodepointRanges Complement(const CodepointRanges& r) {
  CodepointRanges out;
  uint32_t next = 0;
  for (auto [lo, hi] : r) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= 0x10FFFF) out.emplace_back(next, 0x10FFFF);
  return Normalize(out);
}

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  StatusOr<Grammar> Run() {
    SkipBlank(true);
    while (pos_ < t_.size()) {
      WEFT_ASSIGN_OR_RETURN(std::string name, Name());
      SkipBlank(false);
      if (t_.substr(pos_, 3) != "::=") return Error("expected '::=' after the rule name '" + name + "'");
      pos_ += 3;
      SkipBlank(true);
      const uint32_t id = RuleId(name);
      if (b_.IsDefined(id)) return Error("the rule '" + name + "' is defined twice");
      WEFT_ASSIGN_OR_RETURN(Expr body, Alternatives(0));
      b_.Define(id, std::move(body));
      SkipBlank(false);
      if (pos_ < t_.size() && t_[pos_] != '\n' && t_[pos_] != '\r') return Error("unexpected character");
      SkipBlank(true);
    }
    auto root = rules_.find("root");
    if (root == rules_.end()) return InvalidArgumentError("the grammar has no 'root' rule");
    for (const auto& [name, id] : rules_) {
      if (!b_.IsDefined(id)) {
        return InvalidArgumentError(fmt::format("the rule '{}' is used but not defined (line {})", name, used_at_[name]));
      }
    }
    return b_.Build(root->second);
  }

 private:
  Status Error(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < t_.size(); ++i) {
      if (t_[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    return InvalidArgumentError(fmt::format("GBNF grammar, line {} column {}: {}", line, col, what));
  }

  int Line() const { return 1 + static_cast<int>(std::count(t_.begin(), t_.begin() + static_cast<std::ptrdiff_t>(pos_), '\n')); }

  uint32_t RuleId(const std::string& name) {
    auto it = rules_.find(name);
    if (it != rules_.end()) return it->second;
    const uint32_t id = b_.Declare(name);
    rules_[name] = id;
    return id;
  }

  // Spaces and comments; newlines too when `newlines`.
  void SkipBlank(bool newlines) {
    while (pos_ < t_.size()) {
      const char c = t_[pos_];
      if (c == ' ' || c == '\t' || ((c == '\n' || c == '\r') && newlines)) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  // Whether the next non-blank line starts with '|' (a rule continued).
  bool ContinuesWithBar() const {
    size_t p = pos_;
    while (p < t_.size()) {
      const char c = t_[p];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { ++p; continue; }
      if (c == '#') { while (p < t_.size() && t_[p] != '\n') ++p; continue; }
      return c == '|';
    }
    return false;
  }

  static bool NameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  }

  StatusOr<std::string> Name() {
    const size_t start = pos_;
    while (pos_ < t_.size() && NameChar(t_[pos_])) ++pos_;
    if (pos_ == start) return Error("expected a rule name");
    return std::string(t_.substr(start, pos_ - start));
  }

  StatusOr<Expr> Alternatives(int depth) {
    std::vector<Expr> alts;
    while (true) {
      WEFT_ASSIGN_OR_RETURN(Expr seq, Sequence(depth));
      alts.push_back(std::move(seq));
      SkipBlank(depth > 0);
      if (depth == 0 && pos_ < t_.size() && (t_[pos_] == '\n' || t_[pos_] == '\r') && ContinuesWithBar()) SkipBlank(true);
      if (pos_ < t_.size() && t_[pos_] == '|') {
        ++pos_;
        SkipBlank(true);
        continue;
      }
      break;
    }
    return alts.size() == 1 ? std::move(alts[0]) : Expr::Alt(std::move(alts));
  }

  StatusOr<Expr> Sequence(int depth) {
    std::vector<Expr> items;
    while (true) {
      SkipBlank(depth > 0);
      if (pos_ >= t_.size()) break;
      const char c = t_[pos_];
      if (c == '|' || c == ')' || c == '\n' || c == '\r') break;
      // A new rule starts on this line: "name ::=" (only reachable at depth 0 after a newline).
      WEFT_ASSIGN_OR_RETURN(Expr item, Primary(depth));
      WEFT_ASSIGN_OR_RETURN(item, Postfix(std::move(item)));
      items.push_back(std::move(item));
    }
    return items.size() == 1 ? std::move(items[0]) : Expr::Seq(std::move(items));
  }

  StatusOr<Expr> Postfix(Expr e) {
    while (pos_ < t_.size()) {
      const char c = t_[pos_];
      if (c == '*') { ++pos_; e = Expr::Star(std::move(e)); }
      else if (c == '+') { ++pos_; e = Expr::Plus(std::move(e)); }
      else if (c == '?') { ++pos_; e = Expr::Opt(std::move(e)); }
      else if (c == '{') {
        ++pos_;
        SkipBlank(false);
        WEFT_ASSIGN_OR_RETURN(int lo, Int());
        int hi = lo;
        SkipBlank(false);
        if (pos_ < t_.size() && t_[pos_] == ',') {
          ++pos_;
          SkipBlank(false);
          if (pos_ < t_.size() && t_[pos_] == '}') {
            hi = -1;
          } else {
            WEFT_ASSIGN_OR_RETURN(hi, Int());
            if (hi < lo) return Error("a repetition's maximum is below its minimum");
          }
        }
        SkipBlank(false);
        if (pos_ >= t_.size() || t_[pos_] != '}') return Error("expected '}'");
        ++pos_;
        e = Expr::Repeat(std::move(e), lo, hi);
      } else {
        break;
      }
    }
    return e;
  }

  StatusOr<int> Int() {
    const size_t start = pos_;
    int64_t v = 0;
    while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') {
      v = v * 10 + (t_[pos_] - '0');
      if (v > kMaxBound) return Error(fmt::format("repetition bounds above {} are not supported", kMaxBound));
      ++pos_;
    }
    if (pos_ == start) return Error("expected a number");
    return static_cast<int>(v);
  }

  StatusOr<Expr> Primary(int depth) {
    const char c = t_[pos_];
    if (c == '"') {
      ++pos_;
      std::string bytes;
      while (true) {
        if (pos_ >= t_.size() || t_[pos_] == '\n') return Error("unterminated string literal");
        if (t_[pos_] == '"') { ++pos_; break; }
        WEFT_ASSIGN_OR_RETURN(uint32_t cp, Char());
        unicode::AppendUtf8(cp, &bytes);
      }
      return Expr::Literal(bytes);
    }
    if (c == '[') {
      ++pos_;
      bool negated = false;
      if (pos_ < t_.size() && t_[pos_] == '^') { negated = true; ++pos_; }
      CodepointRanges set;
      while (true) {
        if (pos_ >= t_.size() || t_[pos_] == '\n') return Error("unterminated character class");
        if (t_[pos_] == ']') { ++pos_; break; }
        WEFT_ASSIGN_OR_RETURN(uint32_t lo, Char());
        uint32_t hi = lo;
        if (pos_ + 1 < t_.size() && t_[pos_] == '-' && t_[pos_ + 1] != ']') {
          ++pos_;
          WEFT_ASSIGN_OR_RETURN(hi, Char());
          if (hi < lo) return Error("a character range runs backwards");
        }
        set.emplace_back(lo, hi);
      }
      set = Normalize(set);
      if (negated) set = Complement(set);
      if (set.empty()) return Expr::Nothing();
      return CodepointSetExpr(set, false);
    }
    if (c == '.') {
      ++pos_;
      return CodepointSetExpr(AnyCodepoint(), false);
    }
    if (c == '(') {
      ++pos_;
      SkipBlank(true);
      WEFT_ASSIGN_OR_RETURN(Expr e, Alternatives(depth + 1));
      SkipBlank(true);
      if (pos_ >= t_.size() || t_[pos_] != ')') return Error("expected ')'");
      ++pos_;
      return e;
    }
    if (NameChar(c)) {
      const size_t start = pos_;
      WEFT_ASSIGN_OR_RETURN(std::string name, Name());
      // "name ::=" here means the previous rule ended without a newline.
      size_t p = pos_;
      while (p < t_.size() && (t_[p] == ' ' || t_[p] == '\t')) ++p;
      if (t_.substr(p, 3) == "::=") {
        pos_ = start;
        return Error("expected a newline before the rule '" + name + "'");
      }
      used_at_.emplace(name, Line());
      return Expr::Rule(RuleId(name));
    }
    return Error(fmt::format("unexpected character '{}'", c));
  }

  // One code point of a literal or class, with escapes.
  StatusOr<uint32_t> Char() {
    const auto c = static_cast<unsigned char>(t_[pos_]);
    if (c != '\\') {
      // UTF-8 sequence.
      int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (n == 0 || pos_ + static_cast<size_t>(n) > t_.size()) return Error("invalid UTF-8");
      uint32_t cp = n == 1 ? c : c & (0xFF >> (n + 1));
      for (int i = 1; i < n; ++i) {
        const auto cc = static_cast<unsigned char>(t_[pos_ + static_cast<size_t>(i)]);
        if ((cc & 0xC0) != 0x80) return Error("invalid UTF-8");
        cp = (cp << 6) | (cc & 0x3F);
      }
      pos_ += static_cast<size_t>(n);
      return cp;
    }
    ++pos_;
    if (pos_ >= t_.size()) return Error("a backslash at the end");
    const char e = t_[pos_++];
    switch (e) {
      case 'n': return uint32_t{'\n'};
      case 'r': return uint32_t{'\r'};
      case 't': return uint32_t{'\t'};
      case 'x': return Hex(2);
      case 'u': return Hex(4);
      case 'U': return Hex(8);
      case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': return static_cast<uint32_t>(e);
      default: --pos_; return Error(fmt::format("unknown escape '\\{}'", e));
    }
  }

  StatusOr<uint32_t> Hex(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      if (pos_ >= t_.size()) return Error("a short hex escape");
      const char h = t_[pos_++];
      int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) return Error("a bad hex digit");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return Error("not a Unicode scalar value");
    return v;
  }

  std::string_view t_;
  size_t pos_ = 0;
  GrammarBuilder b_;
  std::map<std::string, uint32_t> rules_;
  std::map<std::string, int> used_at_;
};

}  // namespace

StatusOr<Grammar> CompileGbnf(std::string_view text) { return Parser(text).Run(); }

}  // namespace weft::grammar
