// BindOptions: how an architecture binds a model file's weights for the kernels (see
// model/model_registry.h, BindModel). Plain data.
#pragma once

#include <algorithm>

#include <cstdint>

#include "kernels/panel_layout.h"

namespace weft {

struct BindOptions {
  // The matrix types to repack into Panel16 (kernels/panel_layout.h). Default:
  // WEFT_WEIGHT_LAYOUT=rows: none; =panel16: every type Panel16 supports; unset: the types
  // the selected kernel table (WEFT_ISA or the best this CPU runs) has Panel16 kernels for.
  kernels::PanelTypeSet panel_types = DefaultPanelTypes();
  // A mixture of experts only: > 0 keeps the experts in the model file and at most this
  // many bytes of them in memory, the most recently used (model/expert_cache.h;
  // `--expert-cache-mem`). 0: every expert resident, as other weights.
  int64_t expert_cache_bytes = 0;
  // Tensor parallelism (model/tp_decoder.h, `--tp`): this process is rank tp_rank of
  // tp_size and binds only its slice of the split matrices. tp_size 1: the whole model.
  int tp_size = 1;
  int tp_rank = 0;
  // Pipeline parallelism (model/tp_decoder.h, `--pp`): this process holds stage pp_stage
  // of pp_size, a contiguous range of layers (PipelineStageLayers); the embedding lives on
  // stage 0, the final norm and output head on the last. pp_size 1: every layer here.
  // Under both, MPI rank = pp_stage * tp_size + tp_rank.
  int pp_size = 1;
  int pp_stage = 0;
  // Micro-batches a step is cut into so that the stages overlap (GPipe-style); 0 = as
  // many as stages, 1 = no cutting (one batch flows through the stages in turn).
  int pp_micro_batches = 0;
  static kernels::PanelTypeSet DefaultPanelTypes();
};

// The layers of pipeline stage `stage` of `stages` over a model of `n_layer` layers:
// [first, first + count), contiguous, the counts differing by at most one (the earlier
// stages get the extra layers). stages must be in [1, n_layer].
struct LayerRange {
  int64_t first = 0;
  int64_t count = 0;
};
inline LayerRange PipelineStageLayers(int64_t n_layer, int stages, int stage) {
  const int64_t base = n_layer / stages, extra = n_layer % stages;
  const int64_t first = stage * base + (stage < extra ? stage : extra);
  return {first, base + (stage < extra ? 1 : 0)};
}

// Tensor parallelism's vocabulary-parallel output head: tensor rank `rank` of `tp` holds
// the output rows (vocabulary entries) [first, first + count). The cuts fall on multiples
// of 64 rows, so that every rank's part packs into the same 16-row panels as the whole
// matrix (each logit is computed exactly as without --tp); the last rank takes the rest.
// A rank may hold no rows when n_vocab < 64 * tp.
inline LayerRange VocabSlice(int64_t n_vocab, int tp, int rank) {
  const int64_t per = (n_vocab + tp - 1) / tp;
  const int64_t chunk = (per + 63) / 64 * 64;
  const int64_t first = std::min<int64_t>(n_vocab, chunk * rank);
  const int64_t last = rank == tp - 1 ? n_vocab : std::min<int64_t>(n_vocab, chunk * (rank + 1));
  return {first, last - first};
}

}  // namespace weft
