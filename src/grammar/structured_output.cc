#include "grammar/structured_output.h"

#include <list>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "grammar/regex.h"
#include "grammar/token_mask.h"
#include "grammar/triggered_constraint.h"
#include "tokenizer/tokenizer.h"

namespace weft::grammar {
namespace {

class GrammarConstraint final : public TokenConstraint {
 public:
  explicit GrammarConstraint(std::shared_ptr<GrammarMasker> masker)
      : masker_(std::move(masker)), matcher_(masker_->grammar()) {}

  void FillMask(std::span<uint64_t> bits) override {
    if (ended_) {  // after an end token only end tokens (the engine stops there anyway)
      std::fill(bits.begin(), bits.end(), 0);
      for (int32_t id : masker_->trie().end_tokens()) if (static_cast<size_t>(id) / 64 < bits.size()) bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
      return;
    }
    const size_t words = masker_->trie().num_words();
    if (bits.size() < words) {  // a logits row shorter than the vocabulary
      scratch_.assign(words, 0);
      masker_->FillMask(matcher_.state(), scratch_);
      std::copy(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(bits.size()), bits.begin());
      return;
    }
    masker_->FillMask(matcher_.state(), bits);
  }
  bool Accept(int32_t token) override {
    const TokenTrie& trie = masker_->trie();
    if (trie.IsEndToken(token)) {
      if (!matcher_.CanEnd()) return false;
      ended_at_.push_back(matcher_.num_accepted());
      ended_ = true;
      end_count_++;
      return true;
    }
    if (ended_ || token < 0 || token >= trie.n_vocab()) return false;
    const std::string& b = trie.bytes(token);
    if (b.empty()) return false;
    return matcher_.AcceptBytes(b);
  }
  void Rollback(int n) override {
    // End tokens are the last accepted ones, if any.
    while (n > 0 && end_count_ > 0) { --end_count_; --n; ended_at_.pop_back(); }
    ended_ = end_count_ > 0;
    matcher_.Rollback(n);
  }
  bool CanEnd() const override { return matcher_.CanEnd(); }
  bool Complete() const override { return ended_ || (matcher_.CanEnd() && !matcher_.CanContinue()); }

 private:
  std::shared_ptr<GrammarMasker> masker_;
  GrammarMatcher matcher_;
  bool ended_ = false;
  int end_count_ = 0;
  std::vector<int> ended_at_;
  std::vector<uint64_t> scratch_;
};

class GrammarConstraintFactory final : public TokenConstraintFactory {
 public:
  explicit GrammarConstraintFactory(std::shared_ptr<GrammarMasker> m) : masker_(std::move(m)) {}
  std::unique_ptr<TokenConstraint> NewConstraint() const override { return std::make_unique<GrammarConstraint>(masker_); }

 private:
  std::shared_ptr<GrammarMasker> masker_;
};

std::shared_ptr<const TokenTrie> MakeTrie(const Tokenizer& tok) {
  std::vector<std::string> bytes(static_cast<size_t>(tok.n_vocab()));
  for (int32_t i = 0; i < tok.n_vocab(); ++i) {
    if (!tok.IsControl(i)) bytes[static_cast<size_t>(i)] = std::string(tok.TokenBytes(i, true));
  }
  std::vector<int32_t> ends;
  // The engine ends a sample at EOS (tokenizer eos_id): the one end token.
  for (int32_t id : {tok.vocab().eos_id}) {
    if (id >= 0 && id < tok.n_vocab() && std::find(ends.begin(), ends.end(), id) == ends.end()) ends.push_back(id);
  }
  return std::make_shared<const TokenTrie>(bytes, std::move(ends));
}

StatusOr<Grammar> Compile(const StructuredOutputSpec& spec) {
  switch (spec.kind) {
    case StructuredOutputSpec::Kind::kJsonSchema: {
      if (!spec.sequence) return CompileJsonSchemaText(spec.text);
      nlohmann::ordered_json schema;
      try {
        schema = nlohmann::ordered_json::parse(spec.text);
      } catch (const std::exception& e) {
        return InvalidArgumentError(fmt::format("the JSON schema is not valid JSON: {}", e.what()));
      }
      return CompileJsonSchemaSequence(schema, *spec.sequence);
    }
    case StructuredOutputSpec::Kind::kJsonObject: return CompileJsonObject();
    case StructuredOutputSpec::Kind::kGrammar: return CompileGbnf(spec.text);
    case StructuredOutputSpec::Kind::kRegex: {
      WEFT_ASSIGN_OR_RETURN(Expr e, CompileRegex(spec.text, RegexOptions{}));
      GrammarBuilder b;
      const uint32_t r = b.Add("root", std::move(e));
      return b.Build(r);
    }
    case StructuredOutputSpec::Kind::kChoice: {
      if (spec.choices.empty()) return InvalidArgumentError("the choice list is empty");
      std::vector<Expr> alts;
      for (const std::string& c : spec.choices) alts.push_back(Expr::Literal(c));
      GrammarBuilder b;
      const uint32_t r = b.Add("root", Expr::Alt(std::move(alts)));
      return b.Build(r);
    }
  }
  return InvalidArgumentError("unknown structured output kind");
}

struct Cache {
  static constexpr size_t kMaxEntries = 64;
  std::mutex mu;
  // Key -> factory, most recently used first.
  struct Entry {
    std::string key;
    std::weak_ptr<const Tokenizer> tokenizer;  // an entry whose tokenizer is gone never matches
    std::shared_ptr<const TokenConstraintFactory> factory;
  };
  std::list<Entry> lru;
  std::map<const Tokenizer*, std::pair<std::weak_ptr<const Tokenizer>, std::shared_ptr<const TokenTrie>>> tries;
};

Cache& GlobalCache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

std::string StructuredOutputSpec::Key() const {
  nlohmann::json j = {{"kind", static_cast<int>(kind)}, {"text", text}, {"choices", choices}};
  if (sequence) {
    j["sequence"] = {sequence->prefix, sequence->item_prefix, sequence->item_suffix, sequence->separator,
                     sequence->suffix, sequence->max_items};
  }
  if (trigger) j["trigger"] = {trigger->text, trigger->at_start, trigger->tokens};
  return j.dump();
}

StatusOr<std::shared_ptr<const TokenConstraintFactory>> GetStructuredOutput(
    const StructuredOutputSpec& spec, const std::shared_ptr<const Tokenizer>& tokenizer) {
  Cache& c = GlobalCache();
  const std::string key = fmt::format("{}|{}", static_cast<const void*>(tokenizer.get()), spec.Key());
  std::shared_ptr<const TokenTrie> trie;
  {
    std::lock_guard<std::mutex> l(c.mu);
    for (auto it = c.lru.begin(); it != c.lru.end(); ++it) {
      if (it->key != key) continue;
      if (it->tokenizer.lock() != tokenizer) {
        c.lru.erase(it);
        break;
      }
      c.lru.splice(c.lru.begin(), c.lru, it);
      return it->factory;
    }
    auto t = c.tries.find(tokenizer.get());
    if (t != c.tries.end() && !t->second.first.expired()) trie = t->second.second;
  }
  WEFT_ASSIGN_OR_RETURN(Grammar g, Compile(spec));
  if (!trie) {
    trie = MakeTrie(*tokenizer);
    std::lock_guard<std::mutex> l(c.mu);
    for (auto it = c.tries.begin(); it != c.tries.end();) it = it->second.first.expired() ? c.tries.erase(it) : std::next(it);
    c.tries[tokenizer.get()] = {tokenizer, trie};
  }
  auto masker = std::make_shared<GrammarMasker>(std::make_shared<CompiledGrammar>(std::move(g)), trie);
  std::shared_ptr<const TokenConstraintFactory> f;
  if (spec.trigger) {
    WEFT_ASSIGN_OR_RETURN(f, MakeTriggeredConstraintFactory(std::move(masker), *spec.trigger, *tokenizer));
  } else {
    f = std::make_shared<GrammarConstraintFactory>(std::move(masker));
  }
  std::lock_guard<std::mutex> l(c.mu);
  // Cache entries for a tokenizer that is gone are dropped with the oldest.
  c.lru.push_front(Cache::Entry{key, tokenizer, f});
  while (c.lru.size() > Cache::kMaxEntries) c.lru.pop_back();
  return f;
}

}  // namespace weft::grammar
