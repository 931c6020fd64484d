#include "grammar/grammar.h"

#include <functional>
#include <map>

#include <fmt/format.h>

namespace weft::grammar {

Expr Expr::Literal(std::string_view bytes) {
  std::vector<Expr> k;
  k.reserve(bytes.size());
  for (char c : bytes) k.push_back(Byte(static_cast<uint8_t>(c)));
  return Seq(std::move(k));
}

uint32_t GrammarBuilder::Declare(std::string name) {
  names_.push_back(std::move(name));
  bodies_.emplace_back();
  defined_.push_back(false);
  return static_cast<uint32_t>(bodies_.size() - 1);
}

void GrammarBuilder::Define(uint32_t rule, Expr body) {
  bodies_[rule] = std::move(body);
  defined_[rule] = true;
}

int64_t GrammarBuilder::Find(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<int64_t>(i);
  }
  return -1;
}

namespace {

// Lowers Exprs into a Grammar, adding helper rules for nested alternatives and repetitions.
class Lowering {
 public:
  Lowering(Grammar* g, size_t max_elements) : g_(g), max_elements_(max_elements) {}

  // Appends `e`'s alternatives to rule `rule`.
  Status LowerRule(uint32_t rule, const Expr& e) {
    if (e.kind == Expr::kAlt) {
      for (const Expr& k : e.kids) WEFT_RETURN_IF_ERROR(AddAlt(rule, k));
      return Status::Ok();
    }
    return AddAlt(rule, e);
  }

 private:
  Status AddAlt(uint32_t rule, const Expr& e) {
    std::vector<Element> seq;
    WEFT_RETURN_IF_ERROR(LowerSeq(e, &seq));
    if (g_->elements.size() + seq.size() + 1 > max_elements_) {
      return InvalidArgumentError(fmt::format("grammar too large (over {} elements after expanding repetitions)",
                                              max_elements_));
    }
    g_->rule_alts[rule].push_back(static_cast<uint32_t>(g_->elements.size()));
    g_->elements.insert(g_->elements.end(), seq.begin(), seq.end());
    g_->elements.push_back(Element{Element::kEnd, 0});
    return Status::Ok();
  }

  uint32_t NewRule(std::string name) {
    g_->rule_alts.emplace_back();
    g_->rule_names.push_back(std::move(name));
    return static_cast<uint32_t>(g_->rule_alts.size() - 1);
  }

  uint32_t SetIndex(const ByteSet& s) {
    auto [it, inserted] = set_index_.try_emplace(s.w, static_cast<uint32_t>(g_->sets.size()));
    if (inserted) g_->sets.push_back(s);
    return it->second;
  }

  // A rule standing for `e` (e itself when it is a rule reference).
  StatusOr<uint32_t> AsRule(const Expr& e) {
    if (e.kind == Expr::kRule) return e.rule;
    const uint32_t r = NewRule("_h" + std::to_string(g_->rule_alts.size()));
    WEFT_RETURN_IF_ERROR(LowerRule(r, e));
    return r;
  }

  Status LowerSeq(const Expr& e, std::vector<Element>* out) {
    if (out->size() > max_elements_) return InvalidArgumentError("grammar too large");
    switch (e.kind) {
      case Expr::kBytes:
        out->push_back(Element{Element::kBytes, SetIndex(e.bytes)});
        return Status::Ok();
      case Expr::kRule:
        out->push_back(Element{Element::kRule, e.rule});
        return Status::Ok();
      case Expr::kSeq:
        for (const Expr& k : e.kids) WEFT_RETURN_IF_ERROR(LowerSeq(k, out));
        return Status::Ok();
      case Expr::kAlt: {
        if (e.kids.size() == 1) return LowerSeq(e.kids[0], out);
        WEFT_ASSIGN_OR_RETURN(uint32_t r, AsRule(e));
        out->push_back(Element{Element::kRule, r});
        return Status::Ok();
      }
      case Expr::kRepeat: {
        const Expr& x = e.kids[0];
        if (e.max >= 0 && e.max < e.min) return InvalidArgumentError(fmt::format("repetition {{{},{}}}: max < min", e.min, e.max));
        if (e.max == 0) return Status::Ok();
        // Simple items (a byte set, a rule) are repeated inline; others through one helper rule.
        Element item;
        if (x.kind == Expr::kBytes) {
          item = Element{Element::kBytes, SetIndex(x.bytes)};
        } else {
          WEFT_ASSIGN_OR_RETURN(uint32_t r, AsRule(x));
          item = Element{Element::kRule, r};
        }
        if (static_cast<size_t>(e.min) > max_elements_) return InvalidArgumentError("grammar too large");
        for (int i = 0; i < e.min; ++i) out->push_back(item);
        if (e.max < 0) {  // S ::= item S | ""
          const uint32_t s = NewRule("_star" + std::to_string(g_->rule_alts.size()));
          g_->rule_alts[s].push_back(static_cast<uint32_t>(g_->elements.size()));
          g_->elements.insert(g_->elements.end(), {item, Element{Element::kRule, s}, Element{Element::kEnd, 0}});
          g_->rule_alts[s].push_back(static_cast<uint32_t>(g_->elements.size()));
          g_->elements.push_back(Element{Element::kEnd, 0});
          out->push_back(Element{Element::kRule, s});
        } else if (e.max > e.min) {  // O_k ::= item O_{k-1} | ""
          if (static_cast<size_t>(e.max - e.min) * 3 + g_->elements.size() > max_elements_) {
            return InvalidArgumentError(fmt::format("grammar too large (repetition up to {})", e.max));
          }
          int64_t prev = -1;
          for (int k = 1; k <= e.max - e.min; ++k) {
            const uint32_t o = NewRule("_opt" + std::to_string(g_->rule_alts.size()));
            g_->rule_alts[o].push_back(static_cast<uint32_t>(g_->elements.size()));
            g_->elements.push_back(item);
            if (prev >= 0) g_->elements.push_back(Element{Element::kRule, static_cast<uint32_t>(prev)});
            g_->elements.push_back(Element{Element::kEnd, 0});
            g_->rule_alts[o].push_back(static_cast<uint32_t>(g_->elements.size()));
            g_->elements.push_back(Element{Element::kEnd, 0});
            prev = o;
          }
          out->push_back(Element{Element::kRule, static_cast<uint32_t>(prev)});
        }
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  Grammar* g_;
  size_t max_elements_;
  std::map<std::array<uint64_t, 4>, uint32_t> set_index_;
};

std::vector<bool> Nullable(const Grammar& g) {
  std::vector<bool> nullable(g.num_rules(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.num_rules(); ++r) {
      if (nullable[r]) continue;
      for (uint32_t a : g.rule_alts[r]) {
        bool all = true;
        for (uint32_t i = a; g.elements[i].kind != Element::kEnd; ++i) {
          const Element& el = g.elements[i];
          if (el.kind == Element::kBytes || !nullable[el.index]) { all = false; break; }
        }
        if (all) { nullable[r] = true; changed = true; break; }
      }
    }
  }
  return nullable;
}

}  // namespace

StatusOr<Grammar> GrammarBuilder::Build(uint32_t root, size_t max_elements) const {
  Grammar g;
  g.rule_alts.resize(bodies_.size());
  g.rule_names = names_;
  g.root = root;
  Lowering low(&g, max_elements);
  for (size_t r = 0; r < bodies_.size(); ++r) {
    if (!defined_[r]) return InvalidArgumentError(fmt::format("rule '{}' is used but not defined", names_[r]));
    WEFT_RETURN_IF_ERROR(low.LowerRule(static_cast<uint32_t>(r), bodies_[r]));
  }
  // Left recursion: a rule reachable from itself through left corners (after nullable prefixes).
  const std::vector<bool> nullable = Nullable(g);
  std::vector<std::vector<uint32_t>> left(g.num_rules());
  for (size_t r = 0; r < g.num_rules(); ++r) {
    for (uint32_t a : g.rule_alts[r]) {
      for (uint32_t i = a; g.elements[i].kind == Element::kRule; ++i) {
        left[r].push_back(g.elements[i].index);
        if (!nullable[g.elements[i].index]) break;
      }
    }
  }
  std::vector<uint8_t> color(g.num_rules(), 0);  // 0 new, 1 on the DFS stack, 2 done
  std::function<int64_t(uint32_t)> dfs = [&](uint32_t r) -> int64_t {
    color[r] = 1;
    for (uint32_t s : left[r]) {
      if (color[s] == 1) return s;
      if (color[s] == 0) {
        const int64_t c = dfs(s);
        if (c >= 0) return c;
      }
    }
    color[r] = 2;
    return -1;
  };
  for (size_t r = 0; r < g.num_rules(); ++r) {
    if (color[r] != 0) continue;
    const int64_t c = dfs(static_cast<uint32_t>(r));
    if (c >= 0) {
      return InvalidArgumentError(fmt::format(
          "left recursion through rule '{}' (or a repetition of something that can be empty)",
          g.rule_names[static_cast<size_t>(c)]));
    }
  }
  return g;
}

std::vector<FirstSet> ComputeFirstSets(const Grammar& g) {
  const std::vector<bool> nullable = Nullable(g);
  std::vector<FirstSet> f(g.num_rules());
  for (size_t r = 0; r < g.num_rules(); ++r) f[r].nullable = nullable[r];
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.num_rules(); ++r) {
      ByteSet acc = f[r].first;
      for (uint32_t a : g.rule_alts[r]) {
        for (uint32_t i = a; g.elements[i].kind != Element::kEnd; ++i) {
          const Element& el = g.elements[i];
          if (el.kind == Element::kBytes) { acc.AddAll(g.sets[el.index]); break; }
          acc.AddAll(f[el.index].first);
          if (!nullable[el.index]) break;
        }
      }
      if (!(acc == f[r].first)) { f[r].first = acc; changed = true; }
    }
  }
  return f;
}

}  // namespace weft::grammar
