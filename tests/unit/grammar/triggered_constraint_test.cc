// Grammars that switch on at a trigger (grammar/triggered_constraint.h), on a toy
// vocabulary where every case can be named: free text before the trigger, a trigger split
// over tokens or inside one token with what follows it, tokens that would complete the
// trigger with bytes the grammar refuses, the at_start trigger (Llama 3's '{'), a control
// token as trigger (Mistral's [TOOL_CALLS]), the end, rollback across the switch, and the
// sampler drawing only outputs whose text after the trigger is in the grammar.
#include <gtest/gtest.h>

#include <random>

#include "grammar/structured_output.h"
#include "grammar/triggered_constraint.h"
#include "sampling/sampler.h"
#include "support/toy_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace weft::grammar {
namespace {

bool Allowed(const std::vector<uint64_t>& bits, int32_t id) { return (bits[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1; }

std::shared_ptr<const Tokenizer> Toy(const std::vector<std::string>& pieces, const std::vector<std::string>& control = {}) {
  return testing::ToyTokenizer(pieces, control);  // 0 = EOS, then the pieces, then the control pieces
}

//                                  1    2     3      4       5          6       7      8     9    10   11    12    13    14
const std::vector<std::string> kPieces = {"a", "<", "tc>", "<tc>", "<tc>yes", "<tc>x", "yes", "no", "x", " ", "{", "}", " {", "{x"};
enum : int32_t { kEos = 0, kA, kLt, kTcGt, kTrig, kTrigYes, kTrigX, kYes, kNo, kX, kSp, kOpen, kClose, kSpOpen, kOpenX, kCtl };

std::shared_ptr<const TokenConstraintFactory> Factory(const std::shared_ptr<const Tokenizer>& tok, StructuredOutputSpec spec) {
  auto f = GetStructuredOutput(spec, tok);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : nullptr;
}

StructuredOutputSpec Choice(std::vector<std::string> choices, GrammarTrigger t) {
  StructuredOutputSpec s;
  s.kind = StructuredOutputSpec::Kind::kChoice;
  s.choices = std::move(choices);
  s.trigger = std::move(t);
  return s;
}

TEST(TriggeredConstraint, FreeTextUntilTheTriggerThenTheGrammar) {
  auto tok = Toy(kPieces);
  auto f = Factory(tok, Choice({"<tc>yes", "<tc>no"}, GrammarTrigger{"<tc>", false, {}}));
  auto c = f->NewConstraint();
  std::vector<uint64_t> bits(1);
  c->FillMask(bits);
  for (int32_t id : {kEos, kA, kLt, kTcGt, kTrig, kTrigYes, kYes, kX, kSp, kOpen, kOpenX}) EXPECT_TRUE(Allowed(bits, id)) << id;
  EXPECT_FALSE(Allowed(bits, kTrigX));  // completes the trigger, then "x": no grammar sentence goes on so
  EXPECT_TRUE(c->CanEnd());
  EXPECT_FALSE(c->Complete());
  EXPECT_FALSE(c->Accept(kTrigX));
  ASSERT_TRUE(c->Accept(kA));
  ASSERT_TRUE(c->Accept(kLt));  // "<": the trigger half seen, text still free
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, kX));
  EXPECT_TRUE(Allowed(bits, kTcGt));
  ASSERT_TRUE(c->Accept(kTcGt));  // "<" + "tc>": the grammar rules from here
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, kYes));
  EXPECT_TRUE(Allowed(bits, kNo));
  EXPECT_FALSE(Allowed(bits, kX));
  EXPECT_FALSE(Allowed(bits, kA));
  EXPECT_FALSE(Allowed(bits, kEos));  // "<tc>" alone is not a sentence
  EXPECT_FALSE(c->CanEnd());
  EXPECT_FALSE(c->Accept(kX));
  ASSERT_TRUE(c->Accept(kYes));
  EXPECT_TRUE(c->CanEnd());
  EXPECT_TRUE(c->Complete());  // nothing extends "<tc>yes": the engine stops here
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, kEos));
  EXPECT_FALSE(Allowed(bits, kA));
  // Back across the switch: after "a", "<" the text is free again.
  c->Rollback(2);
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, kX));
  EXPECT_TRUE(c->CanEnd());
  ASSERT_TRUE(c->Accept(kX));  // "a<x": no trigger
  ASSERT_TRUE(c->Accept(kTrigYes));  // the trigger and the sentence in one token
  EXPECT_TRUE(c->Complete());
  ASSERT_TRUE(c->Accept(kEos));
  EXPECT_TRUE(c->Complete());
  EXPECT_FALSE(c->Accept(kA));  // nothing after the end
  c->Rollback(2);  // EOS and "<tc>yes"
  ASSERT_TRUE(c->Accept(kEos));  // free text may end
  EXPECT_TRUE(c->Complete());
}

TEST(TriggeredConstraint, AtStartOnlyAsTheFirstNonBlankBytes) {
  auto tok = Toy(kPieces, {"<|python_tag|>"});
  auto f = Factory(tok, Choice({"{}", "{yes}"}, GrammarTrigger{"{", true, {"<|python_tag|>"}}));
  std::vector<uint64_t> bits(1);
  {
    auto c = f->NewConstraint();
    c->FillMask(bits);
    EXPECT_TRUE(Allowed(bits, kOpen));
    EXPECT_TRUE(Allowed(bits, kSpOpen));
    EXPECT_FALSE(Allowed(bits, kOpenX));  // '{' starts the call, "x" cannot follow
    EXPECT_TRUE(Allowed(bits, kCtl));
    ASSERT_TRUE(c->Accept(kSp));
    ASSERT_TRUE(c->Accept(kSpOpen));  // blanks, then '{': a call
    c->FillMask(bits);
    EXPECT_TRUE(Allowed(bits, kClose));
    EXPECT_TRUE(Allowed(bits, kYes));
    EXPECT_FALSE(Allowed(bits, kSp));
    EXPECT_FALSE(c->CanEnd());
    ASSERT_TRUE(c->Accept(kClose));
    EXPECT_TRUE(c->Complete());
  }
  {
    auto c = f->NewConstraint();
    ASSERT_TRUE(c->Accept(kA));  // text first: free for good, '{' is just text now
    c->FillMask(bits);
    for (int32_t id = 0; id < tok->n_vocab(); ++id) EXPECT_TRUE(Allowed(bits, id)) << id;
    ASSERT_TRUE(c->Accept(kOpenX));
    ASSERT_TRUE(c->Accept(kOpen));
    EXPECT_TRUE(c->CanEnd());
    EXPECT_FALSE(c->Complete());
  }
  {
    auto c = f->NewConstraint();
    ASSERT_TRUE(c->Accept(kCtl));  // <|python_tag|>: the call follows, '{' included
    c->FillMask(bits);
    EXPECT_TRUE(Allowed(bits, kOpen));
    EXPECT_FALSE(Allowed(bits, kSpOpen));
    EXPECT_FALSE(Allowed(bits, kA));
    ASSERT_TRUE(c->Accept(kOpen));
    ASSERT_TRUE(c->Accept(kYes));
    EXPECT_FALSE(c->Complete());
    c->Rollback(3);
    ASSERT_TRUE(c->Accept(kSp));  // back at the start: blanks keep the trigger possible
    ASSERT_TRUE(c->Accept(kOpen));
    EXPECT_FALSE(c->CanEnd());
  }
}

TEST(TriggeredConstraint, ControlTokenTriggerStartsAfterTheTriggerText) {
  auto tok = Toy(kPieces, {"[T]"});
  auto f = Factory(tok, Choice({"[T]yes", "[T]no"}, GrammarTrigger{"[T]", false, {"[T]"}}));
  auto c = f->NewConstraint();
  std::vector<uint64_t> bits(1);
  ASSERT_TRUE(c->Accept(kA));
  ASSERT_TRUE(c->Accept(kCtl));
  c->FillMask(bits);
  EXPECT_TRUE(Allowed(bits, kYes));
  EXPECT_TRUE(Allowed(bits, kNo));
  EXPECT_FALSE(Allowed(bits, kA));
  EXPECT_FALSE(Allowed(bits, kCtl));
  ASSERT_TRUE(c->Accept(kNo));
  EXPECT_TRUE(c->Complete());
}

TEST(TriggeredConstraint, AGrammarThatCannotBeginWithItsTriggerIsRefused) {
  auto tok = Toy(kPieces);
  auto f = GetStructuredOutput(Choice({"yes"}, GrammarTrigger{"<tc>", false, {}}), tok);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("cannot begin with its trigger '<tc>'"), std::string::npos) << f.status().message();
}

// Random logits, sampled: whatever the draws, the text after the first trigger is a whole
// sentence of the grammar when the constraint says the output is complete.
TEST(TriggeredConstraint, SampledOutputsAreFreeTextThenASentence) {
  auto tok = Toy(kPieces);
  auto f = Factory(tok, Choice({"<tc>yes", "<tc>no", "<tc>{}"}, GrammarTrigger{"<tc>", false, {}}));
  int triggered = 0, free_ended = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.seed = seed;
    SequenceSampler s(p, 0, seed);
    s.SetConstraint(f->NewConstraint());
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    std::string out;
    bool ended = false;
    for (int step = 0; step < 40 && !ended; ++step) {
      std::vector<float> logits(static_cast<size_t>(tok->n_vocab()));
      for (float& x : logits) x = nd(rng);
      const int32_t t = s.Sample(logits).token;
      if (t == kEos) {
        ended = true;
        break;
      }
      out += tok->TokenBytes(t);
      ended = s.constraint()->Complete();
    }
    const size_t at = out.find("<tc>");
    if (at == std::string::npos) {
      free_ended += ended ? 1 : 0;
      continue;
    }
    ++triggered;
    const std::string tail = out.substr(at);
    if (ended) {
      EXPECT_TRUE(tail == "<tc>yes" || tail == "<tc>no" || tail == "<tc>{}") << "seed " << seed << ": " << out;
    } else {
      EXPECT_TRUE(std::string("<tc>yes").starts_with(tail) || std::string("<tc>no").starts_with(tail) ||
                  std::string("<tc>{}").starts_with(tail))
          << "seed " << seed << ": " << out;
    }
  }
  EXPECT_GT(triggered, 50);
  EXPECT_GT(free_ended, 10);
}

}  // namespace
}  // namespace weft::grammar
