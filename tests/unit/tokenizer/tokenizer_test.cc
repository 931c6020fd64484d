// Tokenizer unit tests: loaders (GGUF, tokenizer.json, llama2.c) and their errors,
// BOS/EOS and special-token rules, invalid UTF-8, decoding and the streaming
// detokenizer, and the real-model prompts of ../shared/golden/real.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/mapped_file.h"
#include "loader/gguf.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace weft {
namespace {

const std::string kShared = WEFT_SHARED_DIR;
const std::string kModels = kShared + "/models";

std::shared_ptr<const Tokenizer> Load(const std::string& path) {
  auto tok = LoadTokenizerFromPath(path);
  EXPECT_TRUE(tok.ok()) << path << ": " << tok.status().ToString();
  return tok.ok() ? *tok : nullptr;
}

std::vector<std::string> GoldenCases() {
  auto text = ReadFileToString(kShared + "/golden/tokenizer/cases.inp");
  EXPECT_TRUE(text.ok());
  std::vector<std::string> out;
  const std::string sep = "\n__ggml_vocab_test__\n";
  size_t pos = 0;
  for (size_t next; (next = text->find(sep, pos)) != std::string::npos; pos = next + sep.size())
    out.push_back(text->substr(pos, next - pos));
  out.push_back(text->substr(pos));
  return out;
}

// check_boundaries: the decoded text is valid UTF-8, so no delta may end mid-character.
std::string Concat(const Tokenizer& tok, const std::vector<int32_t>& ids, DecodeOptions options = {},
                   bool check_boundaries = true) {
  StreamingDetokenizer stream(tok, options);
  std::string out;
  for (int32_t id : ids) {
    std::string delta = stream.Feed(id);
    // Every delta ends on a character boundary of valid text.
    if (check_boundaries) {
      EXPECT_EQ(unicode::CompleteUtf8Prefix(delta), delta.size());
    }
    out += delta;
  }
  return out + stream.Flush();
}

TEST(TokenizerTest, RealModelPromptsAndContinuations) {
  auto index = ReadFileToString(kShared + "/golden/real/index.json");
  ASSERT_TRUE(index.ok());
  auto j = nlohmann::json::parse(*index);
  const std::map<std::string, std::string> dirs = {{"stories260K", "stories260K"},
                                                   {"TinyLLama-v0.Q4_0", "tinyllama-v0"},
                                                   {"llama-2-tiny-random", "llama-2-tiny-random"}};
  for (auto& [name, model] : j.items()) {
    ASSERT_TRUE(dirs.count(name)) << name;
    auto tok = Load(kModels + "/" + dirs.at(name) + "/" + model["model_file"].get<std::string>());
    ASSERT_TRUE(tok);
    for (const auto& c : model["cases"]) {
      auto prompt = c["prompt"].get<std::string>();
      EXPECT_EQ(tok->Encode(prompt), c["prompt_tokens"].get<std::vector<int32_t>>()) << name << ": " << prompt;
      auto greedy = c["ref_greedy_tokens"].get<std::vector<int32_t>>();
      DecodeOptions continuation;
      continuation.strip_leading_space = false;
      // ref_greedy_text holds the continuation up to its first line break.
      std::string text = tok->Decode(greedy, continuation);
      EXPECT_EQ(text.substr(0, text.find('\n')), c["ref_greedy_text"].get<std::string>()) << name;
      EXPECT_EQ(Concat(*tok, greedy, continuation), tok->Decode(greedy, continuation)) << name;
    }
  }
}

TEST(TokenizerTest, Stories260KSourcesAgree) {
  // The same vocabulary from GGUF (merge by score), tokenizer.json (merge by rank) and
  // llama2.c (merge by score).
  auto gguf = Load(kModels + "/stories260K/stories260K.gguf");
  auto hf = Load(kModels + "/stories260K/hf/tokenizer.json");
  auto l2c = Load(kModels + "/stories260K/llama2c/tok512.bin");
  ASSERT_TRUE(gguf && hf && l2c);
  EXPECT_EQ(l2c->n_vocab(), 512);
  for (const std::string& text : GoldenCases()) {
    auto a = gguf->Encode(text);
    EXPECT_EQ(a, l2c->Encode(text)) << text;
    EXPECT_EQ(a, hf->Encode(text)) << text;
    EXPECT_EQ(gguf->Decode(a), text);
  }
  EXPECT_EQ(hf->bos_id(), 1);
  EXPECT_TRUE(hf->vocab().add_bos);
}

TEST(TokenizerTest, BosEosRules) {
  auto spm = Load(kModels + "/vocab/ggml-vocab-llama-spm.gguf");
  auto bert = Load(kModels + "/vocab/ggml-vocab-bert-bge.gguf");
  auto gpt2 = Load(kModels + "/vocab/ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(spm && bert && gpt2);
  EXPECT_EQ(spm->Encode("Hello world"), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(spm->Encode(""), (std::vector<int32_t>{1}));
  EncodeOptions none;
  none.add_special = false;
  EXPECT_TRUE(spm->Encode("", none).empty());
  EXPECT_EQ(bert->Encode("Hello world"), (std::vector<int32_t>{101, 7592, 2088, 102}));  // [CLS] .. [SEP]
  EXPECT_EQ(gpt2->Encode("Hello world"), (std::vector<int32_t>{15496, 995}));         // GPT-2 adds none
  EXPECT_EQ(spm->Decode(spm->Encode("Hello world")), "Hello world");
  EXPECT_EQ(bert->Decode(bert->Encode("Hello world")), "hello world");
  DecodeOptions keep;
  keep.skip_special = false;
  // The space prefix is dropped only from the first piece shown: here that is "<s>".
  EXPECT_EQ(spm->Decode(spm->Encode("Hi"), keep), "<s> Hi");
}

TEST(TokenizerTest, SpecialTokensOnlyWhenAsked) {
  auto smol = Load(kModels + "/tokenizers/smollm2-135m-instruct");
  auto spm = Load(kModels + "/vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(smol && spm);
  EncodeOptions plain;
  plain.add_special = false;
  EncodeOptions parse = plain;
  parse.parse_special = true;
  const std::string text = "<|im_start|>user\nHi<|im_end|>";
  EXPECT_EQ(smol->Encode(text, parse), (std::vector<int32_t>{1, 4093, 198, 26843, 2}));
  auto literal = smol->Encode(text, plain);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 1), 0);
  EXPECT_EQ(smol->Decode(literal), text);  // the text survives as text
  // SentencePiece: "<s>" inside text, and the space prefix after a special token.
  auto ids = spm->Encode("<s>Hello", parse);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 15043}));
  EXPECT_NE(spm->Encode("<s>Hello", plain)[0], 1);
}

TEST(TokenizerTest, UserDefinedTokensAlwaysMatch) {
  // deepseek-coder's user-defined tokens (e.g. "ü", id 32009) are matched in raw text.
  auto ds = Load(kModels + "/vocab/ggml-vocab-deepseek-coder.gguf");
  ASSERT_TRUE(ds);
  EncodeOptions plain;
  plain.add_special = false;
  EXPECT_EQ(ds->Encode("Führer", plain), (std::vector<int32_t>{37, 32009, 71, 6247}));
  EXPECT_EQ(ds->Decode(ds->Encode("Führer", plain)), "Führer");
}

// Whether every byte value has a token (byte-level characters or <0xNN> pieces).
int MissingByteTokens(const Tokenizer& tok) {
  int missing = 0;
  for (int b = 0; b < 256; ++b) {
    std::string piece;
    if (tok.vocab().algorithm == TokenizerAlgorithm::kByteLevelBpe) {
      unicode::AppendUtf8(unicode::ByteToCodepoint(static_cast<uint8_t>(b)), &piece);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
      piece = buf;
    }
    if (tok.PieceToId(piece) < 0) ++missing;
  }
  return missing;
}

TEST(TokenizerTest, InvalidUtf8NeverFailsAndRoundTripsWhereLossless) {
  const std::vector<std::string> paths = {
      kModels + "/vocab/ggml-vocab-llama-spm.gguf", kModels + "/vocab/ggml-vocab-gpt-2.gguf",
      kModels + "/vocab/ggml-vocab-falcon.gguf",    kModels + "/vocab/ggml-vocab-bert-bge.gguf",
      kModels + "/stories260K/hf",                  kModels + "/tokenizers/smollm2-135m-instruct"};
  std::mt19937 rng(7);
  std::vector<std::string> inputs = {"\xFF", "a\xC3", "\xE2\x82", "\xED\xA0\x80 x", "\xC0\xAF\x80\x80",
                                     std::string("nul\0byte", 8), "\xF4\x90\x80\x80"};
  for (int i = 0; i < 50; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    inputs.push_back(s);
  }
  EncodeOptions plain;
  plain.add_special = false;
  for (const auto& path : paths) {
    auto tok = Load(path);
    ASSERT_TRUE(tok);
    // Lossless when every byte has a token. Falcon's vocabulary lacks some (e.g. 0x04,
    // 0xC0, 0xFF): those bytes are dropped, as llama.cpp drops them.
    const int missing = tok->vocab().algorithm == TokenizerAlgorithm::kWordPiece ? 256 : MissingByteTokens(*tok);
    const bool lossless = missing == 0 && (tok->vocab().algorithm == TokenizerAlgorithm::kByteLevelBpe ||
                                           tok->vocab().byte_fallback);
    if (path.find("falcon") != std::string::npos) {
      EXPECT_GT(missing, 0);
    }
    for (const auto& in : inputs) {
      auto ids = tok->Encode(in, plain);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
      std::string out = tok->Decode(ids);
      if (lossless) {
        EXPECT_EQ(out, in) << path;
      }
      EXPECT_EQ(Concat(*tok, ids, {}, /*check_boundaries=*/false), out) << path;
    }
  }
}

TEST(TokenizerTest, StreamingHoldsBackPartialCharacters) {
  auto gpt2 = Load(kModels + "/vocab/ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(gpt2);
  EncodeOptions plain;
  plain.add_special = false;
  auto ids = gpt2->Encode(" 🦙", plain);  // ' \xF0\x9F', '\xA6', '\x99'
  ASSERT_EQ(ids.size(), 3u);
  StreamingDetokenizer stream(*gpt2);
  EXPECT_EQ(stream.Feed(ids[0]), " ");
  EXPECT_EQ(stream.pending(), 2u);
  EXPECT_EQ(stream.Feed(ids[1]), "");
  EXPECT_EQ(stream.Feed(ids[2]), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(stream.Flush(), "");
  // A stream cut inside a character hands the bytes over at Flush.
  stream.Reset();
  EXPECT_EQ(stream.Feed(ids[0]), " ");
  EXPECT_EQ(stream.Flush(), "\xF0\x9F");
  // Out-of-range ids decode to nothing.
  EXPECT_EQ(stream.Feed(-5), "");
  EXPECT_EQ(stream.Feed(1 << 30), "");
  EXPECT_EQ(gpt2->Decode(std::vector<int32_t>{-1, 1 << 30}), "");
}

TEST(TokenizerTest, CompleteUtf8Prefix) {
  EXPECT_EQ(unicode::CompleteUtf8Prefix(""), 0u);
  EXPECT_EQ(unicode::CompleteUtf8Prefix("ab"), 2u);
  EXPECT_EQ(unicode::CompleteUtf8Prefix("a\xC3"), 1u);
  EXPECT_EQ(unicode::CompleteUtf8Prefix("a\xE2\x82"), 1u);
  EXPECT_EQ(unicode::CompleteUtf8Prefix("a\xE2\x82\xAC"), 4u);
  EXPECT_EQ(unicode::CompleteUtf8Prefix("\xF0\x9F\xA6"), 0u);
  EXPECT_EQ(unicode::CompleteUtf8Prefix("\xFF"), 1u);      // never valid: passed through
  EXPECT_EQ(unicode::CompleteUtf8Prefix("\x80\x80"), 2u);  // stray continuations
  EXPECT_EQ(unicode::CompleteUtf8Prefix("\xE0\x80"), 2u);  // overlong start: never valid
}

TEST(TokenizerTest, ConcurrentEncodesAgree) {
  auto smol = Load(kModels + "/tokenizers/smollm2-135m-instruct");
  ASSERT_TRUE(smol);
  auto cases = GoldenCases();
  std::vector<std::vector<int32_t>> want;
  for (const auto& c : cases) want.push_back(smol->Encode(c));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < cases.size(); ++i)
          if (smol->Encode(cases[i]) != want[i]) ++mismatches;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TokenizerTest, LoaderErrors) {
  EXPECT_EQ(LoadTokenizerFromPath(kModels + "/no-such-model").status().code(), StatusCode::kNotFound);
  auto bad = ParseTokenizerJson("{not json", "", "bad.json");
  EXPECT_FALSE(bad.ok());
  // Unigram loads (cli.unigram_tokenizer checks its ids); malformed entries, an unk_id
  // outside the vocab and T5's Precompiled charsmap are refused.
  auto unigram = ParseTokenizerJson(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})", "", "u.json");
  EXPECT_TRUE(unigram.ok()) << unigram.status().ToString();
  EXPECT_FALSE(ParseTokenizerJson(R"({"model": {"type": "Unigram", "vocab": [["a"]]}})", "", "u.json").ok());
  EXPECT_FALSE(
      ParseTokenizerJson(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 3}})", "", "u.json").ok());
  auto charsmap = ParseTokenizerJson(
      R"({"normalizer": {"type": "Precompiled", "precompiled_charsmap": "AA=="},
          "model": {"type": "Unigram", "vocab": [["a", 0.0]]}})",
      "", "t5.json");
  EXPECT_EQ(charsmap.status().code(), StatusCode::kUnimplemented) << charsmap.status().ToString();
  EXPECT_NE(charsmap.status().message().find("Precompiled"), std::string::npos);
  auto wrong_type = ParseTokenizerJson(R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})", "", "w.json");
  EXPECT_FALSE(wrong_type.ok());
  auto no_merges = ParseTokenizerJson(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "pre_tokenizer": {"type": "ByteLevel"}})", "", "n.json");
  EXPECT_FALSE(no_merges.ok());
  // A llama2.c tokenizer cut mid-token.
  auto bytes = ReadFileToString(kModels + "/stories260K/llama2c/tok512.bin");
  ASSERT_TRUE(bytes.ok());
  const std::string cut = ::testing::TempDir() + "/tok_cut.bin";
  {
    FILE* f = std::fopen(cut.c_str(), "wb");
    ASSERT_TRUE(f);
    std::fwrite(bytes->data(), 1, 101, f);
    std::fclose(f);
  }
  auto truncated = LoadVocabularyFromLlama2c(cut);
  EXPECT_EQ(truncated.status().code(), StatusCode::kDataLoss) << truncated.status().ToString();
  // A llama2.c checkpoint finds the tokenizer file beside it.
  auto weights = LoadTokenizerFromPath(kModels + "/stories260K/llama2c/stories260K.bin");
  ASSERT_TRUE(weights.ok()) << weights.status().ToString();
  EXPECT_EQ((*weights)->n_vocab(), 512);
}

TEST(TokenizerTest, PieceLookups) {
  auto spm = Load(kModels + "/vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(spm);
  EXPECT_EQ(spm->Piece(15043), "\xE2\x96\x81Hello");
  EXPECT_EQ(spm->PieceToId("\xE2\x96\x81Hello"), 15043);
  EXPECT_EQ(spm->TokenBytes(15043), " Hello");
  EXPECT_EQ(spm->TokenBytes(13), "\n");  // <0x0A>
  EXPECT_TRUE(spm->IsControl(1));
  EXPECT_EQ(spm->Piece(-1), "");
}

}  // namespace
}  // namespace weft
