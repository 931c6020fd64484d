// Checks that a llama-family model's weights are all there with the shapes its config
// implies, so that a config/weights mismatch is a clear load-time error instead of a
// crash or garbage at run time. Shared by every loader (GGUF, safetensors, llama2.c).
// Thread-safety: pure function.
#pragma once

#include <string_view>
#include <vector>

#include "loader/model_config.h"
#include "tensor/tensor_view.h"
#include "weft/status.h"

namespace weft {

// Expects (GGUF order, ne[0] first; see loader/model_file.h for the names):
//   token_embd.weight [n_embd, n_vocab]      output_norm.weight [n_embd]
//   output.weight [n_embd, n_vocab]          (required unless config.tied_embeddings)
//   per layer N, blk.N.:
//     attn_norm.weight, ffn_norm.weight [n_embd]
//     attn_q.weight [n_embd, n_head*head_dim]  attn_k/attn_v.weight [n_embd, n_head_kv*head_dim]
//     attn_output.weight [n_head*head_dim, n_embd]
//     ffn_gate/ffn_up.weight [n_embd, n_ff]   ffn_down.weight [n_ff, n_embd]
//       or, for a mixture of experts (config.n_expert > 0; ff = ExpertFf(), E = n_expert):
//       ffn_gate_inp.weight [n_embd, E] (the router);
//       ffn_gate_exps/ffn_up_exps.weight [n_embd, ff, E]  ffn_down_exps.weight [ff, n_embd, E],
//       or per expert e: ffn_gate.e/ffn_up.e.weight [n_embd, ff]  ffn_down.e.weight [ff, n_embd];
//       with a shared expert (n_ff_shared_expert = sff > 0): ffn_gate_inp_shexp.weight
//       [n_embd], ffn_gate_shexp/ffn_up_shexp.weight [n_embd, sff], ffn_down_shexp.weight [sff, n_embd]
//     attn_{q,k,v}.bias [rows]  when attn_qkv_bias;  attn_output.bias [n_embd] when attn_output_bias
//     attn_q_norm/attn_k_norm.weight [head_dim] when qk_norm
// A missing tensor is NotFound; a wrong shape or a duplicate name is DataLoss. Messages
// start with `source` and name the tensor with its expected and actual shapes.
// Extra tensors are not an error.
Status CheckLlamaWeights(const ModelConfig& config, const std::vector<TensorView>& tensors,
                         std::string_view source);

}  // namespace weft
