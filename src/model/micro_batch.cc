#include "model/micro_batch.h"

#include <algorithm>

namespace weft {

std::vector<MicroBatch> SplitMicroBatches(const ForwardBatch& b, int count) {
  const int S = b.n_seqs();
  const int64_t T = b.n_tokens();
  count = std::max(1, std::min(count, S));
  // Sequence boundaries of the cuts: seq_end[i] = one past the last sequence of i.
  std::vector<int> seq_end;
  int s = 0;
  for (int i = 1; i <= count; ++i) {
    if (i == count) {
      seq_end.push_back(S);
      break;
    }
    const int64_t target = T * i / count;
    // At least one sequence per micro-batch, and leave one for each that follows.
    int e = s + 1;
    while (e < S - (count - i) && b.query_start[static_cast<size_t>(e)] < target) ++e;
    seq_end.push_back(e);
    s = e;
  }
  std::vector<MicroBatch> out;
  out.reserve(seq_end.size());
  int first = 0;
  const auto M = static_cast<size_t>(b.max_blocks_per_seq);
  for (const int end : seq_end) {
    MicroBatch m;
    m.first_seq = first;
    const int32_t t0 = b.query_start[static_cast<size_t>(first)], t1 = b.query_start[static_cast<size_t>(end)];
    m.first_token = t0;
    for (int q = first; q <= end; ++q) m.query_start.push_back(b.query_start[static_cast<size_t>(q)] - t0);
    for (size_t j = 0; j < b.logit_rows.size(); ++j) {
      const int32_t r = b.logit_rows[j];
      if (r >= t0 && r < t1) {
        m.logit_index.push_back(static_cast<int32_t>(j));
        m.logit_rows.push_back(r - t0);
      }
    }
    const auto n = static_cast<size_t>(t1 - t0), ns = static_cast<size_t>(end - first);
    m.batch.tokens = b.tokens.subspan(static_cast<size_t>(t0), n);
    m.batch.positions = b.positions.subspan(static_cast<size_t>(t0), n);
    m.batch.slot_mapping = b.slot_mapping.subspan(static_cast<size_t>(t0), n);
    m.batch.seq_len = b.seq_len.subspan(static_cast<size_t>(first), ns);
    m.batch.block_table = b.block_table.subspan(static_cast<size_t>(first) * M, ns * M);
    m.batch.max_blocks_per_seq = b.max_blocks_per_seq;
    out.push_back(std::move(m));
    first = end;
  }
  // The owned spans last: the vectors have reached their final place.
  for (MicroBatch& m : out) {
    m.batch.query_start = m.query_start;
    m.batch.logit_rows = m.logit_rows;
  }
  return out;
}

}  // namespace weft
