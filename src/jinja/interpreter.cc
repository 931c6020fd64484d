#include "jinja/interpreter.h"

#include <cmath>
#include <limits>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/string_util.h"

namespace weft::jinja {
namespace {

class MacroCallable final : public Callable {
 public:
  MacroCallable(const MacroStmt* macro, std::weak_ptr<Interpreter::Scope> closure)
      : macro_(macro), closure_(std::move(closure)) {}
  Value Call(Interpreter& interp, CallArgs& args) const override {
    return interp.CallMacro(*macro_, closure_, args, nullptr);
  }
  std::string Describe() const override { return "<Macro '" + macro_->name + "'>"; }
  const MacroStmt* macro() const { return macro_; }
  const std::weak_ptr<Interpreter::Scope>& closure() const { return closure_; }

 private:
  const MacroStmt* macro_;
  std::weak_ptr<Interpreter::Scope> closure_;
};

class CallerCallable final : public Callable {
 public:
  CallerCallable(const CallBlockStmt* block, std::weak_ptr<Interpreter::Scope> closure)
      : block_(block), closure_(std::move(closure)) {}
  Value Call(Interpreter& interp, CallArgs& args) const override { return interp.CallCaller(*block_, closure_, args); }
  std::string Describe() const override { return "<Macro 'caller'>"; }

 private:
  const CallBlockStmt* block_;
  std::weak_ptr<Interpreter::Scope> closure_;
};

class CycleCallable final : public Callable {
 public:
  explicit CycleCallable(std::shared_ptr<int64_t> index0) : index0_(std::move(index0)) {}
  Value Call(Interpreter&, CallArgs& args) const override {
    if (args.positional.empty()) ThrowType("no items for cycling given");
    return args.positional[static_cast<size_t>(*index0_) % args.positional.size()];
  }
  std::string Describe() const override { return "<bound method LoopContext.cycle>"; }

 private:
  std::shared_ptr<int64_t> index0_;  // the loop's current index0
};

int64_t CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) ThrowValue("integer overflow in '*'");
  return r;
}

}  // namespace

// ---- Scope ----

const Value* Interpreter::Scope::Find(std::string_view name) const {
  for (const auto& [k, v] : vars) if (k == name) return &v;
  return nullptr;
}
void Interpreter::Scope::Set(std::string_view name, Value v) {
  for (auto& [k, x] : vars) {
    if (k == name) {
      x = std::move(v);
      return;
    }
  }
  vars.emplace_back(std::string(name), std::move(v));
}

// ---- services ----

std::tm Interpreter::Now() const {
  if (config_.fixed_now) return *config_.fixed_now;
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

void Interpreter::Step(int64_t n) {
  steps_ += n;
  if (steps_ > config_.limits.max_steps)
    ThrowLimit("template ran more than " + std::to_string(config_.limits.max_steps) + " steps (loop iterations/calls)");
}

void Interpreter::ChargeBytes(size_t n) {
  alloc_bytes_ += static_cast<int64_t>(n);
  if (alloc_bytes_ > config_.limits.max_alloc_bytes)
    ThrowLimit("template allocated more than " + std::to_string(config_.limits.max_alloc_bytes) + " bytes");
}

Value Interpreter::CallValue(const Value& fn, CallArgs& args) {
  if (fn.is_undefined()) ThrowUndefined(fn.undefined_hint());
  if (!fn.is_callable()) ThrowType("'" + TypeName(fn) + "' object is not callable");
  return fn.callable().Call(*this, args);
}

// ---- rendering ----

std::string Interpreter::Render(const Body& body, const Value& context) {
  context_ = context;
  root_ = std::make_shared<Scope>();
  std::string out;
  ExecBody(body, root_, &out);
  return out;
}

void Interpreter::Emit(std::string* out, std::string_view text) {
  if (static_cast<int64_t>(out->size() + text.size()) > config_.limits.max_output_bytes)
    ThrowLimit("output larger than " + std::to_string(config_.limits.max_output_bytes) + " bytes");
  ChargeBytes(text.size());
  out->append(text);
}

void Interpreter::EmitValue(std::string* out, const Value& v) {
  if (v.is_string()) {
    Emit(out, v.str());
  } else {
    if (v.is_list() || v.is_dict()) Step(v.is_list() ? static_cast<int64_t>(v.list().items.size()) : 1);
    std::string s = ToString(v);
    Emit(out, s);
  }
}

Interpreter::Flow Interpreter::ExecBody(const Body& body, const ScopePtr& scope, std::string* out) {
  for (const StmtPtr& s : body) {
    const Flow f = ExecStmt(*s, scope, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::ExecStmt(const Stmt& stmt, const ScopePtr& scope, std::string* out) {
  DepthGuard depth(this);
  switch (stmt.kind) {
    case StmtKind::kText: Emit(out, static_cast<const TextStmt&>(stmt).text); return Flow::kNormal;
    case StmtKind::kOutput: EmitValue(out, Eval(*static_cast<const OutputStmt&>(stmt).expr, scope)); return Flow::kNormal;
    case StmtKind::kIf: {
      const auto& s = static_cast<const IfStmt&>(stmt);
      for (const auto& [cond, body] : s.branches) {
        if (Truthy(Eval(*cond, scope))) return ExecBody(body, scope, out);
      }
      return ExecBody(s.else_body, scope, out);
    }
    case StmtKind::kFor: return ExecFor(static_cast<const ForStmt&>(stmt), scope, out);
    case StmtKind::kSet: {
      const auto& s = static_cast<const SetStmt&>(stmt);
      ExecSet(s.target, Eval(*s.value, scope), scope);
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock: {
      const auto& s = static_cast<const SetBlockStmt&>(stmt);
      std::string captured;
      ExecBody(s.body, scope, &captured);
      Value v = Value::String(std::move(captured));
      if (s.filter) v = EvalFilter(static_cast<const FilterExpr&>(*s.filter), v, scope);
      ExecSet(s.target, std::move(v), scope);
      return Flow::kNormal;
    }
    case StmtKind::kMacro: {
      const auto& s = static_cast<const MacroStmt&>(stmt);
      scope->Set(s.name, Value::Function(std::make_shared<MacroCallable>(&s, scope)));
      return Flow::kNormal;
    }
    case StmtKind::kCallBlock: {
      const auto& s = static_cast<const CallBlockStmt&>(stmt);
      const auto& call = static_cast<const CallExpr&>(*s.call);
      Value fn = Eval(*call.callee, scope);
      CallArgs args;
      EvalArgs(call.args, scope, &args);
      Value caller = Value::Function(std::make_shared<CallerCallable>(&s, scope));
      Value result;
      if (fn.is_callable()) {
        if (const auto* macro = dynamic_cast<const MacroCallable*>(&fn.callable())) {
          result = CallMacro(*macro->macro(), macro->closure(), args, &caller);
        } else {
          args.keyword.emplace_back("caller", caller);
          result = fn.callable().Call(*this, args);
        }
      } else {
        result = CallValue(fn, args);
      }
      EmitValue(out, result);
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock: {
      const auto& s = static_cast<const FilterBlockStmt&>(stmt);
      std::string captured;
      ExecBody(s.body, std::make_shared<Scope>(Scope{scope, {}}), &captured);
      EmitValue(out, EvalFilter(static_cast<const FilterExpr&>(*s.filter), Value::String(std::move(captured)), scope));
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      const auto& s = static_cast<const WithStmt&>(stmt);
      auto inner = std::make_shared<Scope>(Scope{scope, {}});
      for (const auto& [target, expr] : s.assignments) ExecSet(target, Eval(*expr, scope), inner);
      return ExecBody(s.body, inner, out);
    }
    case StmtKind::kDo: Eval(*static_cast<const DoStmt&>(stmt).expr, scope); return Flow::kNormal;
    case StmtKind::kBreak: return Flow::kBreak;
    case StmtKind::kContinue: return Flow::kContinue;
  }
  return Flow::kNormal;
}

void Interpreter::ExecSet(const Target& target, Value value, const ScopePtr& scope) {
  if (!target.attr.empty()) {
    Value ns = Lookup(target.names[0], scope);
    if (!ns.is_namespace()) ThrowType("cannot assign attribute on non-namespace object");
    ns.dict().Set(target.attr, std::move(value));
    return;
  }
  if (!target.is_tuple) {
    scope->Set(target.names[0], std::move(value));
    return;
  }
  std::vector<Value> items = Iterate(value);
  if (value.is_undefined()) ThrowUndefined(value.undefined_hint());
  if (items.size() != target.names.size()) {
    if (items.size() < target.names.size())
      ThrowValue("not enough values to unpack (expected " + std::to_string(target.names.size()) + ", got " +
                 std::to_string(items.size()) + ")");
    ThrowValue("too many values to unpack (expected " + std::to_string(target.names.size()) + ")");
  }
  for (size_t i = 0; i < items.size(); ++i) scope->Set(target.names[i], std::move(items[i]));
}

Interpreter::Flow Interpreter::ExecFor(const ForStmt& s, const ScopePtr& scope, std::string* out) {
  const Value seq = Eval(*s.iter, scope);
  if (seq.is_none() || seq.is_number() || seq.is_callable() || seq.is_namespace())
    ThrowType("'" + TypeName(seq) + "' object is not iterable");
  std::vector<Value> items = Iterate(seq);
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      Step();
      auto tmp = std::make_shared<Scope>(Scope{scope, {}});
      ExecSet(s.target, item, tmp);
      if (Truthy(Eval(*s.filter, tmp))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return ExecBody(s.else_body, scope, out);
  const int64_t n = static_cast<int64_t>(items.size());
  // One loop object per loop, updated in place each iteration (entries by position).
  Value loop = Value::Dict();
  {
    DictData& d = loop.dict();
    for (const char* key : {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0",
                            "previtem", "nextitem", "cycle"})
      d.Set(key, Value());
  }
  auto cycle_index = std::make_shared<int64_t>(0);
  loop.dict().entries[11].second = Value::Function(std::make_shared<CycleCallable>(cycle_index));
  for (int64_t i = 0; i < n; ++i) {
    Step();
    auto iter_scope = std::make_shared<Scope>(Scope{scope, {}});
    auto& e = loop.dict().entries;
    e[0].second = Value::Int(i + 1);
    e[1].second = Value::Int(i);
    e[2].second = Value::Int(n - i);
    e[3].second = Value::Int(n - i - 1);
    e[4].second = Value::Bool(i == 0);
    e[5].second = Value::Bool(i == n - 1);
    e[6].second = Value::Int(n);
    e[7].second = Value::Int(1);
    e[8].second = Value::Int(0);
    e[9].second = i > 0 ? items[static_cast<size_t>(i - 1)] : Value::Undefined("there is no previous item");
    e[10].second = i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::Undefined("there is no next item");
    *cycle_index = i;
    iter_scope->vars.emplace_back("loop", loop);
    ExecSet(s.target, items[static_cast<size_t>(i)], iter_scope);
    const Flow f = ExecBody(s.body, iter_scope, out);
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Value Interpreter::CallMacro(const MacroStmt& macro, const std::weak_ptr<Scope>& closure, CallArgs& args,
                             const Value* caller) {
  if (++call_depth_ > config_.limits.max_call_depth) {
    --call_depth_;
    ThrowLimit("macro calls nested deeper than " + std::to_string(config_.limits.max_call_depth));
  }
  struct DepthGuard {
    int* d;
    ~DepthGuard() { --*d; }
  } guard{&call_depth_};
  Step();
  ScopePtr parent = closure.lock();
  if (!parent) parent = root_;
  auto scope = std::make_shared<Scope>(Scope{parent, {}});
  if (args.positional.size() > macro.params.size() && !macro.uses_varargs)
    ThrowType("macro '" + macro.name + "' takes not more than " + std::to_string(macro.params.size()) +
              " argument(s)");
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < macro.params.size()) scope->Set(macro.params[i].name, args.positional[i]);
    else varargs.push_back(args.positional[i]);
  }
  Value kwargs = Value::Dict();
  for (auto& [name, v] : args.keyword) {
    bool is_param = false;
    for (size_t i = 0; i < macro.params.size(); ++i) {
      if (macro.params[i].name == name) {
        if (i < args.positional.size())
          ThrowType("macro '" + macro.name + "' got multiple values for argument '" + name + "'");
        is_param = true;
        break;
      }
    }
    if (is_param) scope->Set(name, v);
    else if (name == "caller" && !caller) scope->Set("caller", v);
    else if (macro.uses_kwargs) kwargs.dict().Set(name, v);
    else ThrowType("macro '" + macro.name + "' takes no keyword argument '" + name + "'");
  }
  for (const MacroParam& p : macro.params) {
    if (scope->Find(p.name)) continue;
    scope->Set(p.name, p.default_value ? Eval(*p.default_value, scope)
                                       : Value::Undefined("parameter '" + p.name + "' was not provided"));
  }
  scope->Set("varargs", Value::Tuple(std::move(varargs)));
  scope->Set("kwargs", std::move(kwargs));
  if (caller) scope->Set("caller", *caller);
  std::string out;
  ExecBody(macro.body, scope, &out);
  return Value::String(std::move(out));
}

Value Interpreter::CallCaller(const CallBlockStmt& block, const std::weak_ptr<Scope>& closure, CallArgs& args) {
  if (++call_depth_ > config_.limits.max_call_depth) {
    --call_depth_;
    ThrowLimit("macro calls nested deeper than " + std::to_string(config_.limits.max_call_depth));
  }
  struct DepthGuard {
    int* d;
    ~DepthGuard() { --*d; }
  } guard{&call_depth_};
  Step();
  ScopePtr parent = closure.lock();
  if (!parent) parent = root_;
  auto scope = std::make_shared<Scope>(Scope{parent, {}});
  for (size_t i = 0; i < block.caller_params.size(); ++i) {
    const MacroParam& p = block.caller_params[i];
    const Value* v = args.Get(i, p.name);
    if (v) scope->Set(p.name, *v);
    else scope->Set(p.name, p.default_value ? Eval(*p.default_value, scope) : Value::Undefined("parameter '" + p.name + "' was not provided"));
  }
  std::string out;
  ExecBody(block.body, scope, &out);
  return Value::String(std::move(out));
}

// ---- expressions ----

Value Interpreter::Eval(const Expr& e, const ScopePtr& scope) {
  DepthGuard depth(this);
  try {
    return EvalInner(e, scope);
  } catch (TemplateError& err) {
    if (err.loc().line == 0) err.set_loc(e.loc);
    throw;
  }
}

Value Interpreter::Lookup(const std::string& name, const ScopePtr& scope) {
  for (const Scope* s = scope.get(); s; s = s->parent.get()) {
    if (const Value* v = s->Find(name)) return *v;
  }
  if (context_.is_dict()) {
    if (const Value* v = context_.dict().Find(std::string_view(name))) return *v;
  }
  Value g = GlobalFunction(name);
  if (!g.is_undefined()) return g;
  return Value::Undefined("'" + name + "' is undefined");
}

void Interpreter::EvalArgs(const ArgList& list, const ScopePtr& scope, CallArgs* args) {
  for (const ExprPtr& p : list.positional) args->positional.push_back(Eval(*p, scope));
  for (const KeywordArg& k : list.keyword) args->keyword.emplace_back(k.name, Eval(*k.value, scope));
}

Value Interpreter::EvalFilter(const FilterExpr& e, const Value& input, const ScopePtr& scope) {
  Value v = e.value ? (e.value->kind == ExprKind::kFilter
                           ? EvalFilter(static_cast<const FilterExpr&>(*e.value), input, scope)
                           : Eval(*e.value, scope))
                    : input;
  CallArgs args;
  EvalArgs(e.args, scope, &args);
  try {
    return ApplyFilter(*this, e.name, v, args);
  } catch (TemplateError& err) {
    if (err.loc().line == 0) err.set_loc(e.loc);
    throw;
  }
}

Value Interpreter::EvalCall(const CallExpr& e, const ScopePtr& scope) {
  if (e.callee->kind == ExprKind::kGetAttr) {
    const auto& ga = static_cast<const GetAttrExpr&>(*e.callee);
    Value obj = Eval(*ga.obj, scope);
    if ((obj.is_string() || obj.is_list() || (obj.is_dict() && !obj.is_namespace())) && HasMethod(obj, ga.name)) {
      CallArgs args;
      EvalArgs(e.args, scope, &args);
      return CallMethod(*this, obj, ga.name, args);
    }
    Value fn = GetAttr(obj, ga.name);
    CallArgs args;
    EvalArgs(e.args, scope, &args);
    return CallValue(fn, args);
  }
  Value fn = Eval(*e.callee, scope);
  CallArgs args;
  EvalArgs(e.args, scope, &args);
  return CallValue(fn, args);
}

Value Interpreter::EvalInner(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::kLiteral: return static_cast<const LiteralExpr&>(e).value;
    case ExprKind::kName: return Lookup(static_cast<const NameExpr&>(e).name, scope);
    case ExprKind::kGetAttr: {
      const auto& g = static_cast<const GetAttrExpr&>(e);
      return GetAttr(Eval(*g.obj, scope), g.name);
    }
    case ExprKind::kGetItem: {
      const auto& g = static_cast<const GetItemExpr&>(e);
      Value obj = Eval(*g.obj, scope);
      return GetItem(obj, Eval(*g.index, scope));
    }
    case ExprKind::kSlice: {
      const auto& s = static_cast<const SliceExpr&>(e);
      Value obj = Eval(*s.obj, scope);
      Value a = s.start ? Eval(*s.start, scope) : Value::None();
      Value b = s.stop ? Eval(*s.stop, scope) : Value::None();
      Value c = s.step ? Eval(*s.step, scope) : Value::None();
      return Slice(*this, obj, a, b, c);
    }
    case ExprKind::kCall: return EvalCall(static_cast<const CallExpr&>(e), scope);
    case ExprKind::kFilter: {
      const auto& f = static_cast<const FilterExpr&>(e);
      return EvalFilter(f, Value(), scope);
    }
    case ExprKind::kTest: {
      const auto& t = static_cast<const TestExpr&>(e);
      Value v = Eval(*t.value, scope);
      CallArgs args;
      EvalArgs(t.args, scope, &args);
      const bool r = ApplyTest(*this, t.name, v, args);
      return Value::Bool(r != t.negated);
    }
    case ExprKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      Value v = Eval(*u.operand, scope);
      if (v.is_undefined()) ThrowUndefined(v.undefined_hint());
      if (!v.is_number()) ThrowType(std::string("bad operand type for unary ") + u.op + ": '" + TypeName(v) + "'");
      if (u.op == '+') return v.is_bool() ? Value::Int(v.as_int()) : v;
      if (v.is_float()) return Value::Float(-v.as_float());
      if (v.as_int() == std::numeric_limits<int64_t>::min()) ThrowValue("integer overflow in unary '-'");
      return Value::Int(-v.as_int());
    }
    case ExprKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = Eval(*b.left, scope);
      Value r = Eval(*b.right, scope);
      return BinaryOp(b.op, l, r);
    }
    case ExprKind::kCompare: {
      const auto& c = static_cast<const CompareExpr&>(e);
      Value left = Eval(*c.first, scope);
      for (const auto& [op, expr] : c.rest) {
        Value right = Eval(*expr, scope);
        if (!CompareOp(op, left, right)) return Value::Bool(false);
        left = std::move(right);
      }
      return Value::Bool(true);
    }
    case ExprKind::kAnd: {
      const auto& l = static_cast<const LogicExpr&>(e);
      Value a = Eval(*l.left, scope);
      if (!Truthy(a)) return a;
      return Eval(*l.right, scope);
    }
    case ExprKind::kOr: {
      const auto& l = static_cast<const LogicExpr&>(e);
      Value a = Eval(*l.left, scope);
      if (Truthy(a)) return a;
      return Eval(*l.right, scope);
    }
    case ExprKind::kNot: return Value::Bool(!Truthy(Eval(*static_cast<const NotExpr&>(e).operand, scope)));
    case ExprKind::kCond: {
      const auto& c = static_cast<const CondExpr&>(e);
      if (Truthy(Eval(*c.cond, scope))) return Eval(*c.then_expr, scope);
      if (c.else_expr) return Eval(*c.else_expr, scope);
      return Value::Undefined("the inline if-expression evaluated to false and no else section was defined");
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      const auto& s = static_cast<const SeqExpr&>(e);
      std::vector<Value> items;
      items.reserve(s.items.size());
      for (const ExprPtr& x : s.items) items.push_back(Eval(*x, scope));
      ChargeBytes(items.size() * sizeof(Value));
      return e.kind == ExprKind::kList ? Value::List(std::move(items)) : Value::Tuple(std::move(items));
    }
    case ExprKind::kDict: {
      const auto& d = static_cast<const DictExpr&>(e);
      Value out = Value::Dict();
      for (const auto& [k, v] : d.items) {
        Value key = Eval(*k, scope);
        out.dict().Set(key, Eval(*v, scope));
      }
      ChargeBytes(d.items.size() * 2 * sizeof(Value));
      return out;
    }
  }
  return Value();
}

Value Interpreter::BinaryOp(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = ToString(a);
    s += ToString(b);
    ChargeBytes(s.size());
    if (static_cast<int64_t>(s.size()) > config_.limits.max_output_bytes) ThrowLimit("string too long");
    return Value::String(std::move(s));
  }
  if (a.is_undefined()) ThrowUndefined(a.undefined_hint());
  if (b.is_undefined()) ThrowUndefined(b.undefined_hint());
  const char c = op[0];
  if (a.is_number() && b.is_number()) {
    const bool fl = a.is_float() || b.is_float();
    if (op == "+" || op == "-" || op == "*") {
      if (fl) {
        const double x = a.to_double(), y = b.to_double();
        return Value::Float(c == '+' ? x + y : (c == '-' ? x - y : x * y));
      }
      int64_t r;
      const bool of = c == '+'   ? __builtin_add_overflow(a.as_int(), b.as_int(), &r)
                      : c == '-' ? __builtin_sub_overflow(a.as_int(), b.as_int(), &r)
                                 : __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
      if (of) ThrowValue("integer overflow in '" + op + "'");
      return Value::Int(r);
    }
    if (op == "/") {
      if (b.to_double() == 0) throw TemplateError(ErrorKind::kType, "ZeroDivisionError: division by zero");
      return Value::Float(a.to_double() / b.to_double());
    }
    if (op == "//" || op == "%") {
      if (fl) {
        const double x = a.to_double(), y = b.to_double();
        if (y == 0) throw TemplateError(ErrorKind::kType, "ZeroDivisionError: float divmod()");
        const double m = std::fmod(x, y);
        const double mod = (m != 0 && ((m < 0) != (y < 0))) ? m + y : m;
        if (op == "%") return Value::Float(mod);
        const double div = (x - mod) / y;
        double fl_div = std::floor(div);
        if (div - fl_div > 0.5) fl_div += 1.0;
        return Value::Float(fl_div);
      }
      const int64_t x = a.as_int(), y = b.as_int();
      if (y == 0) throw TemplateError(ErrorKind::kType, "ZeroDivisionError: integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) ThrowValue("integer overflow in '" + op + "'");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        m += y;
        --q;
      }
      return Value::Int(op == "%" ? m : q);
    }
    if (op == "**") {
      if (!fl && b.as_int() >= 0) {
        int64_t base = a.as_int(), e = b.as_int(), r = 1;
        while (e > 0) {
          if (e & 1) r = CheckedMul(r, base);
          e >>= 1;
          if (e > 0) base = CheckedMul(base, base);
        }
        return Value::Int(r);
      }
      return Value::Float(std::pow(a.to_double(), b.to_double()));
    }
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      if (static_cast<int64_t>(a.str().size() + b.str().size()) > config_.limits.max_output_bytes)
        ThrowLimit("string too long");
      if (a.is_markup() != b.is_markup()) {  // Markup + str escapes the str
        std::string s = a.is_markup() ? a.str() + HtmlEscape(b.str()) : HtmlEscape(a.str()) + b.str();
        ChargeBytes(s.size());
        return Value::Markup(std::move(s));
      }
      std::string s = a.str();
      s += b.str();
      ChargeBytes(s.size());
      return a.is_markup() ? Value::Markup(std::move(s)) : Value::String(std::move(s));
    }
    if (a.is_list() && b.is_list() && !a.is_generator() && !b.is_generator() && a.is_tuple() == b.is_tuple()) {
      std::vector<Value> items = a.list().items;
      items.insert(items.end(), b.list().items.begin(), b.list().items.end());
      if (static_cast<int64_t>(items.size()) > config_.limits.max_range) ThrowLimit("list too long");
      ChargeBytes(items.size() * sizeof(Value));
      return a.is_tuple() ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
    }
    if (a.is_string() || (a.is_list() && !a.is_generator()))
      ThrowType("can only concatenate " + TypeName(a) + " (not \"" + TypeName(b) + "\") to " + TypeName(a));
  }
  if (op == "*") {
    const Value* seq = (a.is_string() || a.is_list()) ? &a : ((b.is_string() || b.is_list()) ? &b : nullptr);
    const Value* count = seq == &a ? &b : &a;
    if (seq && (count->is_int() || count->is_bool()) && !seq->is_generator()) {
      const int64_t n = std::max<int64_t>(0, count->as_int());
      if (seq->is_string()) {
        const int64_t total = static_cast<int64_t>(seq->str().size()) * std::min<int64_t>(n, 1ll << 40);
        if (total > config_.limits.max_output_bytes) ThrowLimit("string repetition too long");
        if (total == 0) return Value::String("");
        std::string s;
        s.reserve(static_cast<size_t>(total));
        for (int64_t i = 0; i < n; ++i) s += seq->str();
        ChargeBytes(s.size());
        return Value::String(std::move(s));
      }
      const int64_t total = static_cast<int64_t>(seq->list().items.size()) * std::min<int64_t>(n, 1ll << 40);
      if (total > config_.limits.max_range) ThrowLimit("list repetition too long");
      std::vector<Value> items;
      if (total == 0) return seq->is_tuple() ? Value::Tuple({}) : Value::List({});
      for (int64_t i = 0; i < n; ++i) items.insert(items.end(), seq->list().items.begin(), seq->list().items.end());
      ChargeBytes(items.size() * sizeof(Value));
      return seq->is_tuple() ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
    }
    if (seq) ThrowType("can't multiply sequence by non-int of type '" + TypeName(*count) + "'");
  }
  if (op == "%" && a.is_string()) {
    std::string out = PercentFormat(a.str(), b.is_tuple() ? b.list().items : std::vector<Value>{b});
    ChargeBytes(out.size());
    return Value::String(std::move(out));
  }
  ThrowType("unsupported operand type(s) for " + op + ": '" + TypeName(a) + "' and '" + TypeName(b) + "'");
}

bool Interpreter::CompareOp(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return Equals(a, b);
  if (op == "!=") return !Equals(a, b);
  if (op == "in") return Contains(b, a);
  if (op == "notin") return !Contains(b, a);
  const int c = Compare(a, b, op);
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;
}

}  // namespace weft::jinja
