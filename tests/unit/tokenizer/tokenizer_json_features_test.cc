// tokenizer.json features on small hand-checked inputs: pre-tokenizer splits (every HF
// SplitDelimiterBehavior, and invert), the Unicode normalisers, and the added-token
// options lstrip / rstrip / single_word.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/vocabulary.h"

namespace weft {
namespace {

std::vector<std::string> SplitWith(const std::string& text, SplitBehavior behavior, bool invert = false,
                                   const std::string& regex = "-") {
  auto splitter = tokenizer_internal::RegexSplitter::Create({SplitRule{regex, behavior, invert}});
  EXPECT_TRUE(splitter.ok()) << splitter.status().ToString();
  tokenizer_internal::Scratch scratch;
  (*splitter)->Split(text, scratch);
  std::vector<std::string> out;
  for (const auto& s : scratch.pieces) out.push_back(text.substr(s.begin, s.len));
  return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizerSplitTest, Behaviours) {
  const std::string text = "-a-b--c-";
  EXPECT_EQ(SplitWith(text, SplitBehavior::kIsolated), (V{"-", "a", "-", "b", "-", "-", "c", "-"}));
  EXPECT_EQ(SplitWith(text, SplitBehavior::kRemoved), (V{"a", "b", "c"}));
  EXPECT_EQ(SplitWith(text, SplitBehavior::kMergedWithPrevious), (V{"-", "a-", "b-", "-", "c-"}));
  EXPECT_EQ(SplitWith(text, SplitBehavior::kMergedWithNext), (V{"-a", "-b", "-", "-c", "-"}));
  EXPECT_EQ(SplitWith(text, SplitBehavior::kContiguous), (V{"-", "a", "-", "b", "--", "c", "-"}));
}

TEST(PreTokenizerSplitTest, InvertActsOnTheTextBetweenMatches) {
  // Inverted, the words are the delimiters: "a" and "b" are removed, the dashes kept.
  EXPECT_EQ(SplitWith("a-b", SplitBehavior::kRemoved, /*invert=*/true), (V{"-"}));
  EXPECT_EQ(SplitWith("a-b", SplitBehavior::kMergedWithPrevious, /*invert=*/true), (V{"a", "-b"}));
}

TEST(PreTokenizerSplitTest, GemmaSpaceSplitOnEscapedText) {
  // Gemma 3: Split(" ", MergedWithPrevious) after Replace(" " -> "▁"): words keep their space.
  EXPECT_EQ(SplitWith("Hello world  x", SplitBehavior::kMergedWithPrevious, false, " "),
            (V{"Hello ", "world ", " ", "x"}));
}

TEST(PreTokenizerSplitTest, TokenizerJsonBehaviourNames) {
  const std::string base = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
    "decoder": {"type": "ByteLevel"}, "pre_tokenizer": {"type": "Split", "pattern": {"String": "-"}, "behavior": ")";
  for (const char* ok : {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"}) {
    auto v = ParseTokenizerJson(base + ok + "\"}}", "", "t.json");
    ASSERT_TRUE(v.ok()) << ok << ": " << v.status().ToString();
    ASSERT_EQ(v->split_rules.size(), 1u);
  }
  auto bad = ParseTokenizerJson(base + "Sideways\"}}", "", "t.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Sideways"), std::string::npos) << bad.status().message();
}

TEST(NormalizerTest, NormalForms) {
  const std::string e_acute_decomposed = "e\xCC\x81";  // e + U+0301
  const std::string e_acute = "\xC3\xA9";              // U+00E9
  const std::string fi_ligature = "\xEF\xAC\x81";      // U+FB01
  EXPECT_EQ(NormalizeUnicode(e_acute_decomposed, NormalForm::kNfc), e_acute);
  EXPECT_EQ(NormalizeUnicode(e_acute, NormalForm::kNfd), e_acute_decomposed);
  EXPECT_EQ(NormalizeUnicode(fi_ligature, NormalForm::kNfc), fi_ligature);  // compatibility only
  EXPECT_EQ(NormalizeUnicode(fi_ligature, NormalForm::kNfkc), "fi");
  EXPECT_EQ(NormalizeUnicode(fi_ligature + e_acute, NormalForm::kNfkd), "fi" + e_acute_decomposed);
  EXPECT_EQ(NormalizeUnicode(std::string("a\0b", 3), NormalForm::kNfc), std::string("a\0b", 3));
  EXPECT_EQ(NormalizeUnicode("bad \xFF byte", NormalForm::kNfc), "bad \xFF byte");  // left as it is
}

TEST(NormalizerTest, TokenizerJsonNormalizers) {
  const std::string head = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
    "decoder": {"type": "ByteLevel"},
    "normalizer": )";
  auto nfkc = ParseTokenizerJson(head + R"({"type": "NFKC"}})", "", "t.json");
  ASSERT_TRUE(nfkc.ok()) << nfkc.status().ToString();
  EXPECT_EQ(nfkc->normal_form, NormalForm::kNfkc);
  auto two = ParseTokenizerJson(head + R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "NFKD"}]}})",
                                "", "t.json");
  EXPECT_FALSE(two.ok());
}

TEST(AddedTokenOptionsTest, LstripRstripSingleWord) {
  auto v = ParseTokenizerJson(R"({
    "model": {"type": "BPE", "vocab": {"<unk>": 0, "▁": 1, "a": 2, "b": 3, "▁a": 4, "ab": 5},
              "merges": ["▁ a", "a b"], "unk_token": "<unk>"},
    "added_tokens": [
      {"id": 6, "content": "<L>", "special": false, "lstrip": true, "rstrip": false, "single_word": false, "normalized": false},
      {"id": 7, "content": "<R>", "special": false, "lstrip": false, "rstrip": true, "single_word": false, "normalized": false},
      {"id": 8, "content": "ba", "special": false, "lstrip": false, "rstrip": false, "single_word": true, "normalized": false},
      {"id": 9, "content": "<P>", "special": false, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false}
    ]})",
                              "", "t.json");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  auto tok = Tokenizer::Create(std::move(v).value());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EncodeOptions o;
  o.add_special = false;
  using Ids = std::vector<int32_t>;
  EXPECT_EQ((*tok)->Encode("a  <L>a", o), (Ids{2, 6, 2}));  // the spaces go with <L>
  EXPECT_EQ((*tok)->Encode("a <P>a", o), (Ids{2, 1, 9, 2}));  // a plain added token keeps them apart
  EXPECT_EQ((*tok)->Encode("<R> \n a", o), (Ids{7, 2}));     // and after <R>
  EXPECT_EQ((*tok)->Encode("<P> a", o), (Ids{9, 4}));
  EXPECT_EQ((*tok)->Encode("ba", o), (Ids{8}));
  EXPECT_EQ((*tok)->Encode("a ba", o), (Ids{2, 1, 8}));
  EXPECT_EQ((*tok)->Encode("aba", o), (Ids{5, 2}));  // inside a word: not the added token
  EXPECT_EQ((*tok)->Encode("ba\xC3\xA9", o).front(), 3);  // followed by a (non-ASCII) letter: no match
}

TEST(MetaspaceTest, SplitAndPrependSchemes) {
  // "▁a▁a" is a token, but Metaspace(split) keeps each word apart; "first" prefixes only
  // the start of the text, not the text after a special token.
  auto make = [](const std::string& scheme) {
    auto v = ParseTokenizerJson(R"({
      "model": {"type": "BPE", "vocab": {"<s>": 0, "\u2581": 1, "a": 2, "\u2581a": 3, "\u2581a\u2581a": 4, "\u2581a\u2581": 5},
                "merges": ["\u2581 a", "\u2581a \u2581", "\u2581a\u2581 a"]},
      "added_tokens": [{"id": 0, "content": "<s>", "special": true, "lstrip": false, "rstrip": false,
                        "single_word": false, "normalized": false}],
      "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": ")" + scheme + R"(", "split": true}})",
                                "", "t.json");
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    auto tok = Tokenizer::Create(std::move(v).value());
    EXPECT_TRUE(tok.ok()) << tok.status().ToString();
    return *tok;
  };
  EncodeOptions o;
  o.add_special = false;
  o.parse_special = true;
  using Ids = std::vector<int32_t>;
  auto always = make("always");
  EXPECT_EQ(always->Encode("a a", o), (Ids{3, 3}));  // not 4: the split keeps the words apart
  EXPECT_EQ(always->Encode("a<s>a", o), (Ids{3, 0, 3}));
  auto first = make("first");
  EXPECT_EQ(first->Encode("a<s>a", o), (Ids{3, 0, 2}));
  EXPECT_EQ(first->Encode("<s>a", o), (Ids{0, 2}));
  auto never = make("never");
  EXPECT_EQ(never->Encode("a a", o), (Ids{2, 3}));
}

}  // namespace
}  // namespace weft
