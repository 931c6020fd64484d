#include "model/bind_options.h"

#include <cstdlib>
#include <string_view>

#include "kernels/kernel_table.h"

namespace weft {

bool BindOptions::DefaultPackPanels() {
  const char* v = std::getenv("WEFT_WEIGHT_LAYOUT");
  if (v != nullptr) return std::string_view(v) != "rows";
  // Only tables with Panel16 kernels (AVX-512) gain from the layout; the others would
  // unpack the panels back into rows on every call (10x slower decode on an AVX2 run).
  auto table = kernels::SelectKernelTable();
  return table.ok() && (*table)->matmul_panel != nullptr;
}

}  // namespace weft
