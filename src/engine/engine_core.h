// EngineCore: the step loop of the engine — schedule -> execute -> sample -> update —
// and the per-request state it needs (samplers, detokenizers, stop strings, streams).
// It owns the model runner, the KV cache (storage + manager) and the scheduler.
// Thread-safety: everything here runs on the engine thread (Engine drives it), except
// admission_limits(), which is fixed at creation.
#pragma once

#include <chrono>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/admission.h"
#include "engine/engine_config.h"
#include "engine/request_stream.h"
#include "kv/kv_cache_manager.h"
#include "kv/kv_cache_storage.h"
#include "model/model_runner.h"
#include "sampling/stop_strings.h"
#include "sched/scheduler.h"
#include "spec/proposer.h"
#include "spec/spec_governor.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace weft {

class EngineCore {
 public:
  static StatusOr<std::unique_ptr<EngineCore>> Create(const EngineConfig& config,
                                                      std::shared_ptr<const Model> model,
                                                      std::shared_ptr<const Tokenizer> tokenizer);
  ~EngineCore();

  // What a request must fit to be served at all (see CheckAdmission). Thread-safe.
  const AdmissionLimits& admission_limits() const { return limits_; }

  // Queues a request that passed CheckAdmission (a request that did not is a bug: checked,
  // aborts); its outputs go to `stream`. A sample generates at most until it fills the
  // context or the whole KV cache, whichever is smaller (it finishes with kLength there).
  void AddRequest(std::shared_ptr<RequestStream> stream, GenerationRequest request);
  // Aborts every request whose stream was cancelled; their blocks are free on return.
  void AbortCancelled();
  // Aborts everything (shutdown).
  void AbortAll(RequestFinish reason, const std::string& error = "");
  bool HasWork() const { return !requests_.empty(); }
  // One step. An error here is an engine bug or a resource failure; the caller fails
  // the requests in flight (AbortAll) and goes on.
  Status Step();

  EngineStats Stats() const;
  const ModelConfig& model_config() const { return runner_->config(); }
  int32_t max_model_len() const { return max_model_len_; }
  const char* isa_name() const { return runner_->isa_name(); }

 private:
  // WEFT_LOG=debug: one line per step on what the scheduler decided.
  void LogStepDecisions(const SchedulerOutput& out) const;
  struct SampleState {
    std::unique_ptr<Sequence> seq;
    SequenceSampler sampler;
    StreamingDetokenizer detok;
    StopStringMatcher stops;
    bool done = false;
    int32_t draft_len = 0;  // speculative decoding: this sample's current draft length
    // After a rejected 1-token draft the sample does not draft for `cooldown` steps; the
    // pause doubles (to 64) with each such miss and resets on an accepted token.
    int32_t cooldown = 0, backoff = 1;
  };
  struct RequestState {
    std::shared_ptr<RequestStream> stream;
    SamplingParams params;
    std::vector<std::unique_ptr<SampleState>> samples;
    int32_t num_done = 0;
    bool admitted = false;
    bool speculate = false;  // speculative decoding on for this request
  };
  struct Sampled {
    SampleState* state;
    RequestState* request;
    SampleResult result;
    int32_t token_index;  // where the token lands in the sequence's tokens
    bool last;            // the sequence's last token of this step
    bool complete;        // structured output: the constraint was complete after this token
  };

  EngineCore(const EngineConfig& config, std::shared_ptr<const Tokenizer> tokenizer);
  SampleState* FindSample(const Sequence* seq, RequestState** request);
  void EmitToken(RequestState& req, SampleState& s, const Sampled& x);
  static bool ConstraintComplete(const SampleState& s);
  // Speculative decoding: drafts for the running sequences that decode next step.
  // Returns whether a proposer gave any of them a draft (before the cuts of a constraint
  // and of the scheduler: the drafting was paid for either way).
  bool ProposeDrafts();
  // Samples entry e's tokens from its logits rows (verifying its draft if it has one).
  void SampleEntry(const ScheduledSequence& e, size_t n_vocab);
  // A token tree's verification (sched/draft_tree.h): follows accepted children from the
  // root, moves the accepted path's K/V into place, counts.
  void VerifyTree(const ScheduledSequence& e, size_t n_vocab);
  // Counts a verification pass (num_draft tokens or nodes, accepted_drafts of them, a
  // tree `depth` deep: num_draft for a chain) and adapts the sample's draft length.
  void AdaptDraftLength(SampleState& s, int32_t accepted_drafts, int32_t num_draft, int32_t depth);
  void FinishSample(RequestState& req, SampleState& s, RequestFinish finish, RequestOutput piece);
  void EraseFinishedRequests();

  EngineConfig config_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<KvCacheStorage> storage_;
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  int32_t max_model_len_ = 0;
  AdmissionLimits limits_;
  std::unordered_map<uint64_t, std::unique_ptr<RequestState>> requests_;
  uint64_t next_seed_ = 0;
  // Step scratch, sized at creation.
  std::vector<float> logits_;     // [max_num_seqs, n_vocab]
  std::vector<float> row_;        // [n_vocab]: a row a sampler may modify
  std::vector<int32_t> sampled_;
  std::vector<int32_t> counts_;   // tokens per sampler this step (Scheduler::Update)
  std::vector<Sampled> results_;
  std::vector<uint64_t> finished_ids_;
  // Counters.
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0, requests_finished_ = 0, steps_ = 0;
  double step_seconds_total_ = 0, peak_kv_usage_ = 0;
  int32_t peak_running_ = 0;  // most sequences running after a step
  int64_t decode_steps_ = 0, decode_tokens_ = 0;  // steps that computed no prompt token
  double decode_seconds_ = 0;
  std::unique_ptr<Proposer> proposer_;  // null: no speculative decoding
  int64_t spec_passes_ = 0, spec_draft_tokens_ = 0, spec_accepted_tokens_ = 0;
  double spec_draft_seconds_ = 0;  // in the proposer
  int64_t spec_kv_bytes_ = 0;      // the proposer's own KV cache
  std::vector<DraftSlot> draft_slots_;  // ProposeDrafts' scratch
  std::unique_ptr<SpecGovernor> governor_;  // null: drafting whenever the rules allow
  int64_t spec_tree_branch_tokens_ = 0, spec_tree_kv_moves_ = 0;
  // VerifyTree's scratch.
  std::vector<int32_t> tree_path_, tree_children_, tree_candidates_;
  std::vector<int64_t> tree_src_, tree_dst_;
};

}  // namespace weft
