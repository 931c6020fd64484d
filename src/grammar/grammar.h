// Grammar: the one representation every constraint (JSON schema, regex, GBNF grammar,
// choice list) is compiled to: a context-free grammar over bytes.
//
// Front ends build an Expr tree (byte sets, rule references, sequences, alternatives,
// bounded or unbounded repetition) per named rule with GrammarBuilder; Build() lowers it
// to Grammar: flat rules whose alternatives are sequences of byte-set or rule-reference
// elements, each alternative ending in an kEnd element. Repetition becomes right-recursive
// helper rules (x* -> R ::= x R | ""), so no rule of a built grammar is left-recursive
// unless a GBNF author wrote one, and Build() refuses left recursion (the matcher would
// not terminate on it).
//
// Value types; a built Grammar is immutable and may be shared between threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "weft/status.h"

namespace weft::grammar {

// A set of bytes (256 bits).
struct ByteSet {
  std::array<uint64_t, 4> w{};
  static ByteSet Of(uint8_t b) { ByteSet s; s.Add(b); return s; }
  static ByteSet Range(uint8_t lo, uint8_t hi) { ByteSet s; s.AddRange(lo, hi); return s; }
  void Add(uint8_t b) { w[b >> 6] |= uint64_t{1} << (b & 63); }
  void AddRange(uint8_t lo, uint8_t hi) { for (int b = lo; b <= hi; ++b) Add(static_cast<uint8_t>(b)); }
  void AddAll(const ByteSet& o) { for (int i = 0; i < 4; ++i) w[i] |= o.w[i]; }
  bool Has(uint8_t b) const { return (w[b >> 6] >> (b & 63)) & 1; }
  bool Empty() const { return (w[0] | w[1] | w[2] | w[3]) == 0; }
  bool Intersects(const ByteSet& o) const {
    return ((w[0] & o.w[0]) | (w[1] & o.w[1]) | (w[2] & o.w[2]) | (w[3] & o.w[3])) != 0;
  }
  ByteSet Complement() const { ByteSet s; for (int i = 0; i < 4; ++i) s.w[i] = ~w[i]; return s; }
  bool operator==(const ByteSet&) const = default;
};

// An expression over bytes and rules. kRepeat: `kids[0]` repeated [min, max] times
// (max < 0: unbounded).
struct Expr {
  enum Kind : uint8_t { kBytes, kRule, kSeq, kAlt, kRepeat };
  Kind kind = kSeq;
  ByteSet bytes;
  uint32_t rule = 0;
  int min = 0, max = -1;
  std::vector<Expr> kids;

  static Expr Bytes(ByteSet s) { Expr e; e.kind = kBytes; e.bytes = s; return e; }
  static Expr Byte(uint8_t b) { return Bytes(ByteSet::Of(b)); }
  static Expr Rule(uint32_t id) { Expr e; e.kind = kRule; e.rule = id; return e; }
  static Expr Seq(std::vector<Expr> k) { Expr e; e.kind = kSeq; e.kids = std::move(k); return e; }
  static Expr Alt(std::vector<Expr> k) { Expr e; e.kind = kAlt; e.kids = std::move(k); return e; }
  static Expr Empty() { return Seq({}); }
  static Expr Nothing() { return Alt({}); }  // the empty language
  static Expr Literal(std::string_view bytes);
  static Expr Repeat(Expr x, int min, int max) {
    Expr e; e.kind = kRepeat; e.min = min; e.max = max; e.kids.push_back(std::move(x)); return e;
  }
  static Expr Star(Expr x) { return Repeat(std::move(x), 0, -1); }
  static Expr Plus(Expr x) { return Repeat(std::move(x), 1, -1); }
  static Expr Opt(Expr x) { return Repeat(std::move(x), 0, 1); }
};

// One element of a built rule alternative.
struct Element {
  enum Kind : uint8_t { kBytes, kRule, kEnd };
  Kind kind = kEnd;
  uint32_t index = 0;  // kBytes: into Grammar::sets; kRule: rule id
};

struct Grammar {
  std::vector<ByteSet> sets;
  // All alternatives of all rules, flat: an alternative is a run of elements ending in kEnd.
  std::vector<Element> elements;
  // rule id -> start offsets (into elements) of its alternatives.
  std::vector<std::vector<uint32_t>> rule_alts;
  std::vector<std::string> rule_names;
  uint32_t root = 0;

  size_t num_rules() const { return rule_alts.size(); }
};

// Collects rules as Exprs and lowers them. Rule ids are dense from 0.
class GrammarBuilder {
 public:
  // A new rule, defined later with Define (or at once). Names need not be unique (they
  // are for messages); Find looks one up by name.
  uint32_t Declare(std::string name);
  void Define(uint32_t rule, Expr body);
  uint32_t Add(std::string name, Expr body) { uint32_t r = Declare(std::move(name)); Define(r, std::move(body)); return r; }
  bool IsDefined(uint32_t rule) const { return defined_[rule]; }
  const std::string& Name(uint32_t rule) const { return names_[rule]; }
  int64_t Find(std::string_view name) const;
  size_t size() const { return bodies_.size(); }

  // Lowers every rule; InvalidArgument for an undefined rule, left recursion, or a
  // grammar larger than `max_elements` after expanding bounded repetitions.
  StatusOr<Grammar> Build(uint32_t root, size_t max_elements = 4'000'000) const;

 private:
  std::vector<std::string> names_;
  std::vector<Expr> bodies_;
  std::vector<bool> defined_;
};

// Bytes that can start a non-empty string of `rule`'s language, and whether it derives
// the empty string. Used to prove oneOf branches disjoint.
struct FirstSet {
  ByteSet first;
  bool nullable = false;
};
std::vector<FirstSet> ComputeFirstSets(const Grammar& g);

}  // namespace weft::grammar
