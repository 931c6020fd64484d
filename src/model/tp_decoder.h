// Tensor parallelism (Megatron-LM's split) of the dense llama-family decoder over MPI
// ranks (dist/communicator.h), `mpirun -np N weft <command> --tp N`:
//   * q/k/v and gate/up are split by output rows: rank r holds heads [r H/N, (r+1) H/N),
//     KV heads [r Hkv/N, ...) (whole GQA groups, since N divides both) and FFN columns
//     [r F/N, ...); o_proj and down by input columns. Each rank computes a partial
//     o_proj / down output, and one all-reduce per sub-layer sums them (2 per layer),
//     in rank order: the same bits on every rank and every run (batch invariance per
//     layout holds, as without --tp).
//   * Embedding, norms and the output matrix are replicated; only rank 0 computes logits.
//   * Each rank's KV cache holds its KV heads, with the same block ids as rank 0's.
// Rank 0 runs the command (scheduler, sampler, HTTP server) and, in Forward, broadcasts
// each step (tokens, positions, slot mapping, block tables) before computing its part;
// the other ranks sit in RunTensorParallelFollower, computing the same step on theirs.
// The model's config() is the rank's: n_head, n_head_kv and n_ff divided by N.
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

// Binds rank options.tp_rank's part of the file's dense decoder (options.tp_size > 1),
// after checking with every rank that all loaded the same file (tensor names, types,
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
