// SplitMicroBatches (model/micro_batch.h): cuts at even token counts (inside a sequence
// too), rebased
// query_start and logit rows, spans that point at the right slices, token counts as even
// as the sequences allow, and the degenerate counts.
#include "model/micro_batch.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace weft {
namespace {

// A batch of sequences with the given new-token counts; logits wanted for each
// sequence's last token (and, for `all_rows`, every token).
struct Batch {
  std::vector<int32_t> tokens, positions, query_start, seq_len, block_table, logit_rows;
  std::vector<int64_t> slots;
  ForwardBatch b;
  Batch(const std::vector<int>& lens, bool all_rows = false) {
    const int M = 3;
    query_start.push_back(0);
    for (size_t s = 0; s < lens.size(); ++s) {
      for (int t = 0; t < lens[s]; ++t) {
        tokens.push_back(static_cast<int32_t>(1000 * s + t));
        positions.push_back(t);
        slots.push_back(static_cast<int64_t>(100 * s + t));
        if (all_rows) logit_rows.push_back(static_cast<int32_t>(tokens.size() - 1));
      }
      if (!all_rows) logit_rows.push_back(static_cast<int32_t>(tokens.size() - 1));
      query_start.push_back(static_cast<int32_t>(tokens.size()));
      seq_len.push_back(lens[s]);
      for (int j = 0; j < M; ++j) block_table.push_back(static_cast<int32_t>(10 * s + j));
    }
    b.tokens = tokens;
    b.positions = positions;
    b.slot_mapping = slots;
    b.query_start = query_start;
    b.seq_len = seq_len;
    b.block_table = block_table;
    b.max_blocks_per_seq = M;
    b.logit_rows = logit_rows;
  }
};

// Every micro-batch is a consistent ForwardBatch, and together they are the whole batch:
// each token once and in order; a sequence cut into pieces keeps its block table, and
// each piece's KV length is the sequence's after the piece's last token.
void CheckCover(const Batch& w, const std::vector<MicroBatch>& mbs) {
  int64_t t = 0;
  std::vector<int32_t> seen_rows;
  for (const MicroBatch& m : mbs) {
    const ForwardBatch& b = m.batch;
    ASSERT_GT(b.n_seqs(), 0);
    ASSERT_GT(b.n_tokens(), 0);
    EXPECT_EQ(m.first_token, t);
    ASSERT_EQ(b.query_start.size(), static_cast<size_t>(b.n_seqs()) + 1);
    EXPECT_EQ(b.query_start[0], 0);
    EXPECT_EQ(b.query_start.back(), b.n_tokens());
    EXPECT_EQ(b.block_table.size(), static_cast<size_t>(b.n_seqs()) * 3);
    for (int i = 0; i < b.n_seqs(); ++i) {
      const auto s = static_cast<size_t>(m.first_seq + i);
      const int32_t lo = b.query_start[static_cast<size_t>(i)], hi = b.query_start[static_cast<size_t>(i) + 1];
      ASSERT_LT(lo, hi) << "an empty piece";
      // The piece's tokens lie inside its sequence's.
      EXPECT_GE(lo + m.first_token, w.query_start[s]);
      EXPECT_LE(hi + m.first_token, w.query_start[s + 1]);
      const int64_t after = w.query_start[s + 1] - (hi + m.first_token);
      EXPECT_EQ(b.seq_len[static_cast<size_t>(i)], w.seq_len[s] - after);
      EXPECT_EQ(b.block_table[static_cast<size_t>(i) * 3], 10 * static_cast<int32_t>(s));
    }
    for (int64_t i = 0; i < b.n_tokens(); ++i) {
      EXPECT_EQ(b.tokens[static_cast<size_t>(i)], w.tokens[static_cast<size_t>(t + i)]);
      EXPECT_EQ(b.positions[static_cast<size_t>(i)], w.positions[static_cast<size_t>(t + i)]);
      EXPECT_EQ(b.slot_mapping[static_cast<size_t>(i)], w.slots[static_cast<size_t>(t + i)]);
    }
    ASSERT_EQ(m.logit_index.size(), b.logit_rows.size());
    for (size_t j = 0; j < b.logit_rows.size(); ++j) {
      EXPECT_EQ(b.logit_rows[j] + m.first_token, w.logit_rows[static_cast<size_t>(m.logit_index[j])]);
      seen_rows.push_back(m.logit_index[j]);
    }
    t += b.n_tokens();
  }
  EXPECT_EQ(t, static_cast<int64_t>(w.tokens.size()));
  std::vector<int32_t> all(w.logit_rows.size());
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen_rows, all);  // every logit row exactly once, in order
}

TEST(MicroBatch, OneIsTheWholeBatch) {
  Batch w({3, 1, 4});
  for (int k : {-1, 0, 1}) {
    auto mbs = SplitMicroBatches(w.b, k);
    ASSERT_EQ(mbs.size(), 1u);
    CheckCover(w, mbs);
    EXPECT_EQ(mbs[0].batch.n_tokens(), 8);
    EXPECT_EQ(mbs[0].batch.n_seqs(), 3);
  }
}

TEST(MicroBatch, DecodeStepSplitsEvenly) {
  Batch w(std::vector<int>(16, 1));  // 16 sequences decoding one token each
  for (int k : {2, 3, 4, 8, 16}) {
    auto mbs = SplitMicroBatches(w.b, k);
    ASSERT_EQ(mbs.size(), static_cast<size_t>(k));
    CheckCover(w, mbs);
    for (const MicroBatch& m : mbs) {
      EXPECT_GE(m.batch.n_tokens(), 16 / k) << k;
      EXPECT_LE(m.batch.n_tokens(), (16 + k - 1) / k) << k;
    }
  }
}

// TeraPipe's cut: one long prompt is pipelined in pieces of even token counts.
TEST(MicroBatch, OneLongPromptIsCutIntoPieces) {
  Batch one({12});
  auto mbs = SplitMicroBatches(one.b, 4);
  ASSERT_EQ(mbs.size(), 4u);
  CheckCover(one, mbs);
  for (size_t i = 0; i < mbs.size(); ++i) {
    EXPECT_EQ(mbs[i].batch.n_tokens(), 3);
    EXPECT_EQ(mbs[i].batch.seq_len[0], 3 * static_cast<int32_t>(i + 1));  // KV up to the piece's end
    EXPECT_EQ(mbs[i].first_seq, 0);
  }
  // More micro-batches than tokens: one token each.
  Batch three({3});
  mbs = SplitMicroBatches(three.b, 8);
  ASSERT_EQ(mbs.size(), 3u);
  CheckCover(three, mbs);
}

TEST(MicroBatch, MixedStepsBalanceTokensAndNoneEmpty) {
  Batch w({1, 1, 30, 1, 2}, /*all_rows=*/true);  // one long prefill among decodes
  for (int k = 2; k <= 9; ++k) {
    auto mbs = SplitMicroBatches(w.b, k);
    EXPECT_EQ(mbs.size(), static_cast<size_t>(k));
    CheckCover(w, mbs);
    for (const MicroBatch& m : mbs) {
      EXPECT_GE(m.batch.n_tokens(), 35 / k) << k;
      EXPECT_LE(m.batch.n_tokens(), (35 + k - 1) / k) << k;
    }
  }
  Batch r({5, 5, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});  // 36 tokens
  auto mbs = SplitMicroBatches(r.b, 2);
  ASSERT_EQ(mbs.size(), 2u);
  CheckCover(r, mbs);
  EXPECT_EQ(mbs[0].batch.n_tokens(), 18);
  EXPECT_EQ(mbs[1].batch.n_tokens(), 18);
  EXPECT_EQ(mbs[1].first_seq, 3);  // the fourth sequence is cut: 3 tokens, then 2
  EXPECT_EQ(mbs[0].batch.seq_len.back(), 3);
}

}  // namespace
}  // namespace weft
