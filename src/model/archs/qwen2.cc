// "qwen2": Qwen2 and Qwen2.5; the dense decoder with biases on q, k and v and NeoX-style
// rope (the loader sets attn_qkv_bias and the rope style from the file).
#include <fmt/format.h>

#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindQwen2(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  if (!file->config().attn_qkv_bias) {
    return InvalidArgumentError("a qwen2 model needs q/k/v biases (attn_q.bias ...), and this file has none");
  }
  return BindDenseDecoder("qwen2", std::move(file), options);
}

}  // namespace

WEFT_ARCHITECTURE(qwen2) { RegisterArchitecture({"qwen2", "Qwen2, Qwen2.5", &BindQwen2}); }

}  // namespace weft
