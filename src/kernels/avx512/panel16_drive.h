// The loop nest shared by the AVX-512 Panel16 MatMul kernels (matmul_panel16_avx512.cc for
// Q4_0 / Q8_0, matmul_panel16_kquant_avx512.cc for Q4_K / Q6_K). Include only from
// avx512/*.cc (AVX-512 intrinsics; internal linkage).
//
// A weight type P supplies its block size and a micro-kernel; this file walks the output
// columns in passes of NR groups of 16 and the activation rows in runs of MR, each
// (row, group) keeping 16 f32 accumulators, lane p = column 16g + p:
//   struct P {
//     static constexpr int kBlock;   // values per block (32, 256)
//     static constexpr int kCorr;    // int32 per block and row that Corr precomputes
//     static constexpr int kMR, kNR, kNRDecode, kKC;  // see Drive below
//     static constexpr int kStreamBytes;  // bytes of one block in a group's weight stream
//     static void Corr(const QuantActRow& row, int64_t nb, int32_t* out);
//     template <int MR, int NR>
//     static void Micro(const PanelActRow* rows, const uint8_t* const* groups, size_t scales_offset,
//                       int64_t kb0, int64_t nbk, __m512 (*acc)[NR]);  // blocks [kb0, kb0 + nbk)
//   };
// Optionally (Q4_0, Q8_0, Q4_K, Q6_K), a staged prefill kernel used when m >= kMR:
//     static constexpr int kMRStaged, kStagedBlockBytes;  static constexpr bool kNeedsStaging;
//     static void Stage(const uint8_t* group, int64_t kb0, int64_t nbk, uint8_t* dst);
//     template <int MR, int NR> static void MicroStaged(rows, staged, groups, scales_offset, kb0, nbk,
//                                                       const PanelAccIo<NR>& io);  // io.Load / io.Store
// Optionally (Q4_0, Q8_0), an all-rows Micro for a verification pass of a few rows:
//     static constexpr int kMRDirectMin, kMRDirectMax;  // rows that run Micro<m, kNR> over all of k
//     static constexpr int kBlockScaleBytes;            // bytes of one block's scales in a group
// Micro must do the same per-lane arithmetic whatever MR, NR and the k chunk, so that a
// result does not depend on m, the row grouping, the column split or the thread count.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/scratch_window.h"
#include "kernels/x86/panel_prefetch.h"

namespace weft::kernels::avx512 {
namespace {

// One activation row as the micro-kernels read it: quants, block scales, and the
// type's per-block integer terms (P::Corr).
struct PanelActRow {
  const int8_t* q;
  const float* d;
  const int32_t* corr;
};

struct alignas(64) PanelLane16 {
  float f[16];
};
struct PanelScratch16 {
  std::vector<PanelActRow> rows;
  std::vector<int32_t> corr;      // [m][nb * kCorr]
  std::vector<PanelLane16> acc;   // [m][NR], read as __m512
  std::vector<PanelLane16> staged;  // staged k chunks (StagedRowGroups), read as bytes
};

// The sizes of PanelScratch16's buffers for weight type P: the one place DrivePanel16
// sizes them from and the kernels' window checks (WEFT_SCRATCH_WINDOW) compare with.
template <class P>
struct Panel16Sizes {
  // f32 lanes of 16 per row: a pass has at most this many groups.
  static constexpr size_t kAccLanesPerRow = static_cast<size_t>(P::kNR > P::kNRDecode ? P::kNR : P::kNRDecode);
  static size_t Rows(int64_t m) { return static_cast<size_t>(m); }
  static size_t CorrPerRow(int64_t nb) { return static_cast<size_t>(nb) * P::kCorr; }
  static size_t Corr(int64_t m, int64_t nb) { return Rows(m) * CorrPerRow(nb); }
  static size_t AccLanes(int64_t m) { return Rows(m) * kAccLanesPerRow; }
  // Staged bytes of one group's k chunk: a chunk is at most kKC blocks, whatever m.
  static constexpr size_t StagedGroupBytes() {
    if constexpr (requires { P::kStagedBlockBytes; }) {
      return static_cast<size_t>(P::kKC) * P::kStagedBlockBytes;
    } else {
      return 0;
    }
  }
  static constexpr size_t StagedBytes() { return static_cast<size_t>(P::kNR) * StagedGroupBytes(); }
};

// Spreads the L2 prefetch of the next k chunk (`lines` 64-byte lines per group) over
// `parts` row groups: part g fetches lines [g * lines / parts, (g + 1) * lines / parts)
// of each group, found without a division per part.
class PrefetchShare {
 public:
  PrefetchShare(int64_t lines, int64_t parts)
      : q_(parts > 0 ? lines / parts : 0), r_(parts > 0 ? lines % parts : 0), parts_(parts) {}
  // The next part's lines of groups[0 .. NR), each `offset` bytes into its group.
  template <int NR>
  void Next(const uint8_t* const* groups, int64_t offset) {
    const int64_t begin = end_;
    end_ += q_;
    if ((rem_ += r_) >= parts_ && r_ > 0) rem_ -= parts_, ++end_;
    for (int j = 0; j < NR; ++j) {
      for (int64_t l = begin; l < end_; ++l) {
        _mm_prefetch(reinterpret_cast<const char*>(groups[j] + offset + 64 * l), _MM_HINT_T1);
      }
    }
  }

 private:
  int64_t q_, r_, parts_, end_ = 0, rem_ = 0;
};

// Where a staged micro-kernel's accumulators (rows r .. r + MR, NR groups) come from and
// go to: the first k chunk starts them at 0; the last stores them to the output rows
// (y: row r's columns, row stride y_stride; `cols` columns exist); chunks in between keep
// them in acc.
template <int NR>
struct PanelAccIo {
  __m512 (*acc)[NR];
  bool first;
  float* y;  // nullptr unless this is the last chunk
  int64_t y_stride;
  int64_t cols;

  PanelAccIo Rows(int64_t r) const { return {acc + r, first, y != nullptr ? y + r * y_stride : nullptr, y_stride, cols}; }

  template <int MR>
  void Load(__m512 (&f)[MR][NR]) const {
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) f[i][j] = first ? _mm512_setzero_ps() : acc[i][j];
    }
  }
  template <int MR>
  void Store(const __m512 (&f)[MR][NR]) const {
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) {
        if (y == nullptr) {
          acc[i][j] = f[i][j];
        } else {
          const int64_t left = cols - 16 * j;
          const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
          _mm512_mask_storeu_ps(y + i * y_stride + 16 * j, mk, f[i][j]);
        }
      }
    }
  }
};

// Runs micro-kernel P::MicroStaged<R, NR> on rows [r, r + R) for R = rows (1 .. MR).
template <class P, int NR, int MR>
void StagedTail(int64_t rows, const PanelActRow* r, const uint8_t* const* staged, const uint8_t* const* groups,
                size_t scales_offset, int64_t kb0, int64_t nbk, const PanelAccIo<NR>& io) {
  if constexpr (MR > 0) {
    if (rows == MR) return P::template MicroStaged<MR, NR>(r, staged, groups, scales_offset, kb0, nbk, io);
    StagedTail<P, NR, MR - 1>(rows, r, staged, groups, scales_offset, kb0, nbk, io);
  }
}

// One k chunk [kb0, kb0 + nbk) for every row, for weight types with a staged prefill
// kernel (P::kMRStaged, P::Stage, P::MicroStaged): the chunk of each group is staged once
// (when P::kNeedsStaging; else read in place), then rows go kMRStaged at a time.
template <class P, int NR>
void StagedRowGroups(const MatMulArgs& A, PanelScratch16& S, const uint8_t* const* groups, int64_t kb0, int64_t nbk,
                     int64_t next_lines, const PanelAccIo<NR>& io) {
  using Sizes = Panel16Sizes<P>;
  const uint8_t* staged[NR];
  for (int j = 0; j < NR; ++j) {
    if constexpr (P::kNeedsStaging) {
      const size_t offset = static_cast<size_t>(j) * Sizes::StagedGroupBytes();
      const size_t bytes = static_cast<size_t>(nbk) * P::kStagedBlockBytes;
      WEFT_SCRATCH_WINDOW("Panel16 staged chunk", offset, bytes, S.staged.size() * sizeof(PanelLane16));
      WEFT_SCRATCH_WINDOW("Panel16 staged chunk of one group", 0, bytes, Sizes::StagedGroupBytes());
      uint8_t* dst = reinterpret_cast<uint8_t*>(S.staged.data()) + offset;
      P::Stage(groups[j], kb0, nbk, dst);
      staged[j] = dst;
    } else {
      staged[j] = groups[j] + kb0 * P::kStagedBlockBytes;
    }
  }
  constexpr int MR = P::kMRStaged;
  WEFT_SCRATCH_WINDOW("Panel16 rows", 0, static_cast<size_t>(A.m), S.rows.size());
  PrefetchShare share(next_lines, (A.m + MR - 1) / MR);
  for (int64_t r = 0; r < A.m; r += MR) {
    share.Next<NR>(groups, (kb0 + nbk) * P::kStreamBytes);
    StagedTail<P, NR, MR>(std::min<int64_t>(MR, A.m - r), &S.rows[r], staged, groups, A.w_scales_offset, kb0, nbk,
                          io.Rows(r));
  }
}

// Rows from which P's staged kernel runs (P::kStagedMinRows when P sets it, else P::kMR);
// fewer rows take Micro over k chunks in place (both give the same bits).
template <class P>
constexpr int64_t StagedMinRows() {
  if constexpr (requires { P::kStagedMinRows; }) {
    return P::kStagedMinRows;
  } else {
    return P::kMR;
  }
}

// From this many rows (P::kMRDirectMin when P has an all-rows Micro path for a few
// rows, P::kMRDirectMax), passes are of kNR groups, not kNRDecode.
template <class P>
constexpr int64_t DirectMinRows() {
  if constexpr (requires { P::kMRDirectMin; }) {
    return P::kMRDirectMin;
  } else {
    return P::kMR;
  }
}

// A verification pass (P::kMRDirectMin .. P::kMRDirectMax rows) runs Micro over all of k
// for NR groups, compute-bound enough that its weights stream in only as far ahead as
// Micro's own prefetch (kPanelPrefetchBlocks blocks): each pass would start with the first
// blocks of its groups missing. This asks for those blocks of the next pass's groups (the
// NR groups after `groups` in memory; past the matrix a prefetch is harmless) into L2
// before a pass starts. P::kBlockScaleBytes: the bytes of one block's scales in a group.
template <class P, int NR>
void PrefetchNextPassStart(const uint8_t* const* groups, size_t group_bytes, size_t scales_offset, int64_t nb) {
  const uintptr_t next = reinterpret_cast<uintptr_t>(groups[0]) + NR * group_bytes;
  const int64_t blocks = std::min<int64_t>(nb, kPanelPrefetchBlocks);
  const int64_t quant_bytes = blocks * P::kStreamBytes, scale_bytes = blocks * P::kBlockScaleBytes;
  for (int j = 0; j < NR; ++j) {
    const uintptr_t g = next + j * group_bytes;
    for (int64_t b = 0; b < quant_bytes; b += 64) _mm_prefetch(reinterpret_cast<const char*>(g + b), _MM_HINT_T1);
    for (int64_t b = 0; b < scale_bytes; b += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(g + scales_offset + b), _MM_HINT_T1);
    }
  }
}

// Runs P::Micro<R, NR> on rows [r, r + R) for R = rows (1 .. MR).
template <class P, int NR, int MR>
void MicroTail(int64_t rows, const PanelActRow* r, const uint8_t* const* groups, size_t scales_offset, int64_t kb0,
               int64_t nbk, __m512 (*acc)[NR]) {
  if constexpr (MR > 0) {
    if (rows == MR) return P::template Micro<MR, NR>(r, groups, scales_offset, kb0, nbk, acc);
    MicroTail<P, NR, MR - 1>(rows, r, groups, scales_offset, kb0, nbk, acc);
  }
}

template <class P, int NR>
void PanelColumns(const MatMulArgs& A, PanelScratch16& S, int64_t n, int64_t cols) {
  const int64_t nb = A.k / P::kBlock;
  const uint8_t* groups[NR];
  for (int j = 0; j < NR; ++j) groups[j] = A.w + static_cast<size_t>(n / 16 + j) * A.w_group_bytes;
  auto* acc = reinterpret_cast<__m512(*)[NR]>(S.acc.data());
  WEFT_SCRATCH_WINDOW("Panel16 accumulators", 0, static_cast<size_t>(A.m) * NR, S.acc.size());
  if constexpr (requires { P::kMRStaged; }) {
    if (A.m >= StagedMinRows<P>()) {  // the staged kernels start from 0 and write y themselves
      // Staged chunks are always kKC blocks (the staging buffer holds one per group).
      constexpr int64_t kc = P::kKC;
      for (int64_t kb0 = 0; kb0 < nb; kb0 += kc) {
        const int64_t nbk = std::min(kc, nb - kb0);
        const int64_t next_lines = std::min(kc, nb - kb0 - nbk) * P::kStreamBytes / 64;
        const bool last = kb0 + nbk == nb;
        const PanelAccIo<NR> io{acc, kb0 == 0, last ? A.y + n : nullptr, A.y_stride, cols};
        StagedRowGroups<P, NR>(A, S, groups, kb0, nbk, next_lines, io);
      }
      return;
    }
  }
  // Few rows (or all rows in one call): all blocks in one pass. Many: k chunks whose
  // weights stay in L1 while every row group uses them.
  bool one_call = A.m <= P::kMR;
  if constexpr (requires { P::kMRDirectMax; }) one_call = one_call || A.m <= P::kMRDirectMax;
  const int64_t kc = one_call ? nb : P::kKC;
  for (int64_t r = 0; r < A.m; ++r) {
    for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  for (int64_t kb0 = 0; kb0 < nb; kb0 += kc) {
    const int64_t nbk = std::min(kc, nb - kb0);
    // While the row groups work on this chunk from L1, fetch the next chunk into L2, a
    // share before each row group, so that memory is read all along, not in bursts.
    const int64_t next_lines = std::min(kc, nb - kb0 - nbk) * P::kStreamBytes / 64;
    PrefetchShare share(next_lines, A.m / P::kMR);
    int64_t r = 0;
    if constexpr (requires { P::kMRDirectMax; }) {
      if (A.m >= DirectMinRows<P>() && A.m <= P::kMRDirectMax) {  // all rows in one call (a verification pass)
        share.Next<NR>(groups, (kb0 + nbk) * P::kStreamBytes);
        PrefetchNextPassStart<P, NR>(groups, A.w_group_bytes, A.w_scales_offset, nb);
        MicroTail<P, NR, P::kMRDirectMax>(A.m, &S.rows[0], groups, A.w_scales_offset, kb0, nbk, acc);
        continue;
      }
    }
    for (; r + P::kMR <= A.m; r += P::kMR) {
      share.Next<NR>(groups, (kb0 + nbk) * P::kStreamBytes);
      P::template Micro<P::kMR, NR>(&S.rows[r], groups, A.w_scales_offset, kb0, nbk, acc + r);
    }
    if (A.m >= P::kMR) {  // a tail of 1 .. kMR - 1 rows in one call (the chunk is in L1)
      if (r < A.m) MicroTail<P, NR, P::kMR - 1>(A.m - r, &S.rows[r], groups, A.w_scales_offset, kb0, nbk, acc + r);
    } else {
      for (; r < A.m; ++r) P::template Micro<1, NR>(&S.rows[r], groups, A.w_scales_offset, kb0, nbk, acc + r);
    }
  }
  for (int64_t r = 0; r < A.m; ++r) {
    float* y = A.y + r * A.y_stride + n;
    for (int j = 0; j < NR; ++j) {
      const int64_t left = cols - 16 * j;
      const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
      _mm512_mask_storeu_ps(y + 16 * j, mk, acc[r][j]);
    }
  }
}

// Columns [n0, n1) (n0 a multiple of 16). m < kMR (decode): kNRDecode groups per pass,
// for more independent weight streams and dependency chains; otherwise kNR groups
// (the last pass with fewer when the columns run out).
template <class P>
void DrivePanel16(const MatMulArgs& A, int64_t n0, int64_t n1) {
  using Sizes = Panel16Sizes<P>;
  thread_local PanelScratch16 S;
  const int64_t nb = A.k / P::kBlock;
  const size_t per_row = Sizes::CorrPerRow(nb);
  if (S.rows.size() < Sizes::Rows(A.m)) S.rows.resize(Sizes::Rows(A.m));
  if (S.corr.size() < Sizes::Corr(A.m, nb)) S.corr.resize(Sizes::Corr(A.m, nb));
  if (S.acc.size() < Sizes::AccLanes(A.m)) S.acc.resize(Sizes::AccLanes(A.m));
  const size_t staged_lanes = (Sizes::StagedBytes() + sizeof(PanelLane16) - 1) / sizeof(PanelLane16);
  if (S.staged.size() < staged_lanes) S.staged.resize(staged_lanes);
  for (int64_t r = 0; r < A.m; ++r) {
    const QuantActRow row = A.xq_layout.Row(A.xq, r);
    int32_t* corr = S.corr.data() + static_cast<size_t>(r) * per_row;
    P::Corr(row, nb, corr);
    S.rows[static_cast<size_t>(r)] = {row.q, row.d, corr};
  }
  int64_t n = n0;
  if (A.m < DirectMinRows<P>()) {
    for (; n + 16 * (P::kNRDecode - 1) < n1; n += 16 * P::kNRDecode) {
      PanelColumns<P, P::kNRDecode>(A, S, n, std::min<int64_t>(16 * P::kNRDecode, n1 - n));
    }
  }
  // Whole passes of kNR groups (the last may lack columns in its last group), then single groups.
  for (; n + 16 * (P::kNR - 1) < n1; n += 16 * P::kNR) {
    PanelColumns<P, P::kNR>(A, S, n, std::min<int64_t>(16 * P::kNR, n1 - n));
  }
  for (; n < n1; n += 16) PanelColumns<P, 1>(A, S, n, std::min<int64_t>(16, n1 - n));
}

inline __m512i PanelBcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

}  // namespace
}  // namespace weft::kernels::avx512
