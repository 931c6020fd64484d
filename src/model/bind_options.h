// BindOptions: how an architecture binds a model file's weights for the kernels (see
// model/model_registry.h, BindModel). Plain data.
#pragma once

#include <cstdint>

namespace weft {

struct BindOptions {
  // Repack matrices of the types Panel16 supports into it. Default: WEFT_WEIGHT_LAYOUT
  // (rows or panel16) when set, else whether the selected kernel table (WEFT_ISA or the
  // best this CPU runs) has Panel16 kernels.
  bool pack_panels = DefaultPackPanels();
  // A mixture of experts only: > 0 keeps the experts in the model file and at most this
  // many bytes of them in memory, the most recently used (model/expert_cache.h;
  // `--expert-cache-mem`). 0: every expert resident, as other weights.
  int64_t expert_cache_bytes = 0;
  // Tensor parallelism (model/tp_decoder.h, `--tp`): this process is rank tp_rank of
  // tp_size and binds only its slice of the split matrices. tp_size 1: the whole model.
  int tp_size = 1;
  int tp_rank = 0;
  static bool DefaultPackPanels();
};

}  // namespace weft
