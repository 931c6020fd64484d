// SpecConfig: which proposer speculative decoding uses and how far it drafts, as given by
// `--spec` (ngram[:K], draft:MODEL[:K], self:LAYERS[:K], tree:PROPOSER[:K[:NODES]]); ParseSpecConfig reads that text,
// MakeProposer builds the proposer (loading a draft model, or binding the target with
// layers skipped).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kv_type.h"
#include "model/model.h"
#include "spec/proposer.h"
#include "tokenizer/tokenizer.h"
#include "weft/status.h"

namespace weft {

enum class SpecMethod : uint8_t {
  kNone,
  kNgram,  // prompt lookup (spec/ngram_proposer.h)
  kDraft,  // a smaller model with the same vocabulary (spec/draft_model_proposer.h)
  kSelf,   // the target with layers skipped (Draft & Verify; Model::WithoutLayers)
};

struct SpecConfig {
  SpecMethod method = SpecMethod::kNone;
  int32_t num_draft = 4;  // draft tokens per sequence and step at most (K)
  // The draft length of each sequence adapts to its recent acceptance within
  // [1, num_draft], and the engine drafts less when the batch is large (see EngineCore).
  bool adaptive = true;
  // Back-off under load: drafts are proposed only while the decoding sequences plus their
  // draft tokens stay within this many tokens per step (past it a CPU forward pass is
  // compute-bound and verification stops being nearly free).
  int32_t max_batch_tokens = 32;
  // Measure and decide: decode speed with and without drafting, compared now and then;
  // drafting stays off while it is slower (spec/spec_governor.h). `--spec-governor off`.
  bool governor = true;
  // Token trees (sched/draft_tree.h, `tree:ngram|draft:MODEL|self:LAYERS[:K[:NODES]]`): the proposer drafts a
  // tree of at most tree_nodes nodes (1..63) and depth num_draft; the target verifies it
  // in one pass and the longest accepted path is kept (EngineCore::SampleEntry).
  bool tree = false;
  int32_t tree_nodes = 16;
  // Staged speculation (Spector & Re 2023), `staged:MODEL[:K]`: the draft model's own
  // decoding is sped up by n-gram guesses it verifies itself (spec/draft_model_proposer.h);
  // its drafts are the same, in fewer draft passes. kDraft only.
  bool staged = false;
  std::string draft_model;           // kDraft: a path or name as OpenModel takes it
  std::vector<int64_t> skip_layers;  // kSelf: the target's layers the draft skips (sorted)
  bool enabled() const { return method != SpecMethod::kNone; }
};

// "ngram[:K]", "draft:MODEL[:K]" (MODEL may hold ':', as hf:owner/repo; a last ':'
// segment of digits is K), "staged:MODEL[:K]" (a draft model whose own drafting is
// speculated by n-grams), "self:LAYERS[:K]" (LAYERS: "3,5,7-9", layer indices to skip),
// with 1 <= K <= 16; "tree:ngram[:K[:NODES]]", "tree:draft:MODEL[:K[:NODES]]",
// "tree:staged:MODEL[:K[:NODES]]", "tree:self:LAYERS[:K[:NODES]]" (a token tree of at most NODES nodes, 1..63, default 16,
// depth K); "none"/"off"/"" (no speculation). InvalidArgument naming the flag
// otherwise.
StatusOr<SpecConfig> ParseSpecConfig(std::string_view text);
std::string SpecConfigName(const SpecConfig& config);  // "ngram:4", "tree:ngram:4:16", "draft:stories260K:4", or "off"
// "3,5,7-9" style text of a sorted layer set.
std::string LayerSetText(const std::vector<int64_t>& layers);

// What a model-backed proposer needs of the engine it serves.
struct ProposerEnv {
  std::shared_ptr<const Model> target;
  std::shared_ptr<const Tokenizer> tokenizer;  // the target's
  int threads = 0;
  int block_size = 16;
  int32_t max_model_len = 0;
  int32_t max_seqs = 64;
  int32_t max_tokens_per_step = 512;
  kernels::KvTypes kv_type = kernels::KvType::kF16;
};

// nullptr when off. Errors: the draft model cannot be opened, its vocabulary differs from
// the target's (size, a piece, BOS/EOS: named), the layer set is invalid for the target.
StatusOr<std::unique_ptr<Proposer>> MakeProposer(const SpecConfig& config, const ProposerEnv& env);
// The stateless proposers only (ngram); nullptr for the others and off.
std::unique_ptr<Proposer> MakeProposer(const SpecConfig& config);

// OK when `draft` can draft for `target`: the same vocabulary size in the model and the
// tokenizer, the same piece for every id, the same BOS and EOS. Else InvalidArgument
// naming the first difference.
Status CheckSameVocabulary(const Model& target, const Tokenizer& target_tok, const Model& draft,
                           const Tokenizer& draft_tok);

}  // namespace weft
