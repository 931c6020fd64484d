// SamplingParams: how one request turns logits into tokens, with the OpenAI/vLLM
// meanings. Plain data, validated by Validate() (the server maps its error to a 400
// naming the field).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "weft/status.h"

namespace weft {

struct SamplingParams {
  float temperature = 1.0f;          // 0 = greedy (argmax)
  int top_k = 0;                     // keep the k most likely; 0 = off
  float top_p = 1.0f;                // keep the smallest set with cumulative probability >= top_p
  float min_p = 0.0f;                // drop tokens with p < min_p * p(max)
  float repetition_penalty = 1.0f;   // > 1 discourages tokens already in prompt or output (CTRL style)
  float presence_penalty = 0.0f;     // - presence * [token appeared in the output]
  float frequency_penalty = 0.0f;    // - frequency * count in the output
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logit of the token
  std::optional<uint64_t> seed;      // reproducible sampling for this request, whatever the batch
  int logprobs = -1;                 // -1: none; 0: the chosen token's; k: plus the top-k alternatives
  int max_tokens = 16;
  int min_tokens = 0;                // EOS and stop ids are masked until this many are generated
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop;     // stop strings, matched in the detokenised text
  // The stop string, or the text of the stop token (EOS or a stop_token_ids entry), that
  // ended the sample is part of its text (vLLM's include_stop_str_in_output).
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;   // control tokens render as nothing (else as their text)
  int n = 1;                         // samples per prompt

  // InvalidArgument naming the field (in the message and as Status::field()), e.g.
  // "temperature must be in [0, 100]: got 300".
  Status Validate(int64_t n_vocab) const;
  bool greedy() const { return temperature <= 0.0f; }
};

}  // namespace weft
