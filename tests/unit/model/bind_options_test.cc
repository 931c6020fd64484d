// BindOptions::DefaultPanelTypes: WEFT_WEIGHT_LAYOUT when set, else the types the kernel
// table WEFT_ISA selects has Panel16 kernels for (the others must keep the file's rows).
#include <gtest/gtest.h>

#include <algorithm>
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
    const kernels::KernelTable& table = *kernels::GetKernelTable(i);
    // A table names panel types only with a kernel to read them, and only types the layout has.
    EXPECT_TRUE(table.panel_types == 0 || table.matmul_panel != nullptr) << kernels::IsaName(i);
    EXPECT_EQ(table.panel_types & ~kernels::kAllPanelTypes, 0u) << kernels::IsaName(i) << ": a type the layout lacks";
    EXPECT_EQ(BindOptions::DefaultPanelTypes(), table.panel_types) << kernels::IsaName(i);
    setenv("WEFT_WEIGHT_LAYOUT", "rows", 1);
    EXPECT_EQ(BindOptions::DefaultPanelTypes(), 0u) << kernels::IsaName(i);
    setenv("WEFT_WEIGHT_LAYOUT", "panel16", 1);
    EXPECT_EQ(BindOptions::DefaultPanelTypes(), kernels::kAllPanelTypes) << kernels::IsaName(i);
    unsetenv("WEFT_WEIGHT_LAYOUT");
    ++checked;
  }
  EXPECT_GE(checked, 1);
  // The scalar table never reads panels; AVX2 reads Q4_0 and Q8_0 ones, AVX-512 every type.
  setenv("WEFT_ISA", "scalar", 1);
  EXPECT_EQ(BindOptions::DefaultPanelTypes(), 0u);
  if (kernels::GetKernelTable(kernels::Isa::kAvx2) != nullptr) {
    setenv("WEFT_ISA", "avx2", 1);
    EXPECT_EQ(BindOptions::DefaultPanelTypes(), kernels::PanelTypeBit(DType::kQ4_0) | kernels::PanelTypeBit(DType::kQ8_0));
  }
}

}  // namespace
}  // namespace weft

namespace weft {
namespace {

// VocabSlice (model/bind_options.h): the ranks' rows tile [0, n_vocab) in order, every cut
// is on a 64-row bound (so each part packs into the whole matrix's 16-row panels), the
// parts are as even as those bounds allow, and tiny vocabularies leave later ranks empty
// rather than cutting off the end.
TEST(VocabSliceTest, TilesTheVocabularyOnPanelBounds) {
  for (const int64_t V : {8, 63, 64, 65, 512, 32000, 49152, 128256, 151936, 152064}) {
    for (const int tp : {1, 2, 3, 4, 8}) {
      int64_t next = 0, largest = 0, smallest_nonlast = V;
      for (int r = 0; r < tp; ++r) {
        const LayerRange s = VocabSlice(V, tp, r);
        EXPECT_EQ(s.first, next) << "V " << V << " tp " << tp << " rank " << r;
        EXPECT_GE(s.count, 0);
        if (r < tp - 1 && s.first + s.count < V) {
          EXPECT_EQ((s.first + s.count) % 64, 0) << "V " << V << " tp " << tp << " rank " << r;
          smallest_nonlast = std::min(smallest_nonlast, s.count);
        }
        largest = std::max(largest, s.count);
        next = s.first + s.count;
      }
      EXPECT_EQ(next, V) << "V " << V << " tp " << tp;
      // No rank holds more than its even share rounded up to a panel bound.
      EXPECT_LE(largest, ((V + tp - 1) / tp + 63) / 64 * 64) << "V " << V << " tp " << tp;
    }
  }
  EXPECT_EQ(VocabSlice(128256, 2, 0).count, 64128);
  EXPECT_EQ(VocabSlice(128256, 2, 1).first, 64128);
  EXPECT_EQ(VocabSlice(8, 2, 1).count, 0);  // 8 rows: one panel bound, all on rank 0
}

}  // namespace
}  // namespace weft
