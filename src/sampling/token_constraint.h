// TokenConstraint: the hook through which structured output (src/grammar) restricts one
// sequence's sampling. The sampler asks for the allowed tokens before temperature /
// top-k / top-p (every other token's logit becomes -inf) and reports the token drawn;
// speculative decoding rolls rejected tokens back.
//
// One object per sequence; used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace weft {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Writes the allowed tokens of the next step into `bits` (n_vocab bits, token i is bit
  // i % 64 of word i / 64; (n_vocab + 63) / 64 words).
  virtual void FillMask(std::span<uint64_t> bits) = 0;
  // Advances over `token`; false (and no change) if the constraint does not allow it.
  virtual bool Accept(int32_t token) = 0;
  // Undoes the last n accepted tokens.
  virtual void Rollback(int n) = 0;
  // Whether the output so far is a complete match (an end token is allowed now).
  virtual bool CanEnd() const = 0;
  // A complete match that no token can extend: the sample is done (the engine stops it
  // with finish_reason "stop" without sampling an end token).
  virtual bool Complete() const = 0;
};

// Makes one TokenConstraint per sequence of a request (n > 1 samples each get their own).
class TokenConstraintFactory {
 public:
  virtual ~TokenConstraintFactory() = default;
  virtual std::unique_ptr<TokenConstraint> NewConstraint() const = 0;
};

}  // namespace weft
