// KernelTable: one instruction set's implementation of every op, as function pointers,
// picked once at start-up (SelectKernelTable) and passed in KernelContext. The table
// entries do the work for a slice of rows; ops.cc validates arguments, splits work over
// the thread pool and calls them. ISA-neutral header: the ISA code lives in
// ref/ (namespace ref), avx2/ (namespace avx2) and avx512/ (namespace avx512), each
// compiled with its own flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "kernels/panel_layout.h"
#include "weft/status.h"

namespace weft::kernels {

enum class Isa : uint8_t { kScalar, kAvx2, kAvx512 };
const char* IsaName(Isa isa);  // "scalar", "avx2", "avx512"

// Activations quantised to int8 for a MatMul with a quantised weight: a row of k values
// in blocks of `block` (32 for the legacy quants, 256 for the K-quants), each block with
// one f32 scale d = max|x| / 127 and q = round-to-nearest-even(x / d) in [-127, 127].
// Row layout (each part 64-byte aligned): f32 d[nb]; f32 ds[nb] (= d * sum of the
// block's q); i16 bsum[k / 16] (sum of q per 16 values); i8 q[k].
struct QuantActRow {
  float* d;
  float* ds;
  int16_t* bsum;
  int8_t* q;
};

struct QuantActLayout {
  int block = 0;  // 0: the kernel reads f32 activations
  int64_t k = 0;
  size_t ds_offset = 0, bsum_offset = 0, q_offset = 0, row_bytes = 0;

  static QuantActLayout For(int block, int64_t k);
  QuantActRow Row(uint8_t* base, int64_t r) const {
    uint8_t* p = base + static_cast<size_t>(r) * row_bytes;
    return {reinterpret_cast<float*>(p), reinterpret_cast<float*>(p + ds_offset),
            reinterpret_cast<int16_t*>(p + bsum_offset), reinterpret_cast<int8_t*>(p + q_offset)};
  }
};

// Everything a MatMul kernel needs; y[m, n] = x[m, k] · W^T.
struct MatMulArgs {
  const float* x = nullptr;  // [m, k], row stride x_stride
  int64_t x_stride = 0;
  int64_t m = 0, k = 0;
  DType type = DType::kF32;
  const uint8_t* w = nullptr;  // n rows of w_row_bytes (kRows), or Panel16 groups
  size_t w_row_bytes = 0;      // bytes of one row in the file's layout
  size_t w_group_bytes = 0;    // Panel16 only: bytes per group of 16 rows (panel_layout.h)
  size_t w_scales_offset = 0;  // Panel16 only: offset of the scales inside a group
  float* y = nullptr;  // [m, n], row stride y_stride
  int64_t y_stride = 0;
  uint8_t* xq = nullptr;  // quantised x (m rows of xq_layout) when xq_layout.block != 0
  QuantActLayout xq_layout;
};

// A block of attention work that shares K/V rows: the queries of tokens [tok_begin,
// tok_end) of sequence `seq` (consecutive, causal) for heads [head_begin, head_end), whole
// GQA groups of one or more KV heads (the kernels take a tile's KV heads one after the
// other in each span of positions). A whole tile (partial == nullptr) writes its results to `out`.
// A piece of a split tile (attention_split.h) covers only KV chunks [chunk_begin,
// chunk_end) and writes each query's state after each chunk it sees to the record
// partial + (query * partial_chunks + chunk) * AttentionRecordFloats(head_dim), query =
// (token - tok_begin) * heads + head - head_begin.
struct AttentionTile {
  int32_t seq, tok_begin, tok_end, head_begin, head_end;
  int32_t chunk_begin = 0, chunk_end = INT32_MAX;
  float* partial = nullptr;
  int32_t partial_chunks = 0;
};

struct KernelTable {
  Isa isa = Isa::kScalar;

  // Activation block (32 / 256) that `matmul` wants x quantised to for this weight type,
  // or 0 when it reads x in f32.
  int (*matmul_act_block)(DType type) = nullptr;
  // Quantises one row x[0..k) (k a multiple of block) into `out`.
  void (*quantize_act)(const float* x, int64_t k, int block, QuantActRow out) = nullptr;
  // Output columns [n_begin, n_end) for all m rows.
  void (*matmul)(const MatMulArgs& args, int64_t n_begin, int64_t n_end) = nullptr;
  // The same for a Panel16 weight (n_begin a multiple of 16) of a type in panel_types;
  // nullptr when this table has none. For the other types ops.cc unpacks the rows it
  // needs and calls `matmul`. For Q4_0 / Q8_0
  // it must give bit-identical results to `matmul` on the same weights in the row
  // layout; for the K-quants (whose row kernel reduces lanes in another float order) it
  // is held to the row kernel's accuracy bound against the scalar reference. Either way
  // a result must not depend on m, the column split or the thread count.
  void (*matmul_panel)(const MatMulArgs& args, int64_t n_begin, int64_t n_end) = nullptr;
  // The weight types `matmul_panel` reads (PanelTypeBit; 0 when there is no matmul_panel);
  // a Panel16 weight of another type is unpacked as above. Binding packs only these
  // (BindOptions::panel_types).
  PanelTypeSet panel_types = 0;

  void (*dequantize_row)(DType type, const void* src, float* dst, int64_t n) = nullptr;
  // One row each.
  void (*rms_norm)(const float* x, const float* weight, float eps, int64_t dim, float* out) = nullptr;
  void (*add)(const float* a, const float* b, float* out, int64_t n) = nullptr;
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
  void (*softmax)(float* x, int64_t n) = nullptr;
  void (*scale)(float* x, float s, int64_t n) = nullptr;
  // One token x[n_heads, head_dim]; cos/sin[rope_dim / 2] for its position.
  void (*rope)(float* x, int n_heads, int head_dim, int rope_dim, RopeStyle style, const float* cos,
               const float* sin) = nullptr;
  // n f32 values to the cache type.
  void (*convert_kv_row)(const float* src, void* dst, KvType type, int64_t n) = nullptr;  // F32, F16, BF16
  // The queries of tiles[0 .. n) (see AttentionTile); a query's result must not depend on
  // the tile it comes in.
  void (*attention)(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n) = nullptr;
  // Whether `attention` takes pieces of split tiles (chunk ranges and partial records);
  // the scalar reference does not (it computes every query whole, in double).
  bool attention_takes_pieces = false;
  // Scores of one query against n positions of f32 K held dimension-major (attention_mass.h):
  // out[t] = scale * sum_{i < d} q[i] * kt[i * stride + t], t < n.
  void (*attention_scores)(const float* q, const float* kt, int64_t stride, int64_t n, int d, float scale,
                           float* out) = nullptr;
};

// ctx's scratch (or, without one, the calling thread's): at least `bytes`, 64-byte
// aligned, valid until its next use.
uint8_t* ScratchBytes(const KernelContext& ctx, size_t bytes);

// The table for `isa`, or nullptr when this CPU (or this build) cannot run it.
const KernelTable* GetKernelTable(Isa isa);
// The ISAs GetKernelTable can give on this machine, scalar first.
std::vector<Isa> AvailableIsas();
// WEFT_ISA=scalar|avx2|avx512 when set (an error if unknown or unsupported here),
// otherwise the best available.
StatusOr<const KernelTable*> SelectKernelTable();

// The per-ISA tables (defined in ref/, avx2/, avx512/).
namespace ref {
const KernelTable& Table();
// Scalar activation quantiser; the SIMD ones give bit-identical results.
void QuantizeActRow(const float* x, int64_t k, int block, QuantActRow out);
}  // namespace ref
namespace avx2 {
const KernelTable& Table();
}
namespace avx512 {
const KernelTable& Table();
}

}  // namespace weft::kernels
