#include "kernels/panel_layout.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/check.h"

namespace weft::kernels {
namespace {

// A legacy block: an f16 scale at byte 0, then `quant_bytes` of quants.
struct Format {
  int block_bytes;   // bytes of one block in the file
  int quant_bytes;   // quant bytes per block (a multiple of 4)
  uint8_t flip;      // XORed into every quant byte when packing (Q8_0: int8 -> uint8)
};

Format FormatOf(DType type) {
  switch (type) {
    case DType::kQ4_0: return {18, 16, 0x00};
    case DType::kQ8_0: return {34, 32, 0x80};
    default: WEFT_CHECK(false, "Panel16 layout does not support {}", DTypeName(type));
  }
  return {};
}

constexpr int kScaleBytes = 2 * kPanelRows;  // 16 f16 scales per block and group

void Free(uint8_t* p) { std::free(p); }

bool IsFloat(DType type) { return type == DType::kF16 || type == DType::kBF16; }

// Float types: value i of row p at 32i + 2p.
void PackFloatGroup(const uint8_t* rows, int64_t k, int64_t n_rows, uint8_t* out) {
  for (int64_t p = 0; p < n_rows; ++p) {
    for (int64_t i = 0; i < k; ++i) std::memcpy(out + 32 * i + 2 * p, rows + (p * k + i) * 2, 2);
  }
}

}  // namespace

bool PanelLayoutSupports(DType type) { return type == DType::kQ4_0 || type == DType::kQ8_0 || IsFloat(type); }

size_t PanelScalesOffset(DType type, int64_t k) {
  if (IsFloat(type)) return static_cast<size_t>(k) * 2 * kPanelRows;
  return static_cast<size_t>(k / 32) * static_cast<size_t>(FormatOf(type).quant_bytes) * kPanelRows;
}

size_t PanelGroupBytes(DType type, int64_t k) {
  if (IsFloat(type)) return PanelScalesOffset(type, k);
  return PanelScalesOffset(type, k) + static_cast<size_t>(k / 32) * kScaleBytes;
}

void PackPanel16(DType type, const uint8_t* rows, int64_t k, int64_t n, uint8_t* dst) {
  if (IsFloat(type)) {
    const size_t group_bytes = PanelGroupBytes(type, k);
    for (int64_t g = 0; g < PanelGroups(n); ++g) {
      uint8_t* out = dst + static_cast<size_t>(g) * group_bytes;
      std::memset(out, 0, group_bytes);
      const int64_t r0 = g * kPanelRows;
      PackFloatGroup(rows + r0 * k * 2, k, std::min<int64_t>(kPanelRows, n - r0), out);
    }
    return;
  }
  const Format f = FormatOf(type);
  const int64_t nb = k / 32;
  const size_t row_bytes = static_cast<size_t>(nb) * f.block_bytes;
  const size_t group_bytes = PanelGroupBytes(type, k), scales = PanelScalesOffset(type, k);
  const int vectors = f.quant_bytes / 4;
  for (int64_t g = 0; g < PanelGroups(n); ++g) {
    uint8_t* out = dst + static_cast<size_t>(g) * group_bytes;
    std::memset(out, 0, group_bytes);  // padding rows: zero scale, zero quants
    for (int p = 0; p < kPanelRows && g * kPanelRows + p < n; ++p) {
      const uint8_t* row = rows + static_cast<size_t>(g * kPanelRows + p) * row_bytes;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = row + b * f.block_bytes;
        std::memcpy(out + scales + b * kScaleBytes + 2 * p, blk, 2);
        for (int v = 0; v < vectors; ++v) {
          uint8_t* q = out + (static_cast<size_t>(b) * vectors + v) * 64 + 4 * p;
          for (int i = 0; i < 4; ++i) q[i] = blk[2 + 4 * v + i] ^ f.flip;
        }
      }
    }
  }
}

void UnpackPanelRows(DType type, const uint8_t* panel, int64_t k, int64_t r0, int64_t r1, uint8_t* dst) {
  if (IsFloat(type)) {
    const size_t group_bytes = PanelGroupBytes(type, k);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* in = panel + static_cast<size_t>(r / kPanelRows) * group_bytes + 2 * (r % kPanelRows);
      uint8_t* row = dst + (r - r0) * k * 2;
      for (int64_t i = 0; i < k; ++i) std::memcpy(row + 2 * i, in + 32 * i, 2);
    }
    return;
  }
  const Format f = FormatOf(type);
  const int64_t nb = k / 32;
  const size_t row_bytes = static_cast<size_t>(nb) * f.block_bytes;
  const size_t group_bytes = PanelGroupBytes(type, k), scales = PanelScalesOffset(type, k);
  const int vectors = f.quant_bytes / 4;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* in = panel + static_cast<size_t>(r / kPanelRows) * group_bytes;
    const int p = static_cast<int>(r % kPanelRows);
    uint8_t* row = dst + static_cast<size_t>(r - r0) * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = row + b * f.block_bytes;
      std::memcpy(blk, in + scales + b * kScaleBytes + 2 * p, 2);
      for (int v = 0; v < vectors; ++v) {
        const uint8_t* q = in + (static_cast<size_t>(b) * vectors + v) * 64 + 4 * p;
        for (int i = 0; i < 4; ++i) blk[2 + 4 * v + i] = q[i] ^ f.flip;
      }
    }
  }
}

PackedTensor PackTensor(const TensorView& w) {
  WEFT_CHECK(w.layout == TensorLayout::kRows && PanelLayoutSupports(w.type) && w.RowsAreBlockAligned(),
             "PackTensor: {} cannot be packed", w.name);
  const int64_t k = w.ne[0], n = w.NumRows();
  const size_t bytes = static_cast<size_t>(PanelGroups(n)) * PanelGroupBytes(w.type, k);
  // Large matrices on 2 MiB boundaries, so that transparent huge pages can back them
  // (fewer TLB misses while decode streams them).
  const size_t align = bytes >= (size_t{4} << 20) ? (size_t{2} << 20) : 64;
  const size_t alloc = (bytes + align - 1) / align * align;
  auto* mem = static_cast<uint8_t*>(std::aligned_alloc(align, alloc));
  WEFT_CHECK(mem != nullptr, "PackTensor: out of memory for {} ({} bytes)", w.name, alloc);
  if (align > 64) madvise(mem, alloc, MADV_HUGEPAGE);  // advice only: failure is harmless
  PackPanel16(w.type, w.data, k, n, mem);
  PackedTensor out;
  out.view = w;
  out.view.layout = TensorLayout::kPanel16;
  out.view.data = mem;
  out.view.nbytes = bytes;
  out.bytes = {mem, Free};
  return out;
}

}  // namespace weft::kernels
