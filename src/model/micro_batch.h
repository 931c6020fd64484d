// Cutting one step's ragged batch into micro-batches for pipeline parallelism (`--pp`,
// model/tp_decoder.h): the stages work on micro-batch i + 1 while the next stage works on
// micro-batch i (GPipe's schedule, for inference: no backward pass).
//
// A cut falls between sequences, never inside one, so that every micro-batch is a valid
// ForwardBatch on its own (its sequences' KV does not depend on the other micro-batches')
// and a row's logits are the same bits as in the whole batch (the kernels are batch
// invariant). The cut is a pure function of the batch and the count, so every stage
// computes the same one without a message.
//
//   std::vector<MicroBatch> mbs = SplitMicroBatches(batch, 4);
//   for (const MicroBatch& m : mbs) Run(m.batch);   // tokens [m.first_token, + n_tokens)
//
// Ownership: a MicroBatch's spans point into `batch`'s arrays (borrowed: they must
// outlive it) and into its own query_start / logit_rows vectors; moving a MicroBatch
// keeps them valid (vectors move their heap storage). Not thread-safe; plain data.
#pragma once

#include <cstdint>
#include <vector>

#include "model/forward_batch.h"

namespace weft {

struct MicroBatch {
  ForwardBatch batch;         // a view of sequences [first_seq, first_seq + batch.n_seqs())
  int first_seq = 0;
  int64_t first_token = 0;    // batch.tokens[0] is the whole batch's token first_token
  // The whole batch's logit rows that fall in this micro-batch, as indices into the
  // whole batch's logit_rows (where this micro-batch's logits go), in the order of
  // batch.logit_rows (which holds them rebased to this micro-batch's tokens).
  std::vector<int32_t> logit_index;
  std::vector<int32_t> query_start;  // owned storage of batch.query_start (rebased)
  std::vector<int32_t> logit_rows;   // owned storage of batch.logit_rows (rebased)
};

// At most `count` micro-batches of whole sequences with token counts as even as the
// sequences allow (greedy: a cut is placed where the running token count first reaches
// i/count of the total), none empty; fewer when there are fewer sequences. count <= 1:
// one micro-batch, the whole batch.
std::vector<MicroBatch> SplitMicroBatches(const ForwardBatch& batch, int count);

}  // namespace weft
