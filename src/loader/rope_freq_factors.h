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

// LongRoPE (Phi-3-128k, Phi-3.5) gives the divisors as two sets, "short" for contexts up
// to original_context and "long" beyond (GGUF: tensors rope_factors_short/long.weight;
// config.json: rope_scaling.short_factor/long_factor), and a multiplier on cos and sin
// (RopeScaling::yarn_attn_factor). The set is chosen once per model by the context it
// runs, as llama.cpp does (its n_ctx against the original context), not per sequence as
// transformers does: every token of every sequence then sees the same rotation, so the KV
// cache stays valid as a sequence grows past original_context and batch invariance holds.
// weft runs a model at its whole trained context (ModelConfig::context_length), so a
// 128k model takes the long set.
bool LongRopeUsesLongFactors(const RopeScaling& scaling, int64_t context_length);

}  // namespace weft
