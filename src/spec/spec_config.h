// SpecConfig: which proposer speculative decoding uses and how far it drafts, as given by
// `--spec` (ngram[:K]); ParseSpecConfig reads that text, MakeProposer builds the proposer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "spec/proposer.h"
#include "weft/status.h"

namespace weft {

enum class SpecMethod : uint8_t { kNone, kNgram };

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
  bool enabled() const { return method != SpecMethod::kNone; }
};

// "ngram", "ngram:K" (1 <= K <= 16), "none"/"off"/"" (no speculation). InvalidArgument
// naming the flag otherwise.
StatusOr<SpecConfig> ParseSpecConfig(std::string_view text);
std::string SpecConfigName(const SpecConfig& config);  // "ngram:4", or "off"
std::unique_ptr<Proposer> MakeProposer(const SpecConfig& config);  // nullptr when off

}  // namespace weft
