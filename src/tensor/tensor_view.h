// TensorView: a non-owning view of a tensor's bytes (usually inside a memory-mapped
// model file). Dimensions follow GGUF/GGML order: ne[0] is the innermost, contiguous
// dimension (the row length), so a matrix with ne = {in, out} is `out` rows of `in`
// elements, stored row-major, exactly like a PyTorch [out, in] weight.
// Ownership: the view borrows; whoever produced it (a ModelFile) keeps the bytes alive.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace weft {

// How a matrix's bytes are arranged. kRows: n rows of whole blocks, as in the file.
// kPanel16: repacked at load for the matmul kernels, 16 rows interleaved per group (see
// kernels/panel_layout.h); data/nbytes then cover the packed bytes.
enum class TensorLayout : uint8_t { kRows, kPanel16 };

struct TensorView {
  static constexpr int kMaxDims = 4;

  std::string name;                    // weft/GGUF name, e.g. "blk.0.attn_q.weight"
  DType type = DType::kF32;
  int n_dims = 0;
  std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};  // unused trailing dims are 1
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  TensorLayout layout = TensorLayout::kRows;

  int64_t NumElements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t NumRows() const { return ne[1] * ne[2] * ne[3]; }
  // False when ne[0] is not a multiple of the block size, so that blocks run across
  // rows (seen in some old Q8_0 files); row-wise kernels cannot use such a tensor as is.
  bool RowsAreBlockAligned() const { return ne[0] % GetDTypeInfo(type).block_size == 0; }
  // "[64, 512]"
  std::string ShapeString() const;
};

// Dequantises the whole tensor (any dequantizable type) into dst[0..NumElements()).
void DequantizeTensor(const TensorView& t, float* dst);

}  // namespace weft
