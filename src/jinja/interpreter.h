// Interpreter: renders a parsed template (ast.h) against a context of Values.
// One Interpreter per render: it owns the scopes, the output buffer and the budget
// counters that keep hostile templates from hanging or exhausting memory. It is not
// thread-safe; concurrent renders each make their own Interpreter over the same
// read-only AST.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jinja/ast.h"
#include "jinja/error.h"
#include "jinja/value.h"
#include "jinja/value_ops.h"

namespace weft::jinja {

// Safety limits; exceeding one fails the render with a "limit exceeded" error.
struct RenderLimits {
  int64_t max_output_bytes = 8 << 20;     // any single output or captured buffer
  int64_t max_steps = 500'000;            // loop iterations + macro calls + items processed by filters
  int max_call_depth = 64;                // nested macro/caller calls
  int max_eval_depth = 1500;              // nested statements + expressions being evaluated (stack)
  int64_t max_range = 1'000'000;          // range() length, repetition count, list size
  int64_t max_alloc_bytes = 256ll << 20;  // cumulative bytes of strings/lists created
};

struct RenderConfig {
  RenderLimits limits;
  std::optional<std::tm> fixed_now;  // strftime_now's clock; nullopt: local time
};

class Interpreter {
 public:
  explicit Interpreter(const RenderConfig& config) : config_(config) {}

  // Renders `body` with `context` (a dict Value) as the global variables.
  std::string Render(const Body& body, const Value& context);

  // ---- services for builtins ----
  const RenderLimits& limits() const { return config_.limits; }
  std::tm Now() const;
  void Step(int64_t n = 1);            // counts work; throws past max_steps
  void ChargeBytes(size_t n);          // counts allocation; throws past max_alloc_bytes
  Value CallValue(const Value& fn, CallArgs& args);

  // Scopes are reference-counted because macros and caller blocks keep (weakly) the
  // scope they were defined in.
  struct Scope {
    std::shared_ptr<Scope> parent;
    std::vector<std::pair<std::string, Value>> vars;
    const Value* Find(std::string_view name) const;
    void Set(std::string_view name, Value v);
  };
  using ScopePtr = std::shared_ptr<Scope>;

  // Used by MacroCallable / CallerCallable.
  Value CallMacro(const MacroStmt& macro, const std::weak_ptr<Scope>& closure, CallArgs& args, const Value* caller);
  Value CallCaller(const CallBlockStmt& block, const std::weak_ptr<Scope>& closure, CallArgs& args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // Bounds the native stack: macros multiply the AST's (parse-bounded) depth.
  struct DepthGuard {
    explicit DepthGuard(Interpreter* in) : interp(in) {
      if (++interp->eval_depth_ > interp->config_.limits.max_eval_depth) {
        --interp->eval_depth_;
        ThrowLimit("evaluation nested deeper than " + std::to_string(interp->config_.limits.max_eval_depth));
      }
    }
    ~DepthGuard() { --interp->eval_depth_; }
    Interpreter* interp;
  };

  Flow ExecBody(const Body& body, const ScopePtr& scope, std::string* out);
  Flow ExecStmt(const Stmt& stmt, const ScopePtr& scope, std::string* out);
  Flow ExecFor(const ForStmt& s, const ScopePtr& scope, std::string* out);
  void ExecSet(const Target& target, Value value, const ScopePtr& scope);
  void Emit(std::string* out, std::string_view text);
  void EmitValue(std::string* out, const Value& v);

  Value Eval(const Expr& e, const ScopePtr& scope);
  Value EvalInner(const Expr& e, const ScopePtr& scope);
  Value Lookup(const std::string& name, const ScopePtr& scope);
  Value EvalCall(const CallExpr& e, const ScopePtr& scope);
  Value EvalFilter(const FilterExpr& e, const Value& input, const ScopePtr& scope);
  void EvalArgs(const ArgList& list, const ScopePtr& scope, CallArgs* args);
  Value BinaryOp(const std::string& op, const Value& a, const Value& b);
  bool CompareOp(const std::string& op, const Value& a, const Value& b);

  const RenderConfig& config_;
  Value context_;
  ScopePtr root_;
  int64_t steps_ = 0;
  int64_t alloc_bytes_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
};

}  // namespace weft::jinja
