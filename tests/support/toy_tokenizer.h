// A toy vocabulary for grammar and sampler tests, where every token can be named: id 0 is
// EOS (a control token), ids 1.. are `pieces` (normal tokens whose bytes are the piece),
// then `control` (control tokens, which carry no bytes a grammar sees).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace weft::testing {

inline std::shared_ptr<const Tokenizer> ToyTokenizer(const std::vector<std::string>& pieces,
                                                     const std::vector<std::string>& control = {}) {
  Vocabulary v;
  v.algorithm = TokenizerAlgorithm::kSentencePieceBpe;
  v.tokens.push_back("</s>");
  v.types.push_back(TokenType::kControl);
  for (const std::string& p : pieces) { v.tokens.push_back(p); v.types.push_back(TokenType::kNormal); }
  for (const std::string& p : control) { v.tokens.push_back(p); v.types.push_back(TokenType::kControl); }
  v.scores.assign(v.tokens.size(), 0.0f);
  v.eos_id = 0;
  v.byte_fallback = false;
  auto t = Tokenizer::Create(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : nullptr;
}

}  // namespace weft::testing
