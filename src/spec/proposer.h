// Proposer: drafts the next tokens of a sequence for speculative decoding; the engine
// verifies them with the target model (EngineCore, SequenceSampler::Verify), so a proposer
// decides only speed, never the output distribution. A proposer is deterministic given the
// tokens (q is a point mass on each draft token, which is what Verify's rule assumes).
//
// Adding a proposer = one new file implementing Proposer + a case in MakeProposer
// (spec/spec_config.cc) + its test.
// Thread-safety: used by the engine thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace weft {

class Proposer {
 public:
  virtual ~Proposer() = default;
  // Appends at most `max_draft` tokens predicted to follow `tokens` (the sequence's prompt
  // then its generated tokens; the first num_prompt_tokens are the prompt) to `draft`,
  // which the caller cleared. Appending nothing is always allowed (no speculation this step).
  virtual void Propose(std::span<const int32_t> tokens, int32_t num_prompt_tokens, int32_t max_draft,
                       std::vector<int32_t>& draft) = 0;
  virtual std::string name() const = 0;
};

}  // namespace weft
