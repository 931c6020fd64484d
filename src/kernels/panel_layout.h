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
//
// K-quants (super-blocks of 256 values, nb = k / 256): a group is nb records, one per
// super-block, each holding the 16 rows' super-block b (offsets in PanelQ4K / PanelQ6K):
//   Q4_K (2368 bytes, 148 per row; the file has 144):
//     quants  32 vectors: in vector v, bytes 4p .. 4p + 3 are qs bytes 4v .. 4v + 3 of
//             row p (as in the file: vector 8c + t holds values 64c + 4t .. + 3 of
//             sub-block 2c in its low nibbles and values 64c + 32 + 4t .. of sub-block
//             2c + 1 in its high nibbles);
//     scales  8 runs of 16 bytes: the 6-bit scale of 32-value sub-block s of row p at
//             16s + p (one byte per int32 lane after a zero-extension);
//     mins    4 runs of 32 bytes: the 6-bit mins of sub-blocks 2i and 2i + 1 of row p at
//             32i + 2p and 32i + 2p + 1 (an int16 pair per int32 lane after widening);
//     d, dmin 16 f16 each: row p's at 2p.
//   Q6_K (3392 bytes, 212 per row; the file has 210):
//     quants  16 sub-blocks of 16 values, 3 vectors each (A, B, H); with lo(j) / hi(j) the
//             low 4 / high 2 bits of value j of row p and j0 = 16s: in byte i (0..3) of
//             lane p, A has lo(j0 + i) | lo(j0 + 8 + i) << 4, B has lo(j0 + 4 + i) |
//             lo(j0 + 12 + i) << 4, H has hi(j0 + i) | hi(j0 + 4 + i) << 2 |
//             hi(j0 + 8 + i) << 4 | hi(j0 + 12 + i) << 6;
//     scales  16 runs of 16 bytes: the int8 scale of sub-block s of row p at 16s + p;
//     d       16 f16: row p's at 2p; then 32 zero bytes (records stay 64-byte aligned).
// K-quant Pack / Unpack are exact: the scales and bit planes are only rearranged.
// Thread-safety: pure functions; PackedTensor is immutable after PackPanel16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/tensor_view.h"

namespace weft::kernels {

inline constexpr int kPanelRows = 16;

// Byte offsets inside one K-quant super-block record (see above).
struct PanelQ4K {
  static constexpr int kScales = 2048, kMins = 2176, kD = 2304, kDmin = 2336, kRecord = 2368;
};
struct PanelQ6K {
  static constexpr int kScales = 3072, kD = 3328, kRecord = 3392;
};

// Q4_0, Q8_0, Q4_K, Q6_K, F16 and BF16.
bool PanelLayoutSupports(DType type);

// A set of weight types (bit 1 << DType): the types a kernel table reads in Panel16, or
// the types a model's matrices are packed in (BindOptions::panel_types).
using PanelTypeSet = uint64_t;
constexpr PanelTypeSet PanelTypeBit(DType type) { return PanelTypeSet{1} << static_cast<uint32_t>(type); }
constexpr bool PanelTypeSetHas(PanelTypeSet set, DType type) { return (set & PanelTypeBit(type)) != 0; }
// Every type PanelLayoutSupports.
inline constexpr PanelTypeSet kAllPanelTypes = PanelTypeBit(DType::kQ4_0) | PanelTypeBit(DType::kQ8_0) |
                                               PanelTypeBit(DType::kQ4_K) | PanelTypeBit(DType::kQ6_K) |
                                               PanelTypeBit(DType::kF16) | PanelTypeBit(DType::kBF16);
// Bytes of one group of 16 rows of k values.
size_t PanelGroupBytes(DType type, int64_t k);
// Byte offset of the scales inside a group (K-quants: inside each super-block record;
// float types: the group size).
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
