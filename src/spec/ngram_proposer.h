// NgramProposer: prompt-lookup decoding (Saxena 2023; "Inference with Reference", Yang et
// al. 2023). The last n tokens of the sequence (n from max_ngram down to min_ngram) are
// searched for earlier in the prompt + output; the tokens that followed the most recent
// earlier occurrence are the draft (where they run into the end of the sequence, the
// repetition goes on: "a b a b a" drafts "b a b ..."). No model: it wins where the output copies its input
// (editing, quoting, code, repetition) and costs a scan of the last `window` tokens.
// As a tree (ProposeTree, `--spec tree:ngram`): the continuations of up to max_branches
// earlier occurrences (longest n first, most recent first within an n) merged into a trie
// within the node budget; the first one (what Propose drafts) is the first-child chain,
// so the tree holds the chain and adds the alternatives where earlier occurrences went on
// differently.
#pragma once

#include "spec/proposer.h"

namespace weft {

struct NgramProposerOptions {
  int32_t min_ngram = 1;
  int32_t max_ngram = 4;
  int32_t window = 4096;  // search at most this many tokens back
  int32_t max_branches = 8;  // ProposeTree: occurrences merged into the tree at most
};

class NgramProposer final : public Proposer {
 public:
  explicit NgramProposer(NgramProposerOptions options = {});
  void Propose(std::span<const int32_t> tokens, int32_t num_prompt_tokens, int32_t max_draft,
               std::vector<int32_t>& draft) override;
  void ProposeTree(std::span<const int32_t> tokens, int32_t num_prompt_tokens, int32_t max_depth, int32_t max_nodes,
                   std::vector<int32_t>& draft, std::vector<int32_t>& parent) override;
  std::string name() const override { return "ngram"; }

 private:
  NgramProposerOptions options_;
};

}  // namespace weft
