// Pre-tokenizer splits (every HF SplitDelimiterBehavior, and invert) and the Unicode
// normalisers of tokenizer.json, on small hand-checked inputs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/normalizer.h"
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

}  // namespace
}  // namespace weft
