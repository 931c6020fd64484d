// The Panel16 weight layout: a quantised matrix repacked once at load so that the matmul
// kernels read it as one sequential stream and need no shuffles. ISA-neutral (plain C++).
//
// A matrix of n rows (output columns) of k values in blocks of 32 is cut into groups of
// 16 rows (the last group padded with zero rows). Group g holds rows 16g .. 16g + 15 and
// is `PanelGroupBytes` long; groups follow each other. Inside a group, for nb = k / 32:
//   quants:  nb blocks of V vectors of 64 bytes (V = 4 for Q4_0, 8 for Q8_0); in vector v
//            of block b, bytes 4p .. 4p + 3 are quant bytes 4v .. 4v + 3 of row 16g + p's
//            block b (Q4_0: the 16 nibble-pair bytes as in the file; Q8_0: the int8
//            values plus 128, i.e. as unsigned bytes);
//   scales:  then nb runs of 16 f16 values: row 16g + p's block-b scale at 32b + 2p.
// Float matrices (F16, BF16): a group is k runs of 16 two-byte values, value i of row
// 16g + p at 32i + 2p (the group's 16 x k block, transposed), so that one 32-byte load
// gives 16 rows' value i.
// The packed matrix is exactly as large as the original (plus the padding rows), and a
// kernel reading it gets, per block, 16 rows' values in int32 lanes p = row.
// Thread-safety: pure functions; PackedTensor is immutable after PackPanel16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/tensor_view.h"

namespace weft::kernels {

inline constexpr int kPanelRows = 16;

// Q4_0, Q8_0, F16 and BF16.
bool PanelLayoutSupports(DType type);
// Bytes of one group of 16 rows of k values.
size_t PanelGroupBytes(DType type, int64_t k);
// Byte offset of the scales inside a group (quantised types; float types: the group size).
size_t PanelScalesOffset(DType type, int64_t k);
inline int64_t PanelGroups(int64_t n) { return (n + kPanelRows - 1) / kPanelRows; }

// Packs n rows (`rows`: n * row_bytes, whole blocks) into dst (PanelGroups(n) *
// PanelGroupBytes bytes).
void PackPanel16(DType type, const uint8_t* rows, int64_t k, int64_t n, uint8_t* dst);
// Writes rows [r0, r1) of a packed matrix back in the file's row layout into dst
// ((r1 - r0) * row_bytes).
void UnpackPanelRows(DType type, const uint8_t* panel, int64_t k, int64_t r0, int64_t r1, uint8_t* dst);

// A packed copy of a matrix, in memory it owns (64-byte aligned; huge pages advised when
// large). view: the original's name, type and shape, layout kPanel16, data = the bytes.
struct PackedTensor {
  TensorView view;
  std::unique_ptr<uint8_t, void (*)(uint8_t*)> bytes{nullptr, nullptr};
};
// w must be kRows, of a supported type, with whole blocks per row.
PackedTensor PackTensor(const TensorView& w);

}  // namespace weft::kernels
