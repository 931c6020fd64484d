// BindOptions::DefaultPackPanels: WEFT_WEIGHT_LAYOUT when set, else whether the kernel
// table WEFT_ISA selects has Panel16 kernels (an AVX2 run must keep the file's rows).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kernels/kernel_table.h"
#include "model/llama_weights.h"

namespace weft {
namespace {

class ScopedEnv {
 public:
  explicit ScopedEnv(const char* name) : name_(name) {
    const char* v = std::getenv(name);
    had_ = v != nullptr;
    if (had_) saved_ = v;
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, saved_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string saved_;
};

TEST(BindOptionsTest, PanelsOnlyForKernelTablesThatReadThem) {
  ScopedEnv isa("WEFT_ISA"), layout("WEFT_WEIGHT_LAYOUT");
  unsetenv("WEFT_WEIGHT_LAYOUT");
  int checked = 0;
  for (kernels::Isa i : kernels::AvailableIsas()) {
    setenv("WEFT_ISA", kernels::IsaName(i), 1);
    const bool has_panel_kernels = kernels::GetKernelTable(i)->matmul_panel != nullptr;
    EXPECT_EQ(BindOptions::DefaultPackPanels(), has_panel_kernels) << kernels::IsaName(i);
    setenv("WEFT_WEIGHT_LAYOUT", "rows", 1);
    EXPECT_FALSE(BindOptions::DefaultPackPanels()) << kernels::IsaName(i);
    setenv("WEFT_WEIGHT_LAYOUT", "panel16", 1);
    EXPECT_TRUE(BindOptions::DefaultPackPanels()) << kernels::IsaName(i);
    unsetenv("WEFT_WEIGHT_LAYOUT");
    ++checked;
  }
  EXPECT_GE(checked, 1);
  // The scalar table never reads panels (the AVX-512 one does, where the CPU has it).
  setenv("WEFT_ISA", "scalar", 1);
  EXPECT_FALSE(BindOptions::DefaultPackPanels());
}

}  // namespace
}  // namespace weft
