// Declarations shared by the avx512/ translation units (no intrinsics here; include only
// from avx512/*.cc).
#pragma once

#include "kernels/kernel_table.h"

namespace weft::kernels::avx512 {

int MatMulActBlock(DType type);
void QuantizeAct(const float* x, int64_t k, int block, QuantActRow out);
void MatMulRows(const MatMulArgs& args, int64_t n_begin, int64_t n_end);
void MatMulPanel16(const MatMulArgs& args, int64_t n_begin, int64_t n_end);  // every Panel16 type
void MatMulPanel16KQuant(const MatMulArgs& args, int64_t n_begin, int64_t n_end);  // Q4_K, Q6_K
void MatMulPanel16Float(const MatMulArgs& args, int64_t n_begin, int64_t n_end);  // F16, BF16
// KernelTable::attention (attention_avx512.cc).
void AttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n_tiles);

}  // namespace weft::kernels::avx512
