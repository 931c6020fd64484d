// Declarations shared by the avx2/ translation units (no intrinsics here; include only
// from avx2/*.cc).
#pragma once

#include "kernels/kernel_table.h"

namespace weft::kernels::avx2 {

int MatMulActBlock(DType type);
void QuantizeAct(const float* x, int64_t k, int block, QuantActRow out);
void MatMulRows(const MatMulArgs& args, int64_t n_begin, int64_t n_end);
// KernelTable::matmul_panel for the types in kPanelTypes (matmul_panel16_avx2.cc).
inline constexpr PanelTypeSet kPanelTypes = PanelTypeBit(DType::kQ4_0) | PanelTypeBit(DType::kQ8_0);
void MatMulPanel16(const MatMulArgs& args, int64_t n_begin, int64_t n_end);
// MatMulRows for the types in kPanelTypes: the rows packed to Panel16 on the fly, then
// MatMulPanel16's kernel (so that both layouts give bit-identical results).
void MatMulRowsViaPanel(const MatMulArgs& args, int64_t n_begin, int64_t n_end);
// KernelTable::attention (attention_avx2.cc).
void AttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n_tiles);

}  // namespace weft::kernels::avx2
