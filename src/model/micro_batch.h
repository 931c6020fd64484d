// Cutting one step's ragged batch into micro-batches for pipeline parallelism (`--pp`,
// model/tp_decoder.h): the stages work on micro-batch i + 1 while the next stage works on
// micro-batch i (GPipe's schedule, for inference: no backward pass).
//
// The cuts fall at even token counts (T i / count), between sequences or inside one
// (TeraPipe's token-level cut: one long prompt is pipelined too). A sequence cut into
// pieces keeps its order: on every stage piece j runs before piece j + 1, so a later
// piece attends to the earlier pieces' KV, which the stage has written by then; each
// piece is a valid ForwardBatch whose seq_len is the sequence's KV length after the
// piece's last token (as a chunked prefill's). A row's logits are the same bits as in
// the whole batch (the kernels are batch and chunk invariant). The cut is a pure function
// of the batch and the count, so every stage computes the same one without a message.
//
//   std::vector<MicroBatch> mbs = SplitMicroBatches(batch, 4);
//   for (const MicroBatch& m : mbs) Run(m.batch);   // tokens [m.first_token, + n_tokens)
//
// Ownership: a MicroBatch's spans point into `batch`'s arrays (borrowed: they must
// outlive it) and into its own query_start / seq_len / logit_rows vectors; moving a MicroBatch
// keeps them valid (vectors move their heap storage). Not thread-safe; plain data.
#pragma once

#include <cstdint>
#include <vector>

#include "model/forward_batch.h"

namespace weft {

struct MicroBatch {
  ForwardBatch batch;         // a view of (pieces of) sequences [first_seq, first_seq + batch.n_seqs())
  int first_seq = 0;
  int64_t first_token = 0;    // batch.tokens[0] is the whole batch's token first_token
  // The whole batch's logit rows that fall in this micro-batch, as indices into the
  // whole batch's logit_rows (where this micro-batch's logits go), in the order of
  // batch.logit_rows (which holds them rebased to this micro-batch's tokens).
  std::vector<int32_t> logit_index;
  std::vector<int32_t> query_start;  // owned storage of batch.query_start (rebased)
  std::vector<int32_t> seq_len;      // owned storage of batch.seq_len (a piece's KV length)
  std::vector<int32_t> logit_rows;   // owned storage of batch.logit_rows (rebased)
};

// min(count, n_tokens) micro-batches, micro-batch i the tokens [T i / count,
// T (i + 1) / count) (none empty). count <= 1: one micro-batch, the whole batch.
std::vector<MicroBatch> SplitMicroBatches(const ForwardBatch& batch, int count);

}  // namespace weft
