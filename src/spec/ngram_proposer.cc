#include "spec/ngram_proposer.h"

#include <algorithm>

namespace weft {

NgramProposer::NgramProposer(NgramProposerOptions options) : options_(options) {
  options_.min_ngram = std::max<int32_t>(1, options_.min_ngram);
  options_.max_ngram = std::max(options_.min_ngram, options_.max_ngram);
}

void NgramProposer::Propose(std::span<const int32_t> tokens, int32_t /*num_prompt_tokens*/, int32_t max_draft,
                            std::vector<int32_t>& draft) {
  const auto len = static_cast<int64_t>(tokens.size());
  if (max_draft <= 0 || len < 2) return;
  const int64_t lo = std::max<int64_t>(0, len - options_.window);
  for (int64_t n = std::min<int64_t>(options_.max_ngram, len - 1); n >= options_.min_ngram; --n) {
    const int32_t* suffix = tokens.data() + (len - n);
    // The most recent earlier occurrence: start positions i with i + n < len (so that at
    // least one token follows it), searched from the end.
    for (int64_t i = len - n - 1; i >= lo; --i) {
      if (!std::equal(suffix, suffix + n, tokens.data() + i)) continue;
      // What followed the match; where that runs into the end of the sequence, the text
      // repeats with period (len - n) - i, so the draft continues the repetition.
      const int64_t from = i + n;
      const size_t base = draft.size();
      for (int64_t j = 0; j < max_draft; ++j) {
        const int64_t at = from + j;
        draft.push_back(at < len ? tokens[static_cast<size_t>(at)] : draft[base + static_cast<size_t>(at - len)]);
      }
      return;
    }
  }
}

void NgramProposer::ProposeTree(std::span<const int32_t> tokens, int32_t /*num_prompt_tokens*/, int32_t max_depth,
                                int32_t max_nodes, std::vector<int32_t>& draft, std::vector<int32_t>& parent) {
  const auto len = static_cast<int64_t>(tokens.size());
  if (max_depth <= 0 || max_nodes <= 0 || len < 2) return;
  const int64_t lo = std::max<int64_t>(0, len - options_.window);
  std::vector<int32_t> path;  // one occurrence's continuation
  int32_t branches = 0;
  for (int64_t n = std::min<int64_t>(options_.max_ngram, len - 1); n >= options_.min_ngram; --n) {
    const int32_t* suffix = tokens.data() + (len - n);
    for (int64_t i = len - n - 1; i >= lo; --i) {
      if (!std::equal(suffix, suffix + n, tokens.data() + i)) continue;
      // The continuation, as Propose drafts it (the repetition goes on past the end).
      const int64_t from = i + n;
      path.clear();
      for (int64_t j = 0; j < max_depth; ++j) {
        const int64_t at = from + j;
        path.push_back(at < len ? tokens[static_cast<size_t>(at)] : path[static_cast<size_t>(at - len)]);
      }
      // Merge into the trie: follow the nodes that exist, add the rest while the budget lasts.
      int32_t at_node = -1;
      for (int32_t t : path) {
        int32_t child = -1;
        for (size_t c = 0; c < draft.size(); ++c) {
          if (parent[c] == at_node && draft[c] == t) {
            child = static_cast<int32_t>(c);
            break;
          }
        }
        if (child < 0) {
          if (static_cast<int32_t>(draft.size()) >= max_nodes) break;
          child = static_cast<int32_t>(draft.size());
          draft.push_back(t);
          parent.push_back(at_node);
        }
        at_node = child;
      }
      if (++branches >= options_.max_branches || static_cast<int32_t>(draft.size()) >= max_nodes) return;
    }
  }
}

}  // namespace weft
