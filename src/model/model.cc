#include "model/model.h"

#include <fmt/format.h>

namespace weft {

StatusOr<std::shared_ptr<const Model>> Model::WithoutLayers(std::span<const int64_t> skip) const {
  (void)skip;
  return UnimplementedError(fmt::format("the {} architecture does not run with layers skipped (self-speculative "
                                        "drafting is for the dense decoders: llama, qwen2, qwen3)",
                                        std::string(architecture())));
}

}  // namespace weft
