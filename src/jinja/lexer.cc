#include "jinja/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "jinja/string_util.h"

namespace weft::jinja {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string_view src, const LexerOptions& opt) : src_(src), opt_(opt) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src.size(); ++i) if (src[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> Run() {
    size_t pos = 0;
    while (pos < src_.size()) {
      const size_t start = FindTagStart(pos);
      if (start == std::string_view::npos) {
        EmitText(pos, src_.size());
        break;
      }
      const char kind = src_[start + 1];  // '{', '%' or '#'
      const char mod = start + 2 < src_.size() ? src_[start + 2] : '\0';
      size_t text_end = start;
      if (mod == '-') {
        while (text_end > pos && IsSpace(src_[text_end - 1])) --text_end;
      } else if (mod != '+' && opt_.lstrip_blocks && kind != '{') {
        size_t b = text_end;
        while (b > 0 && (src_[b - 1] == ' ' || src_[b - 1] == '\t')) --b;
        if (b >= pos && (b == 0 || src_[b - 1] == '\n')) text_end = b;
      }
      EmitText(pos, text_end);
      size_t p = start + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      if (kind == '#') {
        const size_t end = src_.find("#}", p);
        if (end == std::string_view::npos) Fail(start, "unterminated comment: missing '#}'");
        const bool strip = end > p && src_[end - 1] == '-';
        const bool keep = end > p && src_[end - 1] == '+';
        pos = AfterTag(end + 2, strip, keep);
        continue;
      }
      if (kind == '%' && TryRaw(start, p, &pos)) continue;
      pos = LexTag(start, p, kind == '%');
    }
    tokens_.push_back(Token{TokenType::kEof, "", 0, 0, Loc(src_.size())});
    return std::move(tokens_);
  }

 private:
  SourceLoc Loc(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    return SourceLoc{static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  [[noreturn]] void Fail(size_t offset, const std::string& msg) const {
    const SourceLoc loc = Loc(offset);
    throw TemplateError(ErrorKind::kSyntax,
                        "syntax error at " + std::to_string(loc.line) + ":" + std::to_string(loc.column) + ": " + msg,
                        loc);
  }

  size_t FindTagStart(size_t pos) const {
    while (true) {
      const size_t b = src_.find('{', pos);
      if (b == std::string_view::npos || b + 1 >= src_.size()) return std::string_view::npos;
      const char c = src_[b + 1];
      if (c == '{' || c == '%' || c == '#') return b;
      pos = b + 1;
    }
  }

  void EmitText(size_t b, size_t e) {
    if (e <= b) return;
    tokens_.push_back(Token{TokenType::kText, std::string(src_.substr(b, e - b)), 0, 0, Loc(b)});
  }

  // Position after a tag ending at `end` (one past its closing delimiter).
  size_t AfterTag(size_t end, bool strip, bool keep, bool is_block = true) const {
    if (strip) {
      while (end < src_.size() && IsSpace(src_[end])) ++end;
    } else if (is_block && !keep && opt_.trim_blocks && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    return end;
  }

  size_t SkipSpaces(size_t p) const {
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    return p;
  }

  bool MatchWord(size_t p, std::string_view w, size_t* after) const {
    if (src_.substr(p, w.size()) != w) return false;
    if (p + w.size() < src_.size() && IsNameChar(src_[p + w.size()])) return false;
    *after = p + w.size();
    return true;
  }

  // Matches "[-+]?%}" at p; sets strip/keep and the position after it.
  bool MatchBlockEnd(size_t p, bool* strip, bool* keep, size_t* after) const {
    *strip = *keep = false;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) {
      *strip = src_[p] == '-';
      *keep = src_[p] == '+';
      ++p;
    }
    if (src_.substr(p, 2) != "%}") return false;
    *after = p + 2;
    return true;
  }

  // {% raw %}...{% endraw %}: the body is emitted verbatim.
  bool TryRaw(size_t start, size_t p, size_t* pos_out) {
    size_t q = SkipSpaces(p), after = 0;
    if (!MatchWord(q, "raw", &after)) return false;
    bool strip, keep;
    size_t body = 0;
    if (!MatchBlockEnd(SkipSpaces(after), &strip, &keep, &body)) return false;
    body = AfterTag(body, strip, keep);
    size_t search = body;
    while (true) {
      const size_t t = src_.find("{%", search);
      if (t == std::string_view::npos) Fail(start, "missing {% endraw %}");
      size_t r = t + 2;
      const char mod = r < src_.size() ? src_[r] : '\0';
      if (mod == '-' || mod == '+') ++r;
      size_t w = 0, end = 0;
      if (MatchWord(SkipSpaces(r), "endraw", &w) && MatchBlockEnd(SkipSpaces(w), &strip, &keep, &end)) {
        size_t text_end = t;
        if (mod == '-') while (text_end > body && IsSpace(src_[text_end - 1])) --text_end;
        EmitText(body, text_end);
        *pos_out = AfterTag(end, strip, keep);
        return true;
      }
      search = t + 2;
    }
  }

  size_t LexTag(size_t start, size_t p, bool is_block) {
    tokens_.push_back(Token{is_block ? TokenType::kBlockBegin : TokenType::kVarBegin, "", 0, 0, Loc(start)});
    std::vector<char> balance;
    while (true) {
      p = SkipSpaces(p);
      if (p >= src_.size()) Fail(start, is_block ? "unterminated block: missing '%}'" : "unterminated '{{': missing '}}'");
      if (is_block) {
        bool strip, keep;
        size_t after;
        if (MatchBlockEnd(p, &strip, &keep, &after)) {
          tokens_.push_back(Token{TokenType::kBlockEnd, "", 0, 0, Loc(p)});
          return AfterTag(after, strip, keep);
        }
      } else if (balance.empty()) {
        const bool strip = src_.substr(p, 3) == "-}}";
        if (strip || src_.substr(p, 2) == "}}") {
          tokens_.push_back(Token{TokenType::kVarEnd, "", 0, 0, Loc(p)});
          return AfterTag(p + (strip ? 3 : 2), strip, false, /*is_block=*/false);
        }
      }
      p = LexOne(p, &balance);
    }
  }

  size_t LexOne(size_t p, std::vector<char>* balance) {
    const char c = src_[p];
    const SourceLoc loc = Loc(p);
    if (IsNameStart(c)) {
      size_t e = p;
      while (e < src_.size() && IsNameChar(src_[e])) ++e;
      tokens_.push_back(Token{TokenType::kName, std::string(src_.substr(p, e - p)), 0, 0, loc});
      return e;
    }
    if (IsDigit(c)) return LexNumber(p);
    if (c == '\'' || c == '"') return LexString(p);
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (std::string_view op : kTwo) {
      if (src_.substr(p, 2) == op) {
        tokens_.push_back(Token{TokenType::kOp, std::string(op), 0, 0, loc});
        return p + 2;
      }
    }
    static constexpr std::string_view kOne = "+-*/%~<>=()[]{},.:|;!";
    if (kOne.find(c) == std::string_view::npos) Fail(p, std::string("unexpected character '") + c + "'");
    if (c == '!') Fail(p, "unexpected character '!'");
    if (c == '(' || c == '[' || c == '{') balance->push_back(c);
    if (c == ')' || c == ']' || c == '}') {
      const char open = c == ')' ? '(' : (c == ']' ? '[' : '{');
      if (balance->empty() || balance->back() != open) Fail(p, std::string("unexpected '") + c + "'");
      balance->pop_back();
    }
    tokens_.push_back(Token{TokenType::kOp, std::string(1, c), 0, 0, loc});
    return p + 1;
  }

  size_t LexNumber(size_t p) {
    const size_t b = p;
    auto digits = [&](size_t q) {
      while (q < src_.size() && (IsDigit(src_[q]) || (src_[q] == '_' && q + 1 < src_.size() && IsDigit(src_[q + 1])))) ++q;
      return q;
    };
    size_t e = digits(p);
    bool is_float = false;
    const bool after_dot = b > 0 && src_[b - 1] == '.';  // x.0.1 is x[0][1]
    if (!after_dot && e + 1 < src_.size() && src_[e] == '.' && IsDigit(src_[e + 1])) {
      is_float = true;
      e = digits(e + 1);
    }
    if (!after_dot && e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t q = e + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && IsDigit(src_[q])) {
        is_float = true;
        e = digits(q);
      }
    }
    std::string text;
    for (size_t i = b; i < e; ++i) if (src_[i] != '_') text.push_back(src_[i]);
    Token t{is_float ? TokenType::kFloat : TokenType::kInt, text, 0, 0, Loc(b)};
    errno = 0;
    if (is_float) {
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) Fail(b, "integer literal too large: " + text);
    }
    tokens_.push_back(std::move(t));
    return e;
  }

  static int HexVal(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  size_t LexString(size_t p) {
    const char quote = src_[p];
    const size_t b = p++;
    std::string out;
    while (true) {
      if (p >= src_.size()) Fail(b, "unterminated string literal");
      const char c = src_[p];
      if (c == quote) { ++p; break; }
      if (c != '\\') { out.push_back(c); ++p; continue; }
      if (p + 1 >= src_.size()) Fail(b, "unterminated string literal");
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case 'a': out.push_back('\a'); break;
        case '0': out.push_back('\0'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case '\n': break;  // line continuation
        case 'x': case 'u': case 'U': {
          const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          char32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            const int h = p + static_cast<size_t>(i) < src_.size() ? HexVal(src_[p + static_cast<size_t>(i)]) : -1;
            if (h < 0) Fail(p - 2, std::string("truncated \\") + e + " escape");
            cp = cp * 16 + static_cast<char32_t>(h);
          }
          if (cp > 0x10FFFF) Fail(p - 2, "illegal Unicode character in escape");
          p += static_cast<size_t>(n);
          AppendUtf8(cp, &out);
          break;
        }
        default: out.push_back('\\'); out.push_back(e); break;
      }
    }
    tokens_.push_back(Token{TokenType::kString, std::move(out), 0, 0, Loc(b)});
    return p;
  }

  std::string_view src_;
  LexerOptions opt_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> Tokenize(std::string_view source, const LexerOptions& options) {
  // As Jinja2: every line break (\r\n, \r, \v, \f, U+2028, ...) becomes \n and one
  // trailing line break is dropped (keep_trailing_newline=False).
  const std::vector<std::string> lines = PySplitLines(source);
  std::string normalized;
  normalized.reserve(source.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) normalized.push_back('\n');
    normalized += lines[i];
  }
  return Lexer(normalized, options).Run();
}

std::string_view TokenTypeName(TokenType t) {
  switch (t) {
    case TokenType::kText: return "template text";
    case TokenType::kVarBegin: return "'{{'";
    case TokenType::kVarEnd: return "'}}'";
    case TokenType::kBlockBegin: return "'{%'";
    case TokenType::kBlockEnd: return "'%}'";
    case TokenType::kName: return "name";
    case TokenType::kString: return "string";
    case TokenType::kInt: return "integer";
    case TokenType::kFloat: return "float";
    case TokenType::kOp: return "operator";
    case TokenType::kEof: return "end of template";
  }
  return "token";
}

}  // namespace weft::jinja
