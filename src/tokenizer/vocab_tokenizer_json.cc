// Vocabulary from a Hugging Face tokenizer.json (+ tokenizer_config.json): models BPE
// (byte-level when the pre-tokenizer or decoder is ByteLevel, else SentencePiece-style
// with "▁" and byte fallback), WordPiece and Unigram (tokenizer/unigram.cc). Normalizers:
// NFC/NFKC/NFD/NFKD (utf8proc), BertNormalizer, and the SentencePiece pair Replace ' ' ->
// "▁" / Prepend "▁"; pre-tokenizer Splits with any behaviour (and invert).
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "tokenizer/vocabulary.h"

namespace weft {
namespace {

using nlohmann::json;

const char* const kByteLevelRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

std::string QuoteRegex(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

StatusOr<SplitBehavior> ParseSplitBehavior(const std::string& name) {
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return InvalidArgumentError("pre_tokenizer Split behavior '" + name + "' is unknown");
}

struct Parser {
  Vocabulary& v;
  bool byte_level = false;
  bool metaspace_prefix = false;
  bool saw_metaspace = false;

  Status PreTokenizer(const json& p) {
    if (p.is_null()) return Status();
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
      for (const json& q : p.value("pretokenizers", json::array())) WEFT_RETURN_IF_ERROR(PreTokenizer(q));
    } else if (type == "ByteLevel") {
      byte_level = true;
      if (p.value("use_regex", true)) v.split_rules.push_back(SplitRule{kByteLevelRegex});
      v.byte_level_add_prefix_space = p.value("add_prefix_space", false);
    } else if (type == "Split") {
      const json& pat = p.value("pattern", json::object());
      SplitRule rule;
      WEFT_ASSIGN_OR_RETURN(rule.behavior, ParseSplitBehavior(p.value("behavior", "Isolated")));
      rule.invert = p.value("invert", false);
      if (pat.contains("Regex")) {
        rule.regex = pat["Regex"].get<std::string>();
      } else if (pat.contains("String")) {
        rule.regex = QuoteRegex(pat["String"].get<std::string>());
      } else {
        return InvalidArgumentError("pre_tokenizer Split has no pattern");
      }
      v.split_rules.push_back(std::move(rule));
    } else if (type == "Digits") {
      v.split_rules.push_back(SplitRule{p.value("individual_digits", false) ? "[0-9]" : "[0-9]+"});
    } else if (type == "Metaspace") {
      saw_metaspace = true;
      if (p.value("replacement", "\xE2\x96\x81") != "\xE2\x96\x81")
        return UnimplementedError("pre_tokenizer Metaspace with a replacement other than U+2581 is not supported");
      std::string scheme = p.value("prepend_scheme", p.value("add_prefix_space", true) ? "always" : "never");
      metaspace_prefix = scheme != "never";
      v.space_prefix_first_only = scheme == "first";
      v.space_prefix_unless_space = true;
      // Each word keeps the "▁" before it (HF: split on the replacement, MergedWithNext).
      if (p.value("split", true)) v.split_rules.push_back(SplitRule{"\xE2\x96\x81", SplitBehavior::kMergedWithNext});
    } else if (type == "BertPreTokenizer" || type == "Whitespace" || type == "WhitespaceSplit") {
      // WordPiece splits words itself.
    } else {
      return UnimplementedError("pre_tokenizer type '" + type + "' is not supported");
    }
    return Status();
  }

  Status Normalizer(const json& n) {
    if (n.is_null()) return Status();
    const std::string type = n.value("type", "");
    if (type == "Sequence") {
      for (const json& m : n.value("normalizers", json::array())) WEFT_RETURN_IF_ERROR(Normalizer(m));
    } else if (type == "Prepend") {
      if (n.value("prepend", "") != "\xE2\x96\x81")
        return UnimplementedError("normalizer Prepend of something other than U+2581 is not supported");
      v.add_space_prefix = true;
    } else if (type == "Replace") {
      // SentencePiece-style " " -> "▁" is what kSentencePieceBpe does anyway.
      const json& pat = n.value("pattern", json::object());
      if (pat.value("String", "") != " " || n.value("content", "") != "\xE2\x96\x81")
        return UnimplementedError("normalizer Replace other than ' ' -> U+2581 is not supported");
    } else if (type == "BertNormalizer") {
      v.lowercase = n.value("lowercase", true);
      const json& sa = n.value("strip_accents", json());
      v.strip_accents = sa.is_boolean() ? sa.get<bool>() : v.lowercase;
    } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
      if (v.normal_form != NormalForm::kNone)
        return UnimplementedError("more than one Unicode normalizer (NFC/NFKC/NFD/NFKD) is not supported");
      v.normal_form = type == "NFC" ? NormalForm::kNfc : type == "NFKC" ? NormalForm::kNfkc
                      : type == "NFD" ? NormalForm::kNfd : NormalForm::kNfkd;
    } else if (type == "Precompiled") {
      // T5 / ALBERT / XLM-R files: SentencePiece's compiled character map (a double-array
      // trie of replacements), which weft does not interpret; approximating it by NFKC
      // would tokenize some texts differently.
      return UnimplementedError(
          "normalizer 'Precompiled' (SentencePiece's compiled character map, as in T5/ALBERT/XLM-R files) is not "
          "supported; the Unigram model itself is");
    } else {
      return UnimplementedError("normalizer type '" + type + "' is not supported");
    }
    return Status();
  }
};

// tokenizer_config.json gives special tokens as "text" or {"content": "text", ...}.
std::optional<std::string> TokenText(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return std::nullopt;
}

Status ParseInto(const json& tj, const json& cfg, Vocabulary& v) {
  if (!tj.is_object() || !tj.contains("model")) return InvalidArgumentError("no 'model' object");
  const json& model = tj["model"];
  const std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
  std::map<int64_t, std::string> by_id;
  const json& vocab = model.value("vocab", json::object());
  std::vector<float> unigram_scores;
  if (type == "Unigram") {  // [[piece, score], ...]: the id is the position
    if (!vocab.is_array()) return InvalidArgumentError("Unigram vocab is not an array of [piece, score]");
    for (const json& e : vocab) {
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
        return InvalidArgumentError("a Unigram vocab entry is not [piece, score]");
      by_id[static_cast<int64_t>(by_id.size())] = e[0].get<std::string>();
      unigram_scores.push_back(e[1].get<float>());
    }
  } else {
    if (!vocab.is_object()) return UnimplementedError("model type '" + type + "' (vocab is not an object) is not supported");
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_integer()) return InvalidArgumentError("vocab entry '" + it.key() + "' has no integer id");
      by_id[it.value().get<int64_t>()] = it.key();
    }
  }
  std::map<int64_t, std::pair<std::string, bool>> added;  // id -> (content, special)
  for (const json& a : tj.value("added_tokens", json::array()))
    added[a.value("id", int64_t{-1})] = {a.value("content", ""), a.value("special", false)};
  int64_t n = 0;
  if (!by_id.empty()) n = by_id.rbegin()->first + 1;
  if (!added.empty()) n = std::max(n, added.rbegin()->first + 1);
  if (by_id.empty() || by_id.begin()->first < 0 || (!added.empty() && added.begin()->first < 0) || n > (1 << 24))
    return InvalidArgumentError("token ids are empty, negative or too large");
  v.tokens.assign(static_cast<size_t>(n), std::string());
  v.types.assign(static_cast<size_t>(n), TokenType::kUnused);
  for (auto& [id, text] : by_id) v.tokens[id] = text, v.types[id] = TokenType::kNormal;
  for (auto& [id, a] : added)
    v.tokens[id] = a.first, v.types[id] = a.second ? TokenType::kControl : TokenType::kUserDefined;
  for (const json& a : tj.value("added_tokens", json::array())) {
    const uint8_t flags = (a.value("lstrip", false) ? kAddedLstrip : 0) | (a.value("rstrip", false) ? kAddedRstrip : 0) |
                          (a.value("single_word", false) ? kAddedSingleWord : 0);
    if (flags == 0) continue;
    if (v.added_token_flags.empty()) v.added_token_flags.assign(static_cast<size_t>(n), 0);
    v.added_token_flags[a.value("id", int64_t{0})] = flags;
  }
  std::map<std::string, int32_t> index;
  for (int32_t i = static_cast<int32_t>(n) - 1; i >= 0; --i)
    if (v.types[i] != TokenType::kUnused) index[v.tokens[i]] = i;
  auto id_of = [&](const std::string& s) { auto it = index.find(s); return it == index.end() ? -1 : it->second; };

  Parser p{v};
  WEFT_RETURN_IF_ERROR(p.Normalizer(tj.value("normalizer", json())));
  WEFT_RETURN_IF_ERROR(p.PreTokenizer(tj.value("pre_tokenizer", json())));
  const json& decoder = tj.value("decoder", json());
  if (decoder.is_object() && decoder.value("type", "") == "ByteLevel") p.byte_level = true;

  // SentencePiece-style models (BPE without ByteLevel, Unigram): byte fallback (and the
  // <0xNN> pieces as byte tokens), added tokens decoded like others, Metaspace's prefix.
  auto ReadSentencePieceOptions = [&] {
    v.byte_fallback = model.value("byte_fallback", false);
    v.unescape_added_tokens = true;
    if (p.saw_metaspace) v.add_space_prefix = p.metaspace_prefix;
    if (!v.byte_fallback) return;
    for (int32_t i = 0; i < static_cast<int32_t>(n); ++i) {
      const std::string& t = v.tokens[i];
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>') v.types[i] = TokenType::kByte;
    }
  };
  if (type == "BPE") {
    for (const json& m : model.value("merges", json::array())) {
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) return InvalidArgumentError("merge '" + s + "' has no space");
        v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        v.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        return InvalidArgumentError("a merge is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
    v.ignore_merges = model.value("ignore_merges", false);
    if (p.byte_level) {
      v.algorithm = TokenizerAlgorithm::kByteLevelBpe;
    } else {
      v.algorithm = TokenizerAlgorithm::kSentencePieceBpe;
      ReadSentencePieceOptions();
      if (v.merges.empty()) return UnimplementedError("a BPE tokenizer.json without merges is not supported");
    }
    const json& unk = model.value("unk_token", json());
    if (unk.is_string()) v.unk_id = id_of(unk.get<std::string>());
  } else if (type == "WordPiece") {
    v.algorithm = TokenizerAlgorithm::kWordPiece;
    v.continuation_prefix = model.value("continuing_subword_prefix", "##");
    v.max_word_chars = model.value("max_input_chars_per_word", 100);
    v.unk_id = id_of(model.value("unk_token", "[UNK]"));
  } else if (type == "Unigram") {
    if (p.byte_level) return UnimplementedError("a Unigram model with a ByteLevel pre-tokenizer or decoder is not supported");
    v.algorithm = TokenizerAlgorithm::kUnigram;
    v.scores = std::move(unigram_scores);
    v.scores.resize(static_cast<size_t>(n), 0.0f);  // added tokens past the vocab: never in the lattice's best path
    ReadSentencePieceOptions();
    const json& unk = model.value("unk_id", json());
    if (unk.is_number_integer()) {
      const int64_t u = unk.get<int64_t>();
      if (u < 0 || u >= n) return InvalidArgumentError(fmt::format("Unigram unk_id {} is outside the vocab", u));
      v.unk_id = static_cast<int32_t>(u);
    }
  } else {
    return UnimplementedError("tokenizer.json model type '" + type + "' is not supported (BPE, WordPiece, Unigram)");
  }
  if (v.unk_id >= 0 && v.types[v.unk_id] == TokenType::kNormal) v.types[v.unk_id] = TokenType::kUnknown;

  // BOS/EOS: the post-processor's template, then tokenizer_config.json.
  const json& post = tj.value("post_processor", json());
  auto read_template = [&](const json& pp) {
    if (!pp.is_object()) return;
    const std::string pt = pp.value("type", "");
    if (pt == "TemplateProcessing") {
      const json& single = pp.value("single", json::array());
      for (size_t i = 0; i < single.size(); ++i) {
        if (!single[i].contains("SpecialToken")) continue;
        int32_t id = id_of(single[i]["SpecialToken"].value("id", ""));
        if (i == 0) v.bos_id = id, v.add_bos = id >= 0;
        else v.eos_id = id, v.add_eos = id >= 0;
      }
    } else if (pt == "BertProcessing" || pt == "RobertaProcessing") {
      const json& cls = pp.value("cls", json::array());
      const json& sep = pp.value("sep", json::array());
      if (cls.is_array() && !cls.empty() && cls[0].is_string()) v.bos_id = id_of(cls[0].get<std::string>());
      if (sep.is_array() && !sep.empty() && sep[0].is_string()) v.eos_id = id_of(sep[0].get<std::string>());
      v.add_bos = v.bos_id >= 0, v.add_eos = v.eos_id >= 0;
    }
  };
  read_template(post);
  if (post.is_object() && post.value("type", "") == "Sequence")
    for (const json& pp : post.value("processors", json::array())) read_template(pp);
  if (v.algorithm == TokenizerAlgorithm::kWordPiece) {
    v.cls_id = v.bos_id, v.sep_id = v.eos_id;
    v.mask_id = id_of("[MASK]"), v.pad_id = id_of("[PAD]");
  }
  if (cfg.is_object()) {
    if (auto t = TokenText(cfg.value("bos_token", json()))) v.bos_id = id_of(*t);
    if (auto t = TokenText(cfg.value("eos_token", json()))) v.eos_id = id_of(*t);
    if (auto t = TokenText(cfg.value("pad_token", json()))) v.pad_id = id_of(*t);
    if (auto t = TokenText(cfg.value("unk_token", json()))) v.unk_id = id_of(*t);
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) v.add_bos = cfg["add_bos_token"].get<bool>();
    if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()) v.add_eos = cfg["add_eos_token"].get<bool>();
  }
  if (v.bos_id < 0) v.add_bos = false;
  if (v.eos_id < 0) v.add_eos = false;
  return v.Validate();
}

}  // namespace

StatusOr<Vocabulary> ParseTokenizerJson(const std::string& tokenizer_json, const std::string& config_json,
                                        const std::string& source_name) {
  Vocabulary v;
  v.source = source_name;
  v.pre = "tokenizer.json";
  json tj = json::parse(tokenizer_json, nullptr, /*allow_exceptions=*/false);
  if (tj.is_discarded()) return InvalidArgumentError(source_name + ": not valid JSON");
  json cfg;
  if (!config_json.empty()) {
    cfg = json::parse(config_json, nullptr, false);
    if (cfg.is_discarded()) return InvalidArgumentError(source_name + ": tokenizer_config.json is not valid JSON");
  }
  Status s;
  try {
    s = ParseInto(tj, cfg, v);
  } catch (const json::exception& e) {  // a field of the wrong JSON type
    s = InvalidArgumentError(std::string("unexpected JSON: ") + e.what());
  }
  if (!s.ok()) return std::move(s).WithContext(source_name);
  return v;
}

StatusOr<Vocabulary> LoadVocabularyFromTokenizerJson(const std::string& tokenizer_json_path,
                                                     const std::string& tokenizer_config_path) {
  WEFT_ASSIGN_OR_RETURN(std::string tj, ReadFileToString(tokenizer_json_path));
  std::string cfg;
  if (!tokenizer_config_path.empty()) {
    WEFT_ASSIGN_OR_RETURN(cfg, ReadFileToString(tokenizer_config_path));
  }
  return ParseTokenizerJson(tj, cfg, tokenizer_json_path);
}

}  // namespace weft
