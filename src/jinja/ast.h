// AST of a parsed template. Built once by the parser, then read-only: rendering walks
// it from any number of threads at once. Nodes own their children (unique_ptr).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/error.h"
#include "jinja/value.h"

namespace weft::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  kLiteral, kName, kGetAttr, kGetItem, kSlice, kCall, kFilter, kTest,
  kUnary, kBinary, kCompare, kAnd, kOr, kNot, kCond, kList, kTuple, kDict,
};

struct Expr {
  explicit Expr(ExprKind k, SourceLoc l) : kind(k), loc(l) {}
  virtual ~Expr() = default;
  ExprKind kind;
  SourceLoc loc;
};

struct KeywordArg {
  std::string name;
  ExprPtr value;
};

struct ArgList {
  std::vector<ExprPtr> positional;
  std::vector<KeywordArg> keyword;
};

struct LiteralExpr : Expr {
  LiteralExpr(SourceLoc l, Value v) : Expr(ExprKind::kLiteral, l), value(std::move(v)) {}
  Value value;  // only immutable kinds (never a list or dict: those would be shared)
};
struct NameExpr : Expr {
  NameExpr(SourceLoc l, std::string n) : Expr(ExprKind::kName, l), name(std::move(n)) {}
  std::string name;
};
struct GetAttrExpr : Expr {  // obj.name
  GetAttrExpr(SourceLoc l, ExprPtr o, std::string n) : Expr(ExprKind::kGetAttr, l), obj(std::move(o)), name(std::move(n)) {}
  ExprPtr obj;
  std::string name;
};
struct GetItemExpr : Expr {  // obj[index]
  GetItemExpr(SourceLoc l, ExprPtr o, ExprPtr i) : Expr(ExprKind::kGetItem, l), obj(std::move(o)), index(std::move(i)) {}
  ExprPtr obj, index;
};
struct SliceExpr : Expr {  // obj[start:stop:step], each part optional
  SliceExpr(SourceLoc l) : Expr(ExprKind::kSlice, l) {}
  ExprPtr obj, start, stop, step;
};
struct CallExpr : Expr {
  CallExpr(SourceLoc l, ExprPtr c) : Expr(ExprKind::kCall, l), callee(std::move(c)) {}
  ExprPtr callee;
  ArgList args;
};
struct FilterExpr : Expr {  // value | name(args); value is null inside {% filter %}
  FilterExpr(SourceLoc l, ExprPtr v, std::string n) : Expr(ExprKind::kFilter, l), value(std::move(v)), name(std::move(n)) {}
  ExprPtr value;
  std::string name;
  ArgList args;
};
struct TestExpr : Expr {  // value is [not] name(args)
  TestExpr(SourceLoc l, ExprPtr v, std::string n, bool neg)
      : Expr(ExprKind::kTest, l), value(std::move(v)), name(std::move(n)), negated(neg) {}
  ExprPtr value;
  std::string name;
  bool negated;
  ArgList args;
};
struct UnaryExpr : Expr {  // '-' or '+'
  UnaryExpr(SourceLoc l, char o, ExprPtr x) : Expr(ExprKind::kUnary, l), op(o), operand(std::move(x)) {}
  char op;
  ExprPtr operand;
};
struct BinaryExpr : Expr {  // + - * / // % ** ~
  BinaryExpr(SourceLoc l, std::string o, ExprPtr a, ExprPtr b)
      : Expr(ExprKind::kBinary, l), op(std::move(o)), left(std::move(a)), right(std::move(b)) {}
  std::string op;
  ExprPtr left, right;
};
struct CompareExpr : Expr {  // first op1 x1 op2 x2 ... (Python chaining)
  CompareExpr(SourceLoc l, ExprPtr f) : Expr(ExprKind::kCompare, l), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<std::string, ExprPtr>> rest;  // ops: == != < <= > >= in notin
};
struct LogicExpr : Expr {  // kAnd / kOr
  LogicExpr(ExprKind k, SourceLoc l, ExprPtr a, ExprPtr b) : Expr(k, l), left(std::move(a)), right(std::move(b)) {}
  ExprPtr left, right;
};
struct NotExpr : Expr {
  NotExpr(SourceLoc l, ExprPtr x) : Expr(ExprKind::kNot, l), operand(std::move(x)) {}
  ExprPtr operand;
};
struct CondExpr : Expr {  // then_expr if cond else else_expr (else optional)
  CondExpr(SourceLoc l) : Expr(ExprKind::kCond, l) {}
  ExprPtr cond, then_expr, else_expr;
};
struct SeqExpr : Expr {  // kList / kTuple
  SeqExpr(ExprKind k, SourceLoc l) : Expr(k, l) {}
  std::vector<ExprPtr> items;
};
struct DictExpr : Expr {
  explicit DictExpr(SourceLoc l) : Expr(ExprKind::kDict, l) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

enum class StmtKind {
  kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kCallBlock, kFilterBlock,
  kBreak, kContinue, kWith, kDo,
};

struct Stmt {
  Stmt(StmtKind k, SourceLoc l) : kind(k), loc(l) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  SourceLoc loc;
};

struct TextStmt : Stmt {
  TextStmt(SourceLoc l, std::string t) : Stmt(StmtKind::kText, l), text(std::move(t)) {}
  std::string text;
};
struct OutputStmt : Stmt {
  OutputStmt(SourceLoc l, ExprPtr e) : Stmt(StmtKind::kOutput, l), expr(std::move(e)) {}
  ExprPtr expr;
};
struct IfStmt : Stmt {
  explicit IfStmt(SourceLoc l) : Stmt(StmtKind::kIf, l) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if / elif ...
  Body else_body;
};
// Assignment target: a name, `ns.attr`, or a tuple of names.
struct Target {
  std::vector<std::string> names;  // one name, or several for unpacking
  std::string attr;                // non-empty: names[0].attr = value
  bool is_tuple = false;
};
struct ForStmt : Stmt {
  explicit ForStmt(SourceLoc l) : Stmt(StmtKind::kFor, l) {}
  Target target;
  ExprPtr iter;
  ExprPtr filter;  // `for x in y if cond`
  Body body, else_body;
};
struct SetStmt : Stmt {
  explicit SetStmt(SourceLoc l) : Stmt(StmtKind::kSet, l) {}
  Target target;
  ExprPtr value;
};
struct SetBlockStmt : Stmt {  // {% set x | filters %}body{% endset %}
  explicit SetBlockStmt(SourceLoc l) : Stmt(StmtKind::kSetBlock, l) {}
  Target target;
  ExprPtr filter;  // FilterExpr chain with a null innermost value, or null
  Body body;
};
struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};
struct MacroStmt : Stmt {
  explicit MacroStmt(SourceLoc l) : Stmt(StmtKind::kMacro, l) {}
  std::string name;
  std::vector<MacroParam> params;
  Body body;
  bool uses_varargs = false;  // the body names `varargs` / `kwargs`: extra
  bool uses_kwargs = false;   // arguments are allowed (else a TypeError, as Jinja2)
};
struct CallBlockStmt : Stmt {  // {% call(params) macro(args) %}body{% endcall %}
  explicit CallBlockStmt(SourceLoc l) : Stmt(StmtKind::kCallBlock, l) {}
  std::vector<MacroParam> caller_params;
  ExprPtr call;  // a CallExpr
  Body body;
};
struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(SourceLoc l) : Stmt(StmtKind::kFilterBlock, l) {}
  ExprPtr filter;  // FilterExpr chain with a null innermost value
  Body body;
};
struct WithStmt : Stmt {
  explicit WithStmt(SourceLoc l) : Stmt(StmtKind::kWith, l) {}
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
};
struct DoStmt : Stmt {
  DoStmt(SourceLoc l, ExprPtr e) : Stmt(StmtKind::kDo, l), expr(std::move(e)) {}
  ExprPtr expr;
};
struct SimpleStmt : Stmt {  // break / continue
  SimpleStmt(StmtKind k, SourceLoc l) : Stmt(k, l) {}
};

}  // namespace weft::jinja
