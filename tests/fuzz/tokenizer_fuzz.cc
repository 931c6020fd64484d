// libFuzzer target: encoding any bytes (invalid UTF-8 included) with a SentencePiece,
// a byte-level BPE (GGUF and tokenizer.json) and a WordPiece vocabulary, then decoding
// and stream-decoding the ids, must never crash; where the vocabulary is lossless the
// round trip must give the input back, and streaming must equal the full decode.
// The vocabularies come from ../shared/models ($WEFT_SHARED_DIR overrides).
#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

std::string SharedDir() {
  if (const char* env = std::getenv("WEFT_SHARED_DIR")) return env;
  return WEFT_FUZZ_SHARED_DIR;  // <repo>/../shared, from tests/fuzz/CMakeLists.txt (not __FILE__: ccache's
                                // base_dir makes that relative to the build folder)
}

struct Vocab {
  std::shared_ptr<const weft::Tokenizer> tok;
  bool lossless;                  // by design (BPE with bytes; not WordPiece or raw user tokens)
  std::array<bool, 256> has_byte;  // whether each byte value has a token to fall back on
};

std::array<bool, 256> BytesWithTokens(const weft::Tokenizer& tok) {
  std::array<bool, 256> has{};
  for (int b = 0; b < 256; ++b) {
    std::string piece;
    if (tok.vocab().algorithm == weft::TokenizerAlgorithm::kByteLevelBpe) {
      weft::unicode::AppendUtf8(weft::unicode::ByteToCodepoint(static_cast<uint8_t>(b)), &piece);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
      piece = buf;
    }
    has[b] = tok.PieceToId(piece) >= 0;
  }
  return has;
}

const std::vector<Vocab>& Vocabs() {
  static const std::vector<Vocab> vocabs = [] {
    const std::string m = SharedDir() + "/models/";
    // deepseek-coder's user-defined single characters and WordPiece's normaliser are
    // not round-trip safe by design; SmolLM2 lacks tokens for some bytes (0x04, 0xFF,
    // ...), so its round trip is checked only on inputs without those.
    const std::pair<const char*, bool> paths[] = {{"vocab/ggml-vocab-llama-spm.gguf", true},
                                                  {"vocab/ggml-vocab-gpt-2.gguf", true},
                                                  {"vocab/ggml-vocab-deepseek-coder.gguf", false},
                                                  {"vocab/ggml-vocab-bert-bge.gguf", false},
                                                  {"tokenizers/smollm2-135m-instruct/tokenizer.json", true},
                                                  {"stories260K/hf/tokenizer.json", true}};
    std::vector<Vocab> out;
    for (const auto& [p, lossless] : paths) {
      auto tok = weft::LoadTokenizerFromPath(m + p);
      if (!tok.ok()) {
        std::fprintf(stderr, "tokenizer_fuzz: %s\n", tok.status().ToString().c_str());
        std::abort();
      }
      out.push_back(Vocab{*tok, lossless, BytesWithTokens(**tok)});
    }
    return out;
  }();
  return vocabs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // keep iterations fast
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The first byte picks the options, so special-token parsing and BOS/EOS get fuzzed too.
  const uint8_t flags = size ? data[0] : 0;
  for (const Vocab& v : Vocabs()) {
    weft::EncodeOptions options;
    options.add_special = flags & 1;
    options.parse_special = flags & 2;
    std::vector<int32_t> ids = v.tok->Encode(text, options);
    for (int32_t id : ids)
      if (id < 0 || id >= v.tok->n_vocab()) std::abort();
    std::string full = v.tok->Decode(ids);
    bool lossless = v.lossless;
    for (size_t i = 0; lossless && i < size; ++i) lossless = v.has_byte[data[i]];
    // SentencePiece cannot tell a literal U+2581 from an escaped space.
    if (v.tok->vocab().algorithm == weft::TokenizerAlgorithm::kSentencePieceBpe &&
        text.find("\xE2\x96\x81") != std::string::npos)
      lossless = false;
    if (lossless && !options.add_special && !options.parse_special && full != text) std::abort();
    weft::StreamingDetokenizer stream(*v.tok);
    std::string joined;
    for (int32_t id : ids) joined += stream.Feed(id);
    joined += stream.Flush();
    if (joined != full) std::abort();
  }
  return 0;
}
