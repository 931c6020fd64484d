#include "jinja/parser.h"

#include <initializer_list>

#include "jinja/builtins.h"

namespace weft::jinja {
namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ParserLimits& limits) : toks_(std::move(tokens)), limits_(limits) {}

  Body ParseAll() {
    std::string end;
    Body body = ParseBody({}, &end);
    return body;
  }

 private:
  // RAII nesting guard.
  struct Nest {
    Parser* p;
    explicit Nest(Parser* parser) : p(parser) {
      if (++p->depth_ > p->limits_.max_nesting) p->Fail(p->Cur(), "template nested too deeply (limit " +
                                                             std::to_string(p->limits_.max_nesting) + ")");
    }
    ~Nest() { --p->depth_; }
  };

  // Left-nested chains (a + b + c ..., x.a.b ..., x|f|g ...) are built by loops, not
  // recursion, but evaluating and freeing them recurses: each link counts as a level.
  class ChainGuard {
   public:
    explicit ChainGuard(Parser* p) : p_(p) {}
    ~ChainGuard() { p_->depth_ -= links_; }
    void Link() {
      ++links_;
      if (++p_->depth_ > p_->limits_.max_nesting)
        p_->Fail(p_->Cur(), "template nested too deeply (limit " + std::to_string(p_->limits_.max_nesting) + ")");
    }

   private:
    Parser* p_;
    int links_ = 0;
  };

  const Token& Cur() const { return toks_[pos_]; }
  const Token& Peek(size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
  const Token& Next() {
    const Token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }

  [[noreturn]] void Fail(const Token& t, const std::string& msg) const {
    throw TemplateError(ErrorKind::kSyntax,
                        "syntax error at " + std::to_string(t.loc.line) + ":" + std::to_string(t.loc.column) + ": " + msg,
                        t.loc);
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case TokenType::kName:
      case TokenType::kOp: return "'" + t.text + "'";
      case TokenType::kString: return "string literal";
      case TokenType::kInt:
      case TokenType::kFloat: return "number " + t.text;
      default: return std::string(TokenTypeName(t.type));
    }
  }

  bool IsOp(std::string_view op) const { return Cur().type == TokenType::kOp && Cur().text == op; }
  bool IsName(std::string_view n) const { return Cur().type == TokenType::kName && Cur().text == n; }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view n) {
    if (!IsName(n)) return false;
    Next();
    return true;
  }
  void ExpectOp(std::string_view op) {
    if (!SkipOp(op)) Fail(Cur(), "expected '" + std::string(op) + "', got " + Describe(Cur()));
  }
  std::string ExpectName() {
    if (Cur().type != TokenType::kName) Fail(Cur(), "expected a name, got " + Describe(Cur()));
    return Next().text;
  }
  void ExpectBlockEnd() {
    if (Cur().type != TokenType::kBlockEnd) Fail(Cur(), "expected '%}', got " + Describe(Cur()));
    Next();
  }

  // ---- statements ----

  // Parses until EOF (end_names empty) or a `{% name` with name in end_names; consumes
  // `{%` and the name and stores it in *end.
  Body ParseBody(std::initializer_list<std::string_view> end_names, std::string* end) {
    Nest nest(this);
    Body body;
    while (true) {
      const Token& t = Cur();
      switch (t.type) {
        case TokenType::kEof:
          if (end_names.size() != 0) {
            std::string want;
            for (auto n : end_names) { if (!want.empty()) want += "' or '"; want += n; }
            Fail(t, "unexpected end of template, expected '" + want + "'");
          }
          *end = "";
          return body;
        case TokenType::kText:
          body.push_back(std::make_unique<TextStmt>(t.loc, t.text));
          Next();
          break;
        case TokenType::kVarBegin: {
          Next();
          ExprPtr e = ParseTuple(true);
          if (Cur().type != TokenType::kVarEnd) Fail(Cur(), "expected '}}', got " + Describe(Cur()));
          Next();
          body.push_back(std::make_unique<OutputStmt>(t.loc, std::move(e)));
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& name = Peek();
          if (name.type != TokenType::kName) Fail(name, "expected a tag name, got " + Describe(name));
          for (auto n : end_names) {
            if (name.text == n) {
              Next();
              Next();
              *end = name.text;
              return body;
            }
          }
          Next();
          body.push_back(ParseStatement());
          break;
        }
        default: Fail(t, "unexpected " + Describe(t));
      }
    }
  }

  StmtPtr ParseStatement() {
    const Token& t = Next();  // tag name
    const std::string& n = t.text;
    if (n == "if") return ParseIf(t);
    if (n == "for") return ParseFor(t);
    if (n == "set") return ParseSet(t);
    if (n == "macro") return ParseMacro(t);
    if (n == "call") return ParseCallBlock(t);
    if (n == "filter") return ParseFilterBlock(t);
    if (n == "with") return ParseWith(t);
    if (n == "do") {
      auto s = std::make_unique<DoStmt>(t.loc, ParseTuple(true));
      ExpectBlockEnd();
      return s;
    }
    if (n == "break" || n == "continue") {
      if (loop_depth_ == 0) Fail(t, "'" + n + "' outside of a loop");
      ExpectBlockEnd();
      return std::make_unique<SimpleStmt>(n == "break" ? StmtKind::kBreak : StmtKind::kContinue, t.loc);
    }
    if (n == "include" || n == "import" || n == "from" || n == "extends" || n == "block" || n == "autoescape" ||
        n == "trans")
      Fail(t, "unsupported tag '" + n + "'");
    Fail(t, "unknown tag '" + n + "'");
  }

  StmtPtr ParseIf(const Token& t) {
    auto s = std::make_unique<IfStmt>(t.loc);
    ExprPtr cond = ParseTuple(false);
    ExpectBlockEnd();
    while (true) {
      std::string end;
      Body body = ParseBody({"elif", "else", "endif"}, &end);
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        cond = ParseTuple(false);
        ExpectBlockEnd();
        continue;
      }
      if (end == "else") {
        ExpectBlockEnd();
        s->else_body = ParseBody({"endif"}, &end);
      }
      ExpectBlockEnd();
      return s;
    }
  }

  Target ParseTarget(bool allow_attr) {
    Target target;
    const bool paren = SkipOp("(");
    target.names.push_back(ExpectName());
    if (allow_attr && !paren && IsOp(".")) {
      Next();
      target.attr = ExpectName();
      return target;
    }
    while (SkipOp(",")) {
      target.is_tuple = true;
      if (Cur().type != TokenType::kName) break;  // trailing comma
      target.names.push_back(ExpectName());
    }
    if (paren) {
      ExpectOp(")");
      target.is_tuple = true;
    }
    return target;
  }

  StmtPtr ParseFor(const Token& t) {
    auto s = std::make_unique<ForStmt>(t.loc);
    s->target = ParseTarget(false);
    if (!SkipName("in")) Fail(Cur(), "expected 'in', got " + Describe(Cur()));
    s->iter = ParseTuple(false, /*with_condexpr=*/false);
    if (SkipName("if")) s->filter = ParseExpression(true);
    if (IsName("recursive")) Fail(Cur(), "recursive loops are not supported");
    ExpectBlockEnd();
    ++loop_depth_;
    std::string end;
    s->body = ParseBody({"else", "endfor"}, &end);
    --loop_depth_;
    if (end == "else") {
      ExpectBlockEnd();
      s->else_body = ParseBody({"endfor"}, &end);
    }
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseSet(const Token& t) {
    Target target = ParseTarget(true);
    if (SkipOp("=")) {
      auto s = std::make_unique<SetStmt>(t.loc);
      s->target = std::move(target);
      s->value = ParseTuple(true);
      ExpectBlockEnd();
      return s;
    }
    auto s = std::make_unique<SetBlockStmt>(t.loc);
    if (target.is_tuple || !target.attr.empty()) Fail(t, "a block set needs a plain name");
    s->target = std::move(target);
    if (IsOp("|")) s->filter = ParseFilterChain(nullptr);
    ExpectBlockEnd();
    std::string end;
    s->body = ParseBody({"endset"}, &end);
    ExpectBlockEnd();
    return s;
  }

  std::vector<MacroParam> ParseParams() {
    std::vector<MacroParam> params;
    ExpectOp("(");
    while (!IsOp(")")) {
      if (!params.empty()) ExpectOp(",");
      if (IsOp(")")) break;
      MacroParam p;
      p.name = ExpectName();
      if (SkipOp("=")) p.default_value = ParseExpression(true);
      params.push_back(std::move(p));
    }
    ExpectOp(")");
    return params;
  }

  StmtPtr ParseMacro(const Token& t) {
    auto s = std::make_unique<MacroStmt>(t.loc);
    s->name = ExpectName();
    s->params = ParseParams();
    ExpectBlockEnd();
    const int saved_loop = loop_depth_;
    loop_depth_ = 0;
    std::string end;
    macro_stack_.push_back(s.get());
    s->body = ParseBody({"endmacro"}, &end);
    macro_stack_.pop_back();
    loop_depth_ = saved_loop;
    if (Cur().type == TokenType::kName) Next();  // {% endmacro name %}
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseCallBlock(const Token& t) {
    auto s = std::make_unique<CallBlockStmt>(t.loc);
    if (IsOp("(")) s->caller_params = ParseParams();
    s->call = ParseExpression(true);
    if (s->call->kind != ExprKind::kCall) Fail(t, "expected a macro call after 'call'");
    ExpectBlockEnd();
    const int saved_loop = loop_depth_;
    loop_depth_ = 0;
    std::string end;
    s->body = ParseBody({"endcall"}, &end);
    loop_depth_ = saved_loop;
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseFilterBlock(const Token& t) {
    auto s = std::make_unique<FilterBlockStmt>(t.loc);
    s->filter = ParseFilterChain(nullptr, /*leading_pipe=*/false);
    ExpectBlockEnd();
    std::string end;
    s->body = ParseBody({"endfilter"}, &end);
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseWith(const Token& t) {
    auto s = std::make_unique<WithStmt>(t.loc);
    while (Cur().type != TokenType::kBlockEnd) {
      if (!s->assignments.empty()) ExpectOp(",");
      Target target = ParseTarget(false);
      ExpectOp("=");
      s->assignments.emplace_back(std::move(target), ParseExpression(true));
    }
    ExpectBlockEnd();
    std::string end;
    s->body = ParseBody({"endwith"}, &end);
    ExpectBlockEnd();
    return s;
  }

  // ---- expressions ----

  // Comma-separated expressions become a tuple (`{{ a, b }}`, `for x in a, b`).
  ExprPtr ParseTuple(bool allow_tuple, bool with_condexpr = true) {
    const SourceLoc loc = Cur().loc;
    ExprPtr first = ParseExpression(with_condexpr);
    if (!allow_tuple || !IsOp(",")) return first;
    auto tuple = std::make_unique<SeqExpr>(ExprKind::kTuple, loc);
    tuple->items.push_back(std::move(first));
    while (SkipOp(",")) {
      if (Cur().type == TokenType::kVarEnd || Cur().type == TokenType::kBlockEnd || IsOp(")")) break;
      tuple->items.push_back(ParseExpression(with_condexpr));
    }
    return tuple;
  }

  ExprPtr ParseExpression(bool with_condexpr) {
    Nest nest(this);
    if (!with_condexpr) return ParseOr();
    ExprPtr e = ParseOr();
    while (IsName("if")) {
      const SourceLoc loc = Next().loc;
      auto c = std::make_unique<CondExpr>(loc);
      c->then_expr = std::move(e);
      c->cond = ParseOr();
      if (SkipName("else")) c->else_expr = ParseExpression(true);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr ParseOr() {
    ChainGuard chain(this);
    ExprPtr e = ParseAnd();
    while (IsName("or")) {
      chain.Link();
      const SourceLoc loc = Next().loc;
      e = std::make_unique<LogicExpr>(ExprKind::kOr, loc, std::move(e), ParseAnd());
    }
    return e;
  }

  ExprPtr ParseAnd() {
    ChainGuard chain(this);
    ExprPtr e = ParseNot();
    while (IsName("and")) {
      chain.Link();
      const SourceLoc loc = Next().loc;
      e = std::make_unique<LogicExpr>(ExprKind::kAnd, loc, std::move(e), ParseNot());
    }
    return e;
  }

  ExprPtr ParseNot() {
    if (IsName("not")) {
      Nest nest(this);
      const SourceLoc loc = Next().loc;
      return std::make_unique<NotExpr>(loc, ParseNot());
    }
    return ParseCompare();
  }

  ExprPtr ParseCompare() {
    const SourceLoc loc = Cur().loc;
    ExprPtr first = ParseMath1();
    std::unique_ptr<CompareExpr> cmp;
    while (true) {
      std::string op;
      if (Cur().type == TokenType::kOp &&
          (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" || Cur().text == "<=" || Cur().text == ">" ||
           Cur().text == ">=")) {
        op = Next().text;
      } else if (IsName("in")) {
        Next();
        op = "in";
      } else if (IsName("not") && Peek().type == TokenType::kName && Peek().text == "in") {
        Next();
        Next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) cmp = std::make_unique<CompareExpr>(loc, std::move(first));
      cmp->rest.emplace_back(op, ParseMath1());
    }
    if (cmp) return cmp;
    return first;
  }

  ExprPtr ParseMath1() {
    ChainGuard chain(this);
    ExprPtr e = ParseConcat();
    while (IsOp("+") || IsOp("-")) {
      chain.Link();
      const Token& op = Next();
      e = std::make_unique<BinaryExpr>(op.loc, op.text, std::move(e), ParseConcat());
    }
    return e;
  }

  ExprPtr ParseConcat() {
    ChainGuard chain(this);
    ExprPtr e = ParseMath2();
    while (IsOp("~")) {
      chain.Link();
      const Token& op = Next();
      e = std::make_unique<BinaryExpr>(op.loc, "~", std::move(e), ParseMath2());
    }
    return e;
  }

  ExprPtr ParseMath2() {
    ChainGuard chain(this);
    ExprPtr e = ParsePow();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      chain.Link();
      const Token& op = Next();
      e = std::make_unique<BinaryExpr>(op.loc, op.text, std::move(e), ParsePow());
    }
    return e;
  }

  ExprPtr ParsePow() {
    ChainGuard chain(this);
    ExprPtr e = ParseUnary(true);
    while (IsOp("**")) {
      chain.Link();
      const Token& op = Next();
      e = std::make_unique<BinaryExpr>(op.loc, "**", std::move(e), ParseUnary(true));
    }
    return e;
  }

  ExprPtr ParseUnary(bool with_filter) {
    Nest nest(this);
    ExprPtr e;
    if (IsOp("-") || IsOp("+")) {
      const Token& op = Next();
      e = std::make_unique<UnaryExpr>(op.loc, op.text[0], ParseUnary(false));
    } else {
      e = ParsePrimary();
    }
    e = ParsePostfix(std::move(e));
    if (with_filter) e = ParseFilterTests(std::move(e));
    return e;
  }

  ExprPtr ParsePrimary() {
    const Token& t = Cur();
    switch (t.type) {
      case TokenType::kName: {
        Next();
        if (t.text == "true" || t.text == "True") return std::make_unique<LiteralExpr>(t.loc, Value::Bool(true));
        if (t.text == "false" || t.text == "False") return std::make_unique<LiteralExpr>(t.loc, Value::Bool(false));
        if (t.text == "none" || t.text == "None") return std::make_unique<LiteralExpr>(t.loc, Value::None());
        if (!macro_stack_.empty() && t.text == "varargs") macro_stack_.back()->uses_varargs = true;
        if (!macro_stack_.empty() && t.text == "kwargs") macro_stack_.back()->uses_kwargs = true;
        return std::make_unique<NameExpr>(t.loc, t.text);
      }
      case TokenType::kString: {
        std::string s = Next().text;
        while (Cur().type == TokenType::kString) s += Next().text;  // implicit concatenation
        return std::make_unique<LiteralExpr>(t.loc, Value::String(std::move(s)));
      }
      case TokenType::kInt: Next(); return std::make_unique<LiteralExpr>(t.loc, Value::Int(t.int_value));
      case TokenType::kFloat: Next(); return std::make_unique<LiteralExpr>(t.loc, Value::Float(t.float_value));
      case TokenType::kOp:
        if (t.text == "(") {
          Next();
          if (SkipOp(")")) return std::make_unique<SeqExpr>(ExprKind::kTuple, t.loc);
          ExprPtr e = ParseExpression(true);
          if (IsOp(",")) {
            auto tuple = std::make_unique<SeqExpr>(ExprKind::kTuple, t.loc);
            tuple->items.push_back(std::move(e));
            while (SkipOp(",")) {
              if (IsOp(")")) break;
              tuple->items.push_back(ParseExpression(true));
            }
            e = std::move(tuple);
          }
          ExpectOp(")");
          return e;
        }
        if (t.text == "[") {
          Next();
          auto list = std::make_unique<SeqExpr>(ExprKind::kList, t.loc);
          while (!IsOp("]")) {
            if (!list->items.empty()) ExpectOp(",");
            if (IsOp("]")) break;
            list->items.push_back(ParseExpression(true));
          }
          ExpectOp("]");
          return list;
        }
        if (t.text == "{") {
          Next();
          auto dict = std::make_unique<DictExpr>(t.loc);
          while (!IsOp("}")) {
            if (!dict->items.empty()) ExpectOp(",");
            if (IsOp("}")) break;
            ExprPtr k = ParseExpression(true);
            ExpectOp(":");
            dict->items.emplace_back(std::move(k), ParseExpression(true));
          }
          ExpectOp("}");
          return dict;
        }
        break;
      default: break;
    }
    Fail(t, "unexpected " + Describe(t));
  }

  ExprPtr ParsePostfix(ExprPtr e) {
    ChainGuard chain(this);
    while (true) {
      chain.Link();
      if (IsOp(".")) {
        const SourceLoc loc = Next().loc;
        if (Cur().type == TokenType::kName) {
          e = std::make_unique<GetAttrExpr>(loc, std::move(e), Next().text);
        } else if (Cur().type == TokenType::kInt) {
          const Token& i = Next();
          e = std::make_unique<GetItemExpr>(loc, std::move(e), std::make_unique<LiteralExpr>(i.loc, Value::Int(i.int_value)));
        } else {
          Fail(Cur(), "expected an attribute name, got " + Describe(Cur()));
        }
      } else if (IsOp("[")) {
        e = ParseSubscript(std::move(e));
      } else if (IsOp("(")) {
        e = ParseCall(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr ParseSubscript(ExprPtr obj) {
    Nest nest(this);
    const SourceLoc loc = Next().loc;  // '['
    ExprPtr parts[3];
    int colons = 0;
    if (!IsOp(":")) parts[0] = ParseExpression(true);
    if (IsOp(",")) {  // x[a, b] -> x[(a, b)]
      auto tuple = std::make_unique<SeqExpr>(ExprKind::kTuple, loc);
      tuple->items.push_back(std::move(parts[0]));
      while (SkipOp(",")) {
        if (IsOp("]")) break;
        tuple->items.push_back(ParseExpression(true));
      }
      ExpectOp("]");
      return std::make_unique<GetItemExpr>(loc, std::move(obj), std::move(tuple));
    }
    while (colons < 2 && SkipOp(":")) {
      ++colons;
      if (!IsOp(":") && !IsOp("]")) parts[colons] = ParseExpression(true);
    }
    ExpectOp("]");
    if (colons == 0) {
      if (!parts[0]) Fail(Cur(), "empty subscript");
      return std::make_unique<GetItemExpr>(loc, std::move(obj), std::move(parts[0]));
    }
    auto s = std::make_unique<SliceExpr>(loc);
    s->obj = std::move(obj);
    s->start = std::move(parts[0]);
    s->stop = std::move(parts[1]);
    s->step = std::move(parts[2]);
    return s;
  }

  void ParseArgs(ArgList* args) {
    ExpectOp("(");
    while (!IsOp(")")) {
      if (!args->positional.empty() || !args->keyword.empty()) ExpectOp(",");
      if (IsOp(")")) break;
      if (IsOp("*") || IsOp("**")) Fail(Cur(), "*args and **kwargs in calls are not supported");
      if (Cur().type == TokenType::kName && Peek().type == TokenType::kOp && Peek().text == "=") {
        std::string name = Next().text;
        Next();
        args->keyword.push_back(KeywordArg{std::move(name), ParseExpression(true)});
      } else {
        if (!args->keyword.empty()) Fail(Cur(), "positional argument follows keyword argument");
        args->positional.push_back(ParseExpression(true));
      }
    }
    ExpectOp(")");
  }

  ExprPtr ParseCall(ExprPtr callee) {
    Nest nest(this);
    auto c = std::make_unique<CallExpr>(Cur().loc, std::move(callee));
    ParseArgs(&c->args);
    return c;
  }

  // `| f(args) | g` applied to `value` (null for filter blocks and block sets).
  ExprPtr ParseFilterChain(ExprPtr value, bool leading_pipe = true) {
    ChainGuard chain(this);
    if (leading_pipe) ExpectOp("|");
    while (true) {
      chain.Link();
      const Token& name_tok = Cur();
      std::string name = ExpectName();
      while (IsOp(".") && Peek().type == TokenType::kName) {  // dotted filter names
        Next();
        name += "." + Next().text;
      }
      if (!IsKnownFilter(name)) Fail(name_tok, "no filter named '" + name + "'");
      auto f = std::make_unique<FilterExpr>(name_tok.loc, std::move(value), name);
      if (IsOp("(")) ParseArgs(&f->args);
      value = std::move(f);
      if (!SkipOp("|")) return value;
    }
  }

  ExprPtr ParseFilterTests(ExprPtr e) {
    ChainGuard chain(this);
    while (true) {
      chain.Link();
      if (IsOp("|")) {
        e = ParseFilterChain(std::move(e));
      } else if (IsName("is")) {
        Next();
        const bool negated = SkipName("not");
        const Token& name_tok = Cur();
        std::string name;
        if (Cur().type == TokenType::kName) {
          name = Next().text;
        } else if (Cur().type == TokenType::kOp && (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" ||
                                                    Cur().text == ">" || Cur().text == "<=" || Cur().text == ">=")) {
          name = Next().text;
        } else {
          Fail(Cur(), "expected a test name, got " + Describe(Cur()));
        }
        if (!IsKnownTest(name)) Fail(name_tok, "no test named '" + name + "'");
        auto t = std::make_unique<TestExpr>(name_tok.loc, std::move(e), name, negated);
        if (IsOp("(")) {
          ParseArgs(&t->args);
        } else if ((Cur().type == TokenType::kName || Cur().type == TokenType::kString || Cur().type == TokenType::kInt ||
                    Cur().type == TokenType::kFloat || IsOp("[") || IsOp("{")) &&
                   !IsName("else") && !IsName("or") && !IsName("and") && !IsName("if") && !IsName("is")) {
          t->args.positional.push_back(ParsePostfix(ParsePrimary()));
        }
        e = std::move(t);
      } else if (IsOp("(")) {
        e = ParseCall(std::move(e));
      } else {
        return e;
      }
    }
  }

  std::vector<Token> toks_;
  ParserLimits limits_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<MacroStmt*> macro_stack_;
};

}  // namespace

Body ParseTemplate(std::string_view source, const LexerOptions& lexer_options, const ParserLimits& limits) {
  return Parser(Tokenize(source, lexer_options), limits).ParseAll();
}

}  // namespace weft::jinja
