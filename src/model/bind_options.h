// BindOptions: how an architecture binds a model file's weights for the kernels (see
// model/model_registry.h, BindModel). Plain data.
#pragma once

namespace weft {

struct BindOptions {
  // Repack matrices of the types Panel16 supports into it. Default: WEFT_WEIGHT_LAYOUT
  // (rows or panel16) when set, else whether the selected kernel table (WEFT_ISA or the
  // best this CPU runs) has Panel16 kernels.
  bool pack_panels = DefaultPackPanels();
  static bool DefaultPackPanels();
};

}  // namespace weft
