// Per-pair RoPE frequency divisors (kernels::RopeParams::freq_factors) that Llama 3.1's
// "llama3" rope scaling defines from the config: a pair whose wavelength
// (2 pi / frequency, in positions) is shorter than original_context / high_freq_factor
// keeps its frequency (divisor 1); one longer than original_context / low_freq_factor is
// slowed by `factor`; in between the frequency blends the two:
//   smooth = (original_context / wavelength - low_freq_factor) / (high - low)
//   divisor = 1 / ((1 - smooth) / factor + smooth)
// GGUF files made from such models carry the same numbers as the tensor
// rope_freqs.weight, which LlamaWeights prefers when present.
#pragma once

#include <vector>

#include "loader/model_config.h"

namespace weft {

// [rope_dim / 2] divisors for pair i with base frequency theta^(-2i / rope_dim).
std::vector<float> Llama3RopeFreqFactors(const RopeScaling& scaling, int rope_dim, float theta);

}  // namespace weft
