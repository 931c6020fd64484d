// Software prefetch of a Panel16 weight stream, shared by the avx2/ and avx512/ few-row
// matmul kernels (decode and verification passes: each weight is read once, from memory,
// with arithmetic between the loads, and the hardware prefetcher alone keeps too few lines
// in flight for that; BENCHMARKS.md "Weights prefetched ahead"). Include only from those
// TUs; everything here has internal linkage (see quant_blocks.h for why).
//
// A group of 16 columns stores block b's quants at group + b * Lines * 64 (Lines 64-byte
// lines: Q4_0 4, Q8_0 8) and its 16 f16 scales at group + scales_offset + 32 * b.
#pragma once

#include <xmmintrin.h>

#include <cstddef>
#include <cstdint>

namespace weft::kernels {
namespace {

// How far ahead the kernels ask for a group's block (8 was best of 4, 8, 12 and 16).
constexpr int64_t kPanelPrefetchBlocks = 8;

// Requests block b of one group: its quant lines, and every other block the line of its
// scales. Addresses past the matrix are harmless (a prefetch never faults); they are
// formed as integers, not as pointers past the object.
template <int Lines>
inline void PrefetchPanelBlock(const uint8_t* group, size_t scales_offset, int64_t b) {
  const uintptr_t base = reinterpret_cast<uintptr_t>(group);
  for (int l = 0; l < Lines; ++l) {
    _mm_prefetch(reinterpret_cast<const char*>(base + static_cast<uintptr_t>((b * Lines + l) * 64)), _MM_HINT_T0);
  }
  if ((b & 1) == 0) {
    _mm_prefetch(reinterpret_cast<const char*>(base + scales_offset + static_cast<uintptr_t>(32 * b)), _MM_HINT_T0);
  }
}

}  // namespace
}  // namespace weft::kernels
