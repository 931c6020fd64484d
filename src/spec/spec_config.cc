#include "spec/spec_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "loader/model_source.h"
#include "model/model_registry.h"
#include "spec/draft_model_proposer.h"
#include "spec/ngram_proposer.h"

namespace weft {
namespace {

bool ParseInt(std::string_view s, int64_t* v) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Status ParseLayers(std::string_view text, std::vector<int64_t>* layers) {
  const auto bad = [&] {
    return InvalidArgumentError(fmt::format("--spec self: the layers '{}' must be indices and ranges to skip, as "
                                            "'3,5,7-9'",
                                            std::string(text)));
  };
  if (text.empty()) return bad();
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    int64_t a = 0, b = 0;
    if (const size_t dash = item.find('-'); dash != std::string_view::npos) {
      if (!ParseInt(item.substr(0, dash), &a) || !ParseInt(item.substr(dash + 1), &b) || a < 0 || b < a) return bad();
    } else {
      if (!ParseInt(item, &a) || a < 0) return bad();
      b = a;
    }
    for (int64_t l = a; l <= b; ++l) layers->push_back(l);
  }
  std::sort(layers->begin(), layers->end());
  layers->erase(std::unique(layers->begin(), layers->end()), layers->end());
  return Status::Ok();
}

// Splits up to `count` trailing ':'-separated all-digit segments off `arg` (a model name
// may hold ':', as hf:owner/repo; digits at the end are the numbers): "m.gguf:4:16" with
// count 2 gives "m.gguf" and {"4", "16"}.
std::string_view SplitTrailingNumbers(std::string_view arg, int count, std::vector<std::string_view>* numbers) {
  std::string_view what = arg;
  for (int i = 0; i < count; ++i) {
    const size_t colon = what.rfind(':');
    if (colon == std::string_view::npos || !AllDigits(what.substr(colon + 1))) break;
    numbers->insert(numbers->begin(), what.substr(colon + 1));
    what = what.substr(0, colon);
  }
  return what;
}

}  // namespace

std::string LayerSetText(const std::vector<int64_t>& layers) {
  std::string s;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    if (!s.empty()) s += ',';
    s += j > i + 1 ? fmt::format("{}-{}", layers[i], layers[j])
                   : (j == i + 1 ? fmt::format("{},{}", layers[i], layers[j]) : fmt::format("{}", layers[i]));
    i = j + 1;
  }
  return s;
}

StatusOr<SpecConfig> ParseSpecConfig(std::string_view text) {
  SpecConfig c;
  if (text.empty() || text == "none" || text == "off") return c;
  std::string_view method = text, arg;
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    method = text.substr(0, colon);
    arg = text.substr(colon + 1);
  }
  // tree:ngram[:K[:NODES]], tree:draft:MODEL[:K[:NODES]], tree:self:LAYERS[:K[:NODES]]: the
  // inner proposer's text, with up to two trailing numbers.
  const bool tree = method == "tree";
  if (tree) {
    const std::string_view inner = arg;
    const size_t colon = inner.find(':');
    method = inner.substr(0, colon);
    arg = colon == std::string_view::npos ? std::string_view() : inner.substr(colon + 1);
    if (method != "ngram" && method != "draft" && method != "staged" && method != "self") {
      return InvalidArgumentError(fmt::format(
          "--spec {}: a token tree is drafted by the n-gram proposer, a draft model or the target with layers "
          "skipped: tree:ngram[:K[:NODES]], tree:draft:MODEL[:K[:NODES]], tree:staged:MODEL[:K[:NODES]] or "
          "tree:self:LAYERS[:K[:NODES]]",
          std::string(text)));
    }
    c.tree = true;
  }
  std::vector<std::string_view> numbers;  // K, then (trees) NODES
  if (method == "ngram") {
    for (std::string_view rest = arg; !rest.empty();) {
      const size_t colon = rest.find(':');
      numbers.push_back(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
    if (numbers.size() > (tree ? 2u : 1u)) {
      return InvalidArgumentError(fmt::format("--spec {}: ngram takes {}, not ':{}'", std::string(text),
                                              tree ? "[:K[:NODES]]" : "[:K]", std::string(arg)));
    }
    c.method = SpecMethod::kNgram;
  } else if (method == "draft" || method == "staged" || method == "self") {
    c.method = method == "self" ? SpecMethod::kSelf : SpecMethod::kDraft;
    c.staged = method == "staged";
    const std::string_view what = SplitTrailingNumbers(arg, tree ? 2 : 1, &numbers);
    if (what.empty()) {
      return InvalidArgumentError(fmt::format(
          "--spec {}: give the {} ('{}')", std::string(method),
          method == "self" ? (tree ? "layers to skip: tree:self:LAYERS[:K[:NODES]]" : "layers to skip: self:LAYERS[:K]")
                           : fmt::format("draft model: {}{}:MODEL{}", tree ? "tree:" : "", std::string(method),
                                         tree ? "[:K[:NODES]]" : "[:K]"),
          std::string(text)));
    }
    if (c.method == SpecMethod::kDraft) {
      c.draft_model = std::string(what);
    } else {
      WEFT_RETURN_IF_ERROR(ParseLayers(what, &c.skip_layers));
    }
  } else {
    return InvalidArgumentError(fmt::format(
        "--spec: unknown proposer '{}' (known: ngram[:K], draft:MODEL[:K], staged:MODEL[:K], self:LAYERS[:K], "
        "tree:ngram[:K[:NODES]], tree:draft:MODEL[:K[:NODES]], tree:staged:MODEL[:K[:NODES]], "
        "tree:self:LAYERS[:K[:NODES]], off)",
        std::string(method)));
  }
  if (!numbers.empty()) {
    int64_t k = 0;
    if (!ParseInt(numbers[0], &k) || k < 1 || k > 16) {
      return InvalidArgumentError(
          fmt::format("--spec: the draft length in '{}' must be an integer in [1, 16]", std::string(text)));
    }
    c.num_draft = static_cast<int32_t>(k);
  }
  if (numbers.size() > 1) {
    int64_t nodes = 0;
    if (!ParseInt(numbers[1], &nodes) || nodes < 1 || nodes > 63) {
      return InvalidArgumentError(
          fmt::format("--spec: the tree's node budget in '{}' must be an integer in [1, 63]", std::string(text)));
    }
    c.tree_nodes = static_cast<int32_t>(nodes);
  }
  return c;
}

std::string SpecConfigName(const SpecConfig& config) {
  switch (config.method) {
    case SpecMethod::kNgram:
      return config.tree ? fmt::format("tree:ngram:{}:{}", config.num_draft, config.tree_nodes)
                         : fmt::format("ngram:{}", config.num_draft);
    case SpecMethod::kDraft: {
      const char* kind = config.staged ? "staged" : "draft";
      return config.tree ? fmt::format("tree:{}:{}:{}:{}", kind, config.draft_model, config.num_draft, config.tree_nodes)
                         : fmt::format("{}:{}:{}", kind, config.draft_model, config.num_draft);
    }
    case SpecMethod::kSelf:
      return config.tree ? fmt::format("tree:self:{}:{}:{}", LayerSetText(config.skip_layers), config.num_draft,
                                       config.tree_nodes)
                         : fmt::format("self:{}:{}", LayerSetText(config.skip_layers), config.num_draft);
    case SpecMethod::kNone: break;
  }
  return "off";
}

Status CheckSameVocabulary(const Model& target, const Tokenizer& target_tok, const Model& draft,
                           const Tokenizer& draft_tok) {
  if (target.config().n_vocab != draft.config().n_vocab || target_tok.n_vocab() != draft_tok.n_vocab()) {
    return InvalidArgumentError(fmt::format(
        "the draft model's vocabulary has {} tokens ({} in its tokenizer), the target's {} ({}): a draft model must "
        "share the target's vocabulary",
        draft.config().n_vocab, draft_tok.n_vocab(), target.config().n_vocab, target_tok.n_vocab()));
  }
  for (int32_t id = 0; id < target_tok.n_vocab(); ++id) {
    if (target_tok.Piece(id) != draft_tok.Piece(id)) {
      return InvalidArgumentError(fmt::format("the draft model's token {} is '{}', the target's '{}': a draft model "
                                              "must share the target's vocabulary",
                                              id, std::string(draft_tok.Piece(id)), std::string(target_tok.Piece(id))));
    }
  }
  if (target_tok.bos_id() != draft_tok.bos_id() || target_tok.eos_id() != draft_tok.eos_id()) {
    return InvalidArgumentError(fmt::format("the draft model's BOS/EOS are {}/{}, the target's {}/{}",
                                            draft_tok.bos_id(), draft_tok.eos_id(), target_tok.bos_id(),
                                            target_tok.eos_id()));
  }
  return Status::Ok();
}

std::unique_ptr<Proposer> MakeProposer(const SpecConfig& config) {
  if (config.method == SpecMethod::kNgram) return std::make_unique<NgramProposer>();
  return nullptr;
}

StatusOr<std::unique_ptr<Proposer>> MakeProposer(const SpecConfig& config, const ProposerEnv& env) {
  if (config.method == SpecMethod::kNone || config.method == SpecMethod::kNgram) return MakeProposer(config);
  DraftModelOptions o;
  o.threads = env.threads;
  o.block_size = env.block_size;
  o.max_model_len = env.max_model_len;
  o.max_seqs = env.max_seqs;
  o.max_draft = config.num_draft;
  o.max_tokens_per_step = env.max_tokens_per_step;
  o.kv_type = env.kv_type;
  o.staged = config.staged;
  std::shared_ptr<const Model> draft;
  if (config.method == SpecMethod::kDraft) {
    const std::string& spec = config.draft_model;
    auto path = ResolveModelPath(spec, ModelSearchPaths::FromEnvironment());
    if (!path.ok()) return path.status().WithContext("--spec draft:" + spec);
    auto file = OpenModelFile(*path);
    if (!file.ok()) return file.status().WithContext("--spec draft:" + spec);
    auto model = BindModel(*file);
    if (!model.ok()) return model.status().WithContext("--spec draft:" + *path);
    auto tok = LoadTokenizer(**file);
    if (!tok.ok()) return tok.status().WithContext("--spec draft:" + *path);
    if (env.target == nullptr || env.tokenizer == nullptr) {
      return InvalidArgumentError("--spec draft: the engine has no target model and tokenizer to check against");
    }
    const Status same = CheckSameVocabulary(*env.target, *env.tokenizer, **model, **tok);
    if (!same.ok()) return same.WithContext("--spec draft:" + *path);
    draft = std::move(model).value();
  } else {
    auto model = env.target->WithoutLayers(config.skip_layers);
    if (!model.ok()) return model.status().WithContext("--spec self:" + LayerSetText(config.skip_layers));
    draft = std::move(model).value();
  }
  WEFT_ASSIGN_OR_RETURN(auto p, DraftModelProposer::Create(std::move(draft), SpecConfigName(config), o));
  return std::unique_ptr<Proposer>(std::move(p));
}

}  // namespace weft
