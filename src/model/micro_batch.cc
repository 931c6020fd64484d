#include "model/micro_batch.h"

#include <algorithm>

namespace weft {

std::vector<MicroBatch> SplitMicroBatches(const ForwardBatch& b, int count) {
  const int S = b.n_seqs();
  const int64_t T = b.n_tokens();
  count = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(count, T)));
  std::vector<MicroBatch> out;
  out.reserve(static_cast<size_t>(count));
  const auto M = static_cast<size_t>(b.max_blocks_per_seq);
  const auto qs = [&b](int s) { return static_cast<int64_t>(b.query_start[static_cast<size_t>(s)]); };
  int first = 0;  // the first sequence with tokens at or after t0
  for (int i = 0; i < count; ++i) {
    const int64_t t0 = T * i / count, t1 = T * (i + 1) / count;
    while (first < S && qs(first + 1) <= t0) ++first;
    int end = first;  // one past the last sequence with tokens before t1
    while (end < S && qs(end) < t1) ++end;
    MicroBatch m;
    m.first_seq = first;
    m.first_token = t0;
    for (int s = first; s < end; ++s) {
      m.query_start.push_back(static_cast<int32_t>(std::max(qs(s), t0) - t0));
      // A piece of a sequence sees the KV up to its own last token: the sequence's length
      // after the step less the tokens that come after this piece.
      const int64_t after = qs(s + 1) - std::min(qs(s + 1), t1);
      m.seq_len.push_back(static_cast<int32_t>(b.seq_len[static_cast<size_t>(s)] - after));
    }
    m.query_start.push_back(static_cast<int32_t>(t1 - t0));
    for (size_t j = 0; j < b.logit_rows.size(); ++j) {
      const int32_t r = b.logit_rows[j];
      if (r >= t0 && r < t1) {
        m.logit_index.push_back(static_cast<int32_t>(j));
        m.logit_rows.push_back(static_cast<int32_t>(r - t0));
      }
    }
    const auto n = static_cast<size_t>(t1 - t0), ns = static_cast<size_t>(end - first);
    m.batch.tokens = b.tokens.subspan(static_cast<size_t>(t0), n);
    m.batch.positions = b.positions.subspan(static_cast<size_t>(t0), n);
    m.batch.slot_mapping = b.slot_mapping.subspan(static_cast<size_t>(t0), n);
    m.batch.block_table = b.block_table.subspan(static_cast<size_t>(first) * M, ns * M);
    m.batch.max_blocks_per_seq = b.max_blocks_per_seq;
    out.push_back(std::move(m));
  }
  // The owned spans last: the vectors have reached their final place.
  for (MicroBatch& m : out) {
    m.batch.query_start = m.query_start;
    m.batch.seq_len = m.seq_len;
    m.batch.logit_rows = m.logit_rows;
  }
  return out;
}

}  // namespace weft
