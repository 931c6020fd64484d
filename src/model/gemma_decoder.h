// The Gemma decoder (Gemma 2 and 3), as a Model. Differences from the dense decoder:
//   x = embed(tokens) * sqrt(n_embd)
//   per layer: h = rmsnorm(x) ; q,k,v ; q,k = rmsnorm per head (Gemma 3) ; rope (NeoX;
//              Gemma 3's sliding-window layers with their own base) ; attention over the
//              layer's window (Gemma 2: every other layer; Gemma 3: five in six), scores
//              scaled by query_pre_attn_scalar^-1/2 and soft-capped (Gemma 2) ;
//              x += rmsnorm(a Wo)            (post-attention norm)
//              x += rmsnorm((gelu_tanh(h Wgate) * h Wup) Wdown)  (pre and post FFN norms)
//   logits = rmsnorm(x[rows]) Wout (tied), soft-capped (Gemma 2)
// Norm weights are used as stored: GGUF files hold Gemma's (1 + w) already.
#pragma once

#include <memory>
#include <string_view>

#include "model/bind_options.h"
#include "model/model.h"
#include "weft/status.h"

namespace weft {

// Binds the file's weights (the llama layout plus post_attention_norm and post_ffw_norm
// in every layer, checked here) as a Gemma decoder named `arch`, with `config`: the
// file's, completed by the architecture (window pattern, rope bases, score scale).
StatusOr<std::shared_ptr<const Model>> BindGemmaDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        ModelConfig config, const BindOptions& options);

}  // namespace weft
