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

// ---- K-quants: one row's super-block <-> its lane p of a record -------------------------

bool IsKQuant(DType type) { return type == DType::kQ4_K || type == DType::kQ6_K; }

// The file's super-block bytes and the record's bytes, in both directions: Pack moves
// file -> record (kToRecord), Unpack record -> file. Every field is a bijection of bits,
// so one description serves both.
enum class Dir { kToRecord, kToFile };

inline void Move(Dir dir, uint8_t* file, uint8_t* rec, size_t n) {
  if (dir == Dir::kToRecord) {
    std::memcpy(rec, file, n);
  } else {
    std::memcpy(file, rec, n);
  }
}

// Q4_K's eight 6-bit scales and mins in 12 bytes (ggml's get_scale_min_k4 packing):
// bytes 0-3 / 4-7 hold scales / mins 0-3 in their low 6 bits and the high 2 bits of
// scales / mins 4-7 in their top bits; bytes 8-11 the low nibbles of scales 4-7 (low) and
// mins 4-7 (high).
void Q4KScalesToRecord(const uint8_t* s12, int p, uint8_t* rec) {
  for (int j = 0; j < 8; ++j) {
    int sc, mn;
    if (j < 4) {
      sc = s12[j] & 63;
      mn = s12[j + 4] & 63;
    } else {
      sc = (s12[j + 4] & 0xF) | ((s12[j - 4] >> 6) << 4);
      mn = (s12[j + 4] >> 4) | ((s12[j] >> 6) << 4);
    }
    rec[PanelQ4K::kScales + 16 * j + p] = static_cast<uint8_t>(sc);
    rec[PanelQ4K::kMins + 32 * (j / 2) + 2 * p + j % 2] = static_cast<uint8_t>(mn);
  }
}
void Q4KScalesToFile(const uint8_t* rec, int p, uint8_t* s12) {
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = rec[PanelQ4K::kScales + 16 * j + p];
    mn[j] = rec[PanelQ4K::kMins + 32 * (j / 2) + 2 * p + j % 2];
  }
  for (int j = 0; j < 4; ++j) {
    s12[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s12[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    s12[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
  }
}

// Q6_K value j of a super-block: its low 4 bits live in nibble (j % 128) / 64 of ql byte
// 64 (j / 128) + j % 64, its high 2 bits at bit 2 ((j % 128) / 32) of qh byte
// 128 + 32 (j / 128) + j % 32. In the record (see the header): sub-block s = j / 16,
// u = (j % 16) / 4, i = j % 4; lo in nibble u / 2 of byte i of vector A (u even) or B
// (u odd), hi at bit 2u of byte i of vector H.
struct Q6KPlaces {
  int ql, ql_shift, qh, qh_shift;     // file
  int lo, lo_shift, hi, hi_shift;     // record, lane 0
};
Q6KPlaces Q6KPlace(int j) {
  const int h = j / 128, r = j % 128;
  const int s = j / 16, u = (j % 16) / 4, i = j % 4;
  return {64 * h + r % 64, 4 * (r / 64), 128 + 32 * h + r % 32, 2 * (r / 32),
          192 * s + 64 * (u % 2) + i, 4 * (u / 2), 192 * s + 128 + i, 2 * u};
}

void KBlock(Dir dir, DType type, uint8_t* blk, int p, uint8_t* rec) {
  if (type == DType::kQ4_K) {
    for (int v = 0; v < 32; ++v) Move(dir, blk + 16 + 4 * v, rec + 64 * v + 4 * p, 4);
    if (dir == Dir::kToRecord) {
      Q4KScalesToRecord(blk + 4, p, rec);
    } else {
      Q4KScalesToFile(rec, p, blk + 4);
    }
    Move(dir, blk, rec + PanelQ4K::kD + 2 * p, 2);
    Move(dir, blk + 2, rec + PanelQ4K::kDmin + 2 * p, 2);
    return;
  }
  // Q6_K
  if (dir == Dir::kToFile) std::memset(blk, 0, 192);  // the bit planes are ORed in
  for (int j = 0; j < 256; ++j) {
    const Q6KPlaces w = Q6KPlace(j);
    uint8_t* lo = rec + w.lo + 4 * p;
    uint8_t* hi = rec + w.hi + 4 * p;
    if (dir == Dir::kToRecord) {
      *lo = static_cast<uint8_t>(*lo | ((blk[w.ql] >> w.ql_shift) & 0xF) << w.lo_shift);
      *hi = static_cast<uint8_t>(*hi | ((blk[w.qh] >> w.qh_shift) & 3) << w.hi_shift);
    } else {
      blk[w.ql] = static_cast<uint8_t>(blk[w.ql] | ((*lo >> w.lo_shift) & 0xF) << w.ql_shift);
      blk[w.qh] = static_cast<uint8_t>(blk[w.qh] | ((*hi >> w.hi_shift) & 3) << w.qh_shift);
    }
  }
  for (int s = 0; s < 16; ++s) Move(dir, blk + 192 + s, rec + PanelQ6K::kScales + 16 * s + p, 1);
  Move(dir, blk + 208, rec + PanelQ6K::kD + 2 * p, 2);
}

size_t KRecordBytes(DType type) { return type == DType::kQ4_K ? PanelQ4K::kRecord : PanelQ6K::kRecord; }

// ---- float types: value i of row p at 32i + 2p -------------------------------------------

bool IsFloat(DType type) { return type == DType::kF16 || type == DType::kBF16; }

void PackFloatGroup(const uint8_t* rows, int64_t k, int64_t n_rows, uint8_t* out) {
  for (int64_t p = 0; p < n_rows; ++p) {
    for (int64_t i = 0; i < k; ++i) std::memcpy(out + 32 * i + 2 * p, rows + (p * k + i) * 2, 2);
  }
}

}  // namespace

bool PanelLayoutSupports(DType type) {
  return type == DType::kQ4_0 || type == DType::kQ8_0 || IsKQuant(type) || IsFloat(type);
}

size_t PanelScalesOffset(DType type, int64_t k) {
  if (IsFloat(type)) return static_cast<size_t>(k) * 2 * kPanelRows;
  if (IsKQuant(type)) return type == DType::kQ4_K ? PanelQ4K::kScales : PanelQ6K::kScales;
  return static_cast<size_t>(k / 32) * static_cast<size_t>(FormatOf(type).quant_bytes) * kPanelRows;
}

size_t PanelGroupBytes(DType type, int64_t k) {
  if (IsFloat(type)) return PanelScalesOffset(type, k);
  if (IsKQuant(type)) return static_cast<size_t>(k / 256) * KRecordBytes(type);
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
  if (IsKQuant(type)) {
    const size_t group_bytes = PanelGroupBytes(type, k), row_bytes = BytesForElements(type, k);
    const size_t blk_bytes = static_cast<size_t>(GetDTypeInfo(type).block_bytes);
    for (int64_t g = 0; g < PanelGroups(n); ++g) {
      uint8_t* out = dst + static_cast<size_t>(g) * group_bytes;
      std::memset(out, 0, group_bytes);  // padding rows: zero scales and quants
      for (int p = 0; p < kPanelRows && g * kPanelRows + p < n; ++p) {
        const uint8_t* row = rows + static_cast<size_t>(g * kPanelRows + p) * row_bytes;
        for (int64_t b = 0; b < k / 256; ++b) {
          KBlock(Dir::kToRecord, type, const_cast<uint8_t*>(row + b * blk_bytes), p, out + b * KRecordBytes(type));
        }
      }
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
  if (IsKQuant(type)) {
    const size_t group_bytes = PanelGroupBytes(type, k), row_bytes = BytesForElements(type, k);
    const size_t blk_bytes = static_cast<size_t>(GetDTypeInfo(type).block_bytes);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* in = panel + static_cast<size_t>(r / kPanelRows) * group_bytes;
      uint8_t* row = dst + static_cast<size_t>(r - r0) * row_bytes;
      for (int64_t b = 0; b < k / 256; ++b) {
        KBlock(Dir::kToFile, type, row + b * blk_bytes, static_cast<int>(r % kPanelRows),
               const_cast<uint8_t*>(in + b * KRecordBytes(type)));
      }
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
