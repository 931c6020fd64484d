#include "model/bind_options.h"

#include <cstdlib>
#include <string_view>

#include "kernels/kernel_table.h"

namespace weft {

kernels::PanelTypeSet BindOptions::DefaultPanelTypes() {
  const char* v = std::getenv("WEFT_WEIGHT_LAYOUT");
  if (v != nullptr) return std::string_view(v) == "rows" ? 0 : kernels::kAllPanelTypes;
  // Only the types the table has Panel16 kernels for gain from the layout; the others
  // would be unpacked back into rows on every call (10x slower decode).
  auto table = kernels::SelectKernelTable();
  return table.ok() ? (*table)->panel_types : 0;
}

}  // namespace weft
