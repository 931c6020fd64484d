#include "grammar/triggered_constraint.h"

#include <algorithm>

#include <fmt/format.h>

#include "tokenizer/tokenizer.h"

namespace weft::grammar {
namespace {

bool Blank(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// The trigger's partial match as a small automaton over bytes. States 0..L-1: that many
// trigger bytes matched (anywhere: KMP; at_start: after blanks only); kFree (at_start):
// the output began with something else, so the trigger can no longer appear.
class TriggerScanner {
 public:
  static constexpr uint16_t kFree = 0xFFFF;

  explicit TriggerScanner(const GrammarTrigger& t) : text_(t.text), at_start_(t.at_start) {
    fail_.assign(text_.size() + 1, 0);
    for (size_t i = 1, k = 0; i < text_.size(); ++i) {  // KMP failure function
      while (k > 0 && text_[i] != text_[k]) k = fail_[k];
      if (text_[i] == text_[k]) ++k;
      fail_[i + 1] = k;
    }
  }
  size_t num_states() const { return text_.size(); }

  struct Step {
    uint16_t state;
    bool fired;
    size_t rest;  // fired: offset of the bytes after the trigger
  };
  Step Scan(uint16_t state, std::string_view bytes) const {
    size_t k = state;
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (k == kFree) return {kFree, false, 0};
      const char c = bytes[i];
      if (at_start_) {
        if (k == 0 && Blank(c)) continue;
        if (c != text_[k]) return {kFree, false, 0};
        ++k;
      } else {
        while (k > 0 && c != text_[k]) k = fail_[k];
        if (c == text_[k]) ++k;
      }
      if (k == text_.size()) return {0, true, i + 1};
    }
    return {static_cast<uint16_t>(k), false, 0};
  }

 private:
  std::string text_;
  bool at_start_;
  std::vector<size_t> fail_;
};

struct Shared {
  std::shared_ptr<GrammarMasker> masker;
  TriggerScanner scanner;
  bool at_start;
  uint32_t after_text;                   // grammar state after the trigger text
  uint32_t after_token;                  // ... after a trigger control token
  std::vector<int32_t> trigger_tokens;   // sorted
  std::vector<std::vector<int32_t>> refused;  // per scanner state: free-text tokens whose trigger continues badly
};

class TriggeredConstraint final : public TokenConstraint {
 public:
  explicit TriggeredConstraint(std::shared_ptr<const Shared> s) : s_(std::move(s)) { history_.push_back(Pos{}); }

  void FillMask(std::span<uint64_t> bits) override {
    const Pos& p = history_.back();
    const TokenTrie& trie = s_->masker->trie();
    if (p.ended) {
      std::fill(bits.begin(), bits.end(), 0);
      for (int32_t id : trie.end_tokens()) Set(bits, id, true);
      return;
    }
    if (p.active) {
      const size_t words = trie.num_words();
      if (bits.size() < words) {
        scratch_.assign(words, 0);
        s_->masker->FillMask(p.grammar, scratch_);
        std::copy(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(bits.size()), bits.begin());
      } else {
        s_->masker->FillMask(p.grammar, bits);
      }
      return;
    }
    std::fill(bits.begin(), bits.end(), ~uint64_t{0});
    if (p.trigger == TriggerScanner::kFree) return;
    for (int32_t id : s_->refused[p.trigger]) Set(bits, id, false);
    if (s_->at_start && p.trigger != 0) {
      for (int32_t id : s_->trigger_tokens) Set(bits, id, false);
    }
  }

  bool Accept(int32_t token) override {
    const Pos p = history_.back();
    const TokenTrie& trie = s_->masker->trie();
    if (p.ended || token < 0 || token >= trie.n_vocab()) return false;
    CompiledGrammar& g = *s_->masker->grammar();
    Pos next = p;
    if (trie.IsEndToken(token)) {
      if (p.active && !g.CanEnd(p.grammar)) return false;
      next.ended = true;
    } else if (p.active) {
      const std::string& b = trie.bytes(token);
      if (b.empty()) return false;
      next.grammar = g.Advance(p.grammar, b);
      if (next.grammar == kDeadState) return false;
    } else if (std::binary_search(s_->trigger_tokens.begin(), s_->trigger_tokens.end(), token)) {
      if (s_->at_start && p.trigger != 0) return false;
      next.active = true;
      next.grammar = s_->after_token;
    } else if (p.trigger != TriggerScanner::kFree) {
      const std::string& b = trie.bytes(token);
      const TriggerScanner::Step st = s_->scanner.Scan(p.trigger, b);
      next.trigger = st.state;
      if (st.fired) {
        next.active = true;
        next.grammar = g.Advance(s_->after_text, std::string_view(b).substr(st.rest));
        if (next.grammar == kDeadState) return false;
      }
    }
    history_.push_back(next);
    return true;
  }

  void Rollback(int n) override {
    n = std::min(n, static_cast<int>(history_.size()) - 1);
    history_.resize(history_.size() - static_cast<size_t>(std::max(0, n)));
  }
  bool CanEnd() const override {
    const Pos& p = history_.back();
    return !p.active || s_->masker->grammar()->CanEnd(p.grammar);
  }
  bool Complete() const override {
    const Pos& p = history_.back();
    if (p.ended) return true;
    if (!p.active) return false;
    const CompiledGrammar& g = *s_->masker->grammar();
    return g.CanEnd(p.grammar) && !g.CanContinue(p.grammar);
  }

 private:
  struct Pos {
    uint16_t trigger = 0;  // scanner state while the text is free
    bool active = false;   // the trigger appeared: the grammar rules
    bool ended = false;    // an end token was accepted
    uint32_t grammar = kDeadState;
  };
  static void Set(std::span<uint64_t> bits, int32_t id, bool on) {
    const auto w = static_cast<size_t>(id) >> 6;
    if (w >= bits.size()) return;
    const uint64_t m = uint64_t{1} << (id & 63);
    bits[w] = on ? bits[w] | m : bits[w] & ~m;
  }

  std::shared_ptr<const Shared> s_;
  std::vector<Pos> history_;  // history_[0]: before any token
  std::vector<uint64_t> scratch_;
};

class TriggeredFactory final : public TokenConstraintFactory {
 public:
  explicit TriggeredFactory(std::shared_ptr<const Shared> s) : s_(std::move(s)) {}
  std::unique_ptr<TokenConstraint> NewConstraint() const override { return std::make_unique<TriggeredConstraint>(s_); }

 private:
  std::shared_ptr<const Shared> s_;
};

}  // namespace

StatusOr<std::shared_ptr<const TokenConstraintFactory>> MakeTriggeredConstraintFactory(
    std::shared_ptr<GrammarMasker> masker, const GrammarTrigger& trigger, const Tokenizer& tokenizer) {
  if (trigger.text.empty()) return InvalidArgumentError("a grammar trigger needs text");
  auto s = std::make_shared<Shared>(Shared{std::move(masker), TriggerScanner(trigger), trigger.at_start, kDeadState,
                                           kDeadState, {}, {}});
  CompiledGrammar& g = *s->masker->grammar();
  s->after_text = g.Advance(g.initial_state(), trigger.text);
  if (s->after_text == kDeadState) {
    return InvalidArgumentError(fmt::format("the grammar cannot begin with its trigger '{}'", trigger.text));
  }
  s->after_token = trigger.at_start ? g.initial_state() : s->after_text;
  for (const std::string& piece : trigger.tokens) {
    const int32_t id = tokenizer.PieceToId(piece);
    if (id >= 0 && id < s->masker->trie().n_vocab() && tokenizer.IsControl(id)) s->trigger_tokens.push_back(id);
  }
  std::sort(s->trigger_tokens.begin(), s->trigger_tokens.end());
  // Per scanner state, the tokens that would complete the trigger and go on with bytes
  // the grammar rejects.
  const TokenTrie& trie = s->masker->trie();
  s->refused.resize(s->scanner.num_states());
  for (int32_t id = 0; id < trie.n_vocab(); ++id) {
    const std::string& b = trie.bytes(id);
    if (b.empty() || trie.IsEndToken(id)) continue;
    for (size_t st = 0; st < s->scanner.num_states(); ++st) {
      const TriggerScanner::Step r = s->scanner.Scan(static_cast<uint16_t>(st), b);
      if (r.fired && g.Advance(s->after_text, std::string_view(b).substr(r.rest)) == kDeadState) {
        s->refused[st].push_back(id);
      }
    }
  }
  return std::shared_ptr<const TokenConstraintFactory>(std::make_shared<TriggeredFactory>(std::move(s)));
}

}  // namespace weft::grammar
