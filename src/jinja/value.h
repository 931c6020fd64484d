// Value: the dynamic value of the Jinja interpreter, with Python semantics (what
// Jinja2 templates expect): None, bool, int, float, str, list, tuple, dict (insertion
// ordered), Undefined, callables (macros, builtins, bound methods) and namespaces.
//
// Ownership: scalars are held inline; strings are shared immutable buffers (copying a
// Value never copies text); lists and dicts are shared mutable objects (reference
// semantics, as in Python: `x.append(1)` is seen through every reference).
// Thread-safety: a Value graph belongs to one render; never share it across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace weft::jinja {

class Interpreter;
class Value;
struct CallArgs;

// Containers free their elements iteratively (see ~ListData), so a list nested 100k
// levels deep does not overflow the stack when it is dropped.
struct ListData {
  ~ListData();
  std::vector<Value> items;
  bool is_tuple = false;      // prints as (a, b)
  bool is_generator = false;  // result of map/select/...: truthy, no len(), not JSON
};

struct DictData;

// Something a template can call: a macro, a builtin function, a bound method.
class Callable {
 public:
  virtual ~Callable() = default;
  virtual Value Call(Interpreter& interp, CallArgs& args) const = 0;
  virtual std::string Describe() const = 0;  // for str(): "<Macro 'foo'>"
};

class Value {
 public:
  enum class Type : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kCallable };

  Value() = default;  // Undefined without a hint
  static Value Undefined(std::string hint);
  static Value None() { Value v; v.type_ = Type::kNone; return v; }
  static Value Bool(bool b) { Value v; v.type_ = Type::kBool; v.i_ = b; return v; }
  static Value Int(int64_t i) { Value v; v.type_ = Type::kInt; v.i_ = i; return v; }
  static Value Float(double f) { Value v; v.type_ = Type::kFloat; v.f_ = f; return v; }
  static Value String(std::string s);
  static Value String(std::shared_ptr<const std::string> s);
  // A "safe" string (Jinja2 Markup, from `|safe` / `|escape`): adding a plain string to
  // it HTML-escapes that string, as markupsafe does even with autoescape off.
  static Value Markup(std::string s);
  static Value List(std::vector<Value> items = {});
  static Value Tuple(std::vector<Value> items);
  static Value Generator(std::vector<Value> items);
  static Value Dict();
  static Value Namespace();
  static Value Function(std::shared_ptr<const Callable> fn);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_float() const { return type_ == Type::kFloat; }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kFloat || type_ == Type::kBool; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_markup() const { return type_ == Type::kString && i_ != 0; }
  bool is_list() const { return type_ == Type::kList; }  // list, tuple or generator
  bool is_dict() const { return type_ == Type::kDict; }  // dict or namespace
  bool is_callable() const { return type_ == Type::kCallable; }
  bool is_namespace() const;
  bool is_tuple() const { return is_list() && list_->is_tuple; }
  bool is_generator() const { return is_list() && list_->is_generator; }

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }
  double as_float() const { return f_; }
  // Numeric value of a bool/int/float as a double.
  double to_double() const { return type_ == Type::kFloat ? f_ : static_cast<double>(i_); }
  const std::string& str() const { return *str_; }  // kString, or kUndefined's hint
  const std::shared_ptr<const std::string>& str_ptr() const { return str_; }
  ListData& list() const { return *list_; }
  DictData& dict() const { return *dict_; }
  const Callable& callable() const { return *fn_; }
  const void* identity() const;  // object identity for `is sameas`

  // Undefined hint: what Jinja2 would say when it is used, e.g. "'x' is undefined".
  std::string undefined_hint() const;

 private:
  Type type_ = Type::kUndefined;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> str_;
  std::shared_ptr<ListData> list_;
  std::shared_ptr<DictData> dict_;
  std::shared_ptr<const Callable> fn_;
};

// Insertion-ordered dict with Python key semantics (1 == 1.0 == True).
struct DictData {
  ~DictData();
  std::vector<std::pair<Value, Value>> entries;
  std::unordered_map<std::string, size_t> index;  // HashKey(key) -> position in entries
  bool is_namespace = false;

  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  void Set(const Value& key, Value value);
  void Set(std::string_view key, Value value) { Set(Value::String(std::string(key)), std::move(value)); }
  bool Erase(const Value& key);
  size_t size() const { return entries.size(); }
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at `pos` or named `name`, if given (and removes nothing).
  const Value* Get(size_t pos, std::string_view name) const;
  const Value* GetKeyword(std::string_view name) const;
};

// While alive, records every list and dict created on this thread; its destructor
// empties those still alive, which frees reference cycles a template can build
// (`l.append(l)`). One per render; nests.
class ContainerTracker {
 public:
  ContainerTracker();
  ~ContainerTracker();
  // Empties every tracked container still alive. Call it while the render's values are
  // still referenced: a container then frees flat, never as a deep recursive chain.
  void ReleaseAll();
  ContainerTracker(const ContainerTracker&) = delete;
  ContainerTracker& operator=(const ContainerTracker&) = delete;

  static void Track(const std::shared_ptr<ListData>& l);
  static void Track(const std::shared_ptr<DictData>& d);

 private:
  void Compact();
  ContainerTracker* prev_;
  std::vector<std::weak_ptr<ListData>> lists_;
  std::vector<std::weak_ptr<DictData>> dicts_;
  size_t compact_at_ = 4096;
};

// Python type name, as used in error messages: "str", "int", "dict", "NoneType", ...
std::string TypeName(const Value& v);
// The "'dict object'" wording Jinja2 uses for undefined attributes.
std::string ObjectDescription(const Value& v);

bool Truthy(const Value& v);
// Python equality (deep for containers; 1 == 1.0 == True).
bool Equals(const Value& a, const Value& b);
// Python ordering for <, >, ...: returns <0, 0, >0; throws TypeError when unorderable.
int Compare(const Value& a, const Value& b, std::string_view op);
// Key used for dict lookup; throws TypeError for unhashable values (list, dict).
std::string HashKey(const Value& v);

// Python str(v) (Undefined -> ""). Containers use repr of their elements.
std::string ToString(const Value& v);
// Python repr(v).
std::string Repr(const Value& v);
void AppendString(const Value& v, std::string* out);
void AppendRepr(const Value& v, std::string* out);
// Python float repr: shortest round-trip digits, "1.0", "1e-05", "1e+20", "inf", "nan".
std::string FloatRepr(double d);
// markupsafe.escape: & < > " ' as HTML entities.
std::string HtmlEscape(std::string_view s);

}  // namespace weft::jinja
