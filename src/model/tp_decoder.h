// Tensor parallelism (Megatron-LM's split) and pipeline parallelism (GPipe-style stages)
// of the dense llama-family decoder over MPI ranks (dist/communicator.h),
// `mpirun -np N*M weft <command> --tp N --pp M` (either may be 1):
//   * Tensor parallelism: q/k/v and gate/up are split by output rows: rank r holds heads
//     [r H/N, (r+1) H/N), KV heads [r Hkv/N, ...) (whole GQA groups, since N divides both)
//     and FFN columns [r F/N, ...); o_proj and down by input columns. Each rank computes a
//     partial o_proj / down output, and one all-reduce per sub-layer sums them (2 per
//     layer), in rank order: the same bits on every rank and every run (batch invariance
//     per layout holds, as without --tp). Norms are replicated. The embedding and
//     the output head are vocabulary-parallel: rank r holds the rows VocabSlice(V, N, r)
//     (model/bind_options.h; cut on 64-row panel bounds, so each logit is computed as
//     without --tp); a lookup writes its rows and zeros elsewhere and one all-reduce
//     completes it (exactly), and rank 0 gathers every rank's logit columns.
//   * Pipeline parallelism: stage s holds layers PipelineStageLayers(L, M, s) (only those
//     weights bound, only those layers' KV in its pool), stage 0 the embedding, the last
//     stage the final norm and output head. Each step is cut into micro-batches of whole
//     sequences (model/micro_batch.h; BindOptions::pp_micro_batches); stage s > 0
//     receives a micro-batch's activations [T_i, n_embd] from stage s - 1 (point to
//     point), computes its layers and sends them on; the last stage sends the logits of
//     its rows to rank 0. While stage s + 1 works on micro-batch i, stage s works on
//     i + 1. A row's logits do not depend on the cut (batch invariance).
//   * Both: rank = stage * N + tensor rank; each stage's N ranks all-reduce among
//     themselves (a Split of the job) and each sends to its counterpart in the next
//     stage; each of the last stage's ranks sends its vocabulary rows' logits to rank 0.
//   * Each rank's KV cache holds its KV heads of its layers, with rank 0's block ids.
// Rank 0 runs the command (scheduler, sampler, HTTP server) and, in Forward, broadcasts
// each step (tokens, positions, slot mapping, block tables, and under --pp the logit
// rows) to every rank before computing its part; the other ranks sit in
// RunTensorParallelFollower, computing the same step on theirs. The model's config() is
// the rank's: n_head, n_head_kv and n_ff divided by N (n_layer stays the whole model's;
// kv_layout() has the stage's layers).
//
// Thread-safety: one Forward / CopyKvBlock at a time per process (the collectives must be
// issued in the same order on every rank); the engine thread is the only caller.
#pragma once

#include <memory>
#include <string_view>

#include "dist/communicator.h"
#include "model/bind_options.h"
#include "model/model.h"
#include "weft/status.h"

namespace weft {

// Binds this rank's part (options.tp_rank, options.pp_stage) of the file's dense decoder
// (options.tp_size * options.pp_size > 1), after checking the layout (the job has
// tp * pp ranks, pp <= the model's layers) and checking with every rank that all loaded the same file (tensor names, types,
// shapes and leading bytes) with the same options: an error naming the ranks otherwise.
StatusOr<std::shared_ptr<const Model>> BindTensorParallelDecoder(std::string_view arch,
                                                                 std::shared_ptr<const ModelFile> file,
                                                                 ModelConfig config, const BindOptions& options,
                                                                 dist::Communicator& comm);

// A rank other than 0: computes rank 0's steps on its part of `model` (from
// BindTensorParallelDecoder) until rank 0 stops (its model is destroyed, or the process
// exits). Returns when told to stop.
Status RunTensorParallelFollower(std::shared_ptr<const Model> model, dist::Communicator& comm);

// A digest of what a rank loaded (see BindTensorParallelDecoder), for tests.
std::string TensorParallelFingerprint(const ModelFile& file, const BindOptions& options);

}  // namespace weft
