#include "engine/engine_core.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "base/check.h"
#include "base/log.h"
#include "dist/communicator.h"
#include "sched/draft_tree.h"

namespace weft {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Bytes of memory available now (MemAvailable), or 0 when unknown.
int64_t AvailableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

}  // namespace

EngineCore::EngineCore(const EngineConfig& config, std::shared_ptr<const Tokenizer> tokenizer)
    : config_(config), tokenizer_(std::move(tokenizer)) {}

EngineCore::~EngineCore() = default;

StatusOr<std::unique_ptr<EngineCore>> EngineCore::Create(const EngineConfig& config,
                                                         std::shared_ptr<const Model> model,
                                                         std::shared_ptr<const Tokenizer> tokenizer) {
  const ModelConfig& mc = model->config();
  auto core = std::unique_ptr<EngineCore>(new EngineCore(config, std::move(tokenizer)));
  SchedulerConfig sc = config.scheduler;
  // The model's own sliding window, when every layer has one (else some layer needs all).
  sc.model_window = 0;
  if (config.free_model_window_blocks && mc.n_layer > 0) {
    int64_t widest = 0;
    for (int64_t l = 0; l < mc.n_layer; ++l) {
      const int64_t w = mc.LayerWindow(l);
      if (w <= 0) {
        widest = 0;
        break;
      }
      widest = std::max(widest, w);
    }
    sc.model_window = static_cast<int32_t>(widest);
  }
  if (config.spec.enabled()) {
    if (config.spec.num_draft < 1 || config.spec.num_draft > 16) {
      return InvalidArgumentError(fmt::format("--spec: draft length {} is not in [1, 16]", config.spec.num_draft));
    }
    // Draft tokens verified per step, all sequences together: each costs a token of the
    // budget and a logits row (kept to 64 rows so a 150k vocabulary costs ~40 MB more).
    // A token tree verifies up to tree_nodes nodes per sequence (1..63: with its root, at
    // most 64 rows, the tree attention limit).
    if (config.spec.tree && (config.spec.tree_nodes < 1 || config.spec.tree_nodes > 63)) {
      return InvalidArgumentError(fmt::format("--spec tree: node budget {} is not in [1, 63]", config.spec.tree_nodes));
    }
    if (config.spec.tree && (model->tp_size() > 1 || model->pp_size() > 1)) {
      return InvalidArgumentError("--spec tree:...: token trees are not available with tensor or pipeline parallelism "
                                  "(--tp, --pp); use a chain (--spec ngram)");
    }
    const int32_t per_seq = config.spec.tree ? config.spec.tree_nodes : config.spec.num_draft;
    sc.max_draft_tokens_per_step = std::max(
        0, std::min({per_seq * sc.max_num_seqs, std::max(per_seq, 64), sc.max_num_batched_tokens - 1}));
  } else {
    sc.max_draft_tokens_per_step = 0;
  }
  if (sc.max_num_seqs <= 0 || sc.max_num_batched_tokens <= 0 || config.block_size <= 0) {
    return InvalidArgumentError("max sequences, max batched tokens and the block size must be positive");
  }
  // Beyond the model's context, positions it was never trained on: refused, as vLLM does.
  if (config.max_model_len > mc.context_length) {
    return InvalidArgumentError(fmt::format("a context of {} tokens was asked for (--max-model-len / -c), but the "
                                            "model's context length is {}; give at most {}",
                                            config.max_model_len, mc.context_length, mc.context_length));
  }
  core->max_model_len_ = static_cast<int32_t>(config.max_model_len > 0 ? config.max_model_len : mc.context_length);
  if (!sc.enable_chunked_prefill && sc.max_num_batched_tokens < core->max_model_len_) {
    return InvalidArgumentError(fmt::format("without chunked prefill the token budget ({}) must hold a whole "
                                            "prompt of up to {} tokens",
                                            sc.max_num_batched_tokens, core->max_model_len_));
  }
  if (config.spec.enabled()) {
    ProposerEnv env;
    env.target = model;
    env.tokenizer = core->tokenizer_;
    env.threads = config.threads;
    env.block_size = config.block_size;
    env.max_model_len = core->max_model_len_;
    env.max_seqs = sc.max_num_seqs;
    env.max_tokens_per_step = sc.max_num_batched_tokens;
    env.kv_type = config.kv_type;
    WEFT_ASSIGN_OR_RETURN(core->proposer_, MakeProposer(config.spec, env));
    if (config.spec.governor) core->governor_ = std::make_unique<SpecGovernor>();
  }
  RunnerOptions ro;
  ro.max_tokens_per_step = sc.max_num_batched_tokens;
  ro.max_logit_rows = sc.max_num_seqs + sc.max_draft_tokens_per_step;
  ro.threads = config.threads;
  WEFT_ASSIGN_OR_RETURN(core->runner_, ModelRunner::Create(std::move(model), ro));

  // KV cache: as asked, capped at what max_num_seqs full-length sequences can use.
  const int64_t bytes_per_block =
      static_cast<int64_t>(core->runner_->KvShape(1, config.block_size, config.kv_type).TotalBytes());
  int64_t bytes = config.kv_cache_bytes;
  if (bytes <= 0) bytes = static_cast<int64_t>(static_cast<double>(AvailableMemoryBytes()) * config.kv_cache_fraction);
  // A draft model's KV comes out of the same budget: both caches get the same number of
  // blocks (spec/draft_model_proposer.h).
  const int64_t draft_bytes_per_token = core->proposer_ ? core->proposer_->KvBytesPerToken() : 0;
  if (draft_bytes_per_token > 0) {
    const int64_t target_per_token = bytes_per_block / config.block_size;
    bytes = static_cast<int64_t>(static_cast<double>(bytes) * static_cast<double>(target_per_token) /
                                 static_cast<double>(target_per_token + draft_bytes_per_token));
  }
  const int64_t blocks_per_seq = (core->max_model_len_ + config.block_size - 1) / config.block_size;
  int64_t num_blocks = std::min<int64_t>(bytes / bytes_per_block, blocks_per_seq * sc.max_num_seqs);
  if (num_blocks < blocks_per_seq && num_blocks < 2) {
    return ResourceExhaustedError(fmt::format("a KV cache of {} bytes holds {} blocks of {} tokens: too small; give "
                                              "more memory (--kv-cache-mem)",
                                              bytes, num_blocks, config.block_size));
  }
  // Token trees: scratch blocks past the manager's for the nodes off the first-child
  // chain (sched/scheduler.h): a node's view is the prefix's partial block plus at most
  // num_draft ancestors and itself; at most max_draft_tokens_per_step such nodes a step.
  if (config.spec.enabled() && config.spec.tree) {
    const int32_t bs = config.block_size;
    sc.tree_scratch_first_block = static_cast<int32_t>(num_blocks);
    sc.tree_scratch_blocks = sc.max_draft_tokens_per_step * ((bs - 1 + config.spec.num_draft + 1 + bs - 1) / bs);
  }
  WEFT_ASSIGN_OR_RETURN(core->storage_,
                        KvCacheStorage::Create(core->runner_->KvShape(num_blocks + sc.tree_scratch_blocks,
                                                                      config.block_size, config.kv_type)));
  if (draft_bytes_per_token > 0) WEFT_RETURN_IF_ERROR(core->proposer_->ReserveKv(num_blocks));
  core->spec_kv_bytes_ = draft_bytes_per_token * num_blocks * config.block_size;
  KvCacheConfig kc;
  kc.num_blocks = static_cast<int32_t>(num_blocks);
  kc.block_size = config.block_size;
  kc.enable_prefix_caching = config.enable_prefix_caching;
  kc.max_model_len = core->max_model_len_;
  core->kv_ = std::make_unique<KvCacheManager>(kc);
  core->scheduler_ = std::make_unique<Scheduler>(sc, core->kv_.get());
  core->limits_ = AdmissionLimits{mc.n_vocab,      core->max_model_len_, kc.num_blocks, config.block_size,
                                  sc.max_num_seqs, sc.policy,           KvWindow{},    "", KvBudget{}, ""};
  // Sinks + window: the default policy must fit, and the model must allow re-rotating K
  // (else only requests without a window are served).
  const Status shift_ok = core->runner_->SupportsKvShift();
  if (!shift_ok.ok()) core->limits_.kv_window_unsupported = shift_ok.message();
  if (config.kv_window.enabled() || config.kv_window.sinks != 0) {
    WEFT_RETURN_IF_ERROR(ValidateKvWindow(config.kv_window, config.block_size, core->max_model_len_, "--kv-sinks",
                                          "--kv-window"));
    if (!shift_ok.ok()) return shift_ok;
    core->limits_.kv_window = config.kv_window;
    const int64_t held =
        int64_t{config.kv_window.SinkBlocks(config.block_size)} * config.block_size + config.kv_window.window +
        config.block_size;
    if (held + 1 > core->limits_.kv_tokens()) {
      return ResourceExhaustedError(fmt::format("--kv-window: {} keeps up to {} tokens, more than the KV cache's {}; "
                                                "give more memory (--kv-cache-mem)",
                                                KvWindowName(config.kv_window), held, core->limits_.kv_tokens()));
    }
  }

  // KV budget (kv/kv_budget.h): the default policy must be valid, fit the cache, and the
  // model must allow re-rotating K (and, for h2o, reporting attention mass).
  const Status mass_ok = core->runner_->SupportsAttentionMass();
  if (!mass_ok.ok()) core->limits_.kv_h2o_unsupported = mass_ok.message();
  if (config.kv_budget.enabled() || config.kv_budget.budget != 0) {
    if (config.kv_window.enabled()) {
      return InvalidArgumentError("--kv-budget with --kv-window: pick one (--kv-policy window is a window sized to the "
                                  "budget)")
          .WithField("--kv-budget");
    }
    WEFT_RETURN_IF_ERROR(ValidateKvBudget(config.kv_budget, config.block_size, 1, core->max_model_len_, "--kv-budget",
                                          "--kv-sinks"));
    if (!shift_ok.ok()) return shift_ok.WithField("--kv-budget");
    if (config.kv_budget.policy == KvPolicy::kH2o && !mass_ok.ok()) return mass_ok.WithField("--kv-policy");
    if (config.spec.enabled()) {
      return InvalidArgumentError("--kv-budget with speculative decoding (--spec): a budgeted sequence never drafts, "
                                  "so every request would verify nothing; drop one of them")
          .WithField("--kv-budget");
    }
    const int64_t held = int64_t{config.kv_budget.budget} + config.block_size;
    if (held > core->limits_.kv_tokens()) {
      return ResourceExhaustedError(fmt::format("--kv-budget: {} keeps up to {} tokens, more than the KV cache's {}; "
                                                "give more memory (--kv-cache-mem)",
                                                KvBudgetName(config.kv_budget), held, core->limits_.kv_tokens()));
    }
    core->limits_.kv_budget = config.kv_budget;
  }

  core->logits_.resize(static_cast<size_t>(ro.max_logit_rows) * static_cast<size_t>(mc.n_vocab));
  core->row_.resize(static_cast<size_t>(mc.n_vocab));
  core->sampled_.reserve(static_cast<size_t>(ro.max_logit_rows) * 2);
  core->counts_.reserve(static_cast<size_t>(ro.max_logit_rows) * 2);
  core->results_.reserve(static_cast<size_t>(ro.max_logit_rows) * 2);
  core->draft_slots_.reserve(static_cast<size_t>(sc.max_num_seqs));
  core->next_seed_ = config.seed != 0 ? config.seed : static_cast<uint64_t>(NowNs());
  return core;
}

void EngineCore::AddRequest(std::shared_ptr<RequestStream> stream, GenerationRequest request) {
  auto req = std::make_unique<RequestState>();
  req->stream = std::move(stream);
  req->params = request.sampling;
  const KvBudget budget = RequestKvBudget(request, limits_);
  const KvWindow window = RequestKvWindow(request, limits_);
  const bool evicts = window.enabled() || budget.enabled();
  // A windowed or budgeted sequence never drafts (kv/kv_window.h); speculation changes no output.
  req->speculate = request.speculate && config_.spec.enabled() && !evicts;
  const uint64_t id = req->stream->id();
  const int32_t n = request.sampling.n;
  WEFT_DCHECK(CheckAdmission(request, limits_).ok(), "request {} was not admitted", id);
  // A sample alone must always fit the cache, or it would wait for blocks forever. A
  // windowed one runs in constant memory, past the context: only its token list (4 bytes
  // a token, reserved up front) bounds it, at kMaxWindowedTokens.
  constexpr int64_t kMaxWindowedTokens = int64_t{1} << 24;
  const int64_t room = evicts ? kMaxWindowedTokens : std::min<int64_t>(max_model_len_, limits_.kv_tokens());
  const auto max_tokens = static_cast<int32_t>(std::min<int64_t>(
      request.sampling.max_tokens, room - static_cast<int64_t>(request.prompt_tokens.size())));
  DecodeOptions dec;
  dec.strip_leading_space = false;  // a completion continues its prompt
  dec.skip_special = request.sampling.skip_special_tokens;
  std::vector<Sequence*> seqs;
  for (int32_t k = 0; k < n; ++k) {
    SamplingParams sp = request.sampling;
    // Seeded requests: sample k uses seed + k (reproducible, yet the samples differ).
    const uint64_t seed = sp.seed ? *sp.seed + static_cast<uint64_t>(k) : next_seed_++;
    sp.seed = seed;
    auto s = std::make_unique<SampleState>(SampleState{
        std::make_unique<Sequence>(id, k, request.prompt_tokens, std::max(1, max_tokens), request.priority),
        SequenceSampler(sp, tokenizer_->eos_id(), seed), StreamingDetokenizer(*tokenizer_, dec),
        StopStringMatcher(sp.stop, sp.include_stop_str_in_output), false});
    s->sampler.AddPromptTokens(request.prompt_tokens);
    if (request.constraint) s->sampler.SetConstraint(request.constraint->NewConstraint());
    // Constrained samples draft too: drafts are cut to what the constraint accepts
    // (ProposeDrafts) and verified under its masks (sampler_verify).
    if (req->speculate) {
      s->draft_len = config_.spec.num_draft;
      s->seq->draft.reserve(static_cast<size_t>(config_.spec.num_draft));
    }
    s->seq->kv.window = window;
    s->seq->kv.budget = budget;
    if (budget.enabled() && budget.policy == KvPolicy::kH2o) {
      // One float per cache position the table can hold: the budget's blocks and one more.
      const int32_t bs = config_.block_size;
      s->seq->kv.attn_mass.assign(static_cast<size_t>((budget.budget + bs - 1) / bs + 1) * static_cast<size_t>(bs), 0.0f);
    }
    kv_->InitTable(s->seq->kv);
    seqs.push_back(s->seq.get());
    req->samples.push_back(std::move(s));
  }
  scheduler_->Add(seqs);
  requests_.emplace(id, std::move(req));
}

EngineCore::SampleState* EngineCore::FindSample(const Sequence* seq, RequestState** request) {
  auto it = requests_.find(seq->request_id);
  if (it == requests_.end()) return nullptr;
  *request = it->second.get();
  return it->second->samples[static_cast<size_t>(seq->sample_index)].get();
}

void EngineCore::FinishSample(RequestState& req, SampleState& s, RequestFinish finish, RequestOutput piece) {
  if (s.done) return;
  s.done = true;
  ++req.num_done;
  if (proposer_ != nullptr) proposer_->Release(reinterpret_cast<uintptr_t>(s.seq.get()));
  piece.finish = finish;
  piece.sample_index = s.seq->sample_index;
  piece.num_prompt_tokens = s.seq->num_prompt_tokens;
  piece.num_generated_tokens = s.seq->num_generated();
  req.stream->Push(std::move(piece));
  if (req.num_done == static_cast<int32_t>(req.samples.size())) {
    ++requests_finished_;
    finished_ids_.push_back(req.stream->id());
  }
}

void EngineCore::EmitToken(RequestState& req, SampleState& s, const Sampled& x) {
  const SampleResult& r = x.result;
  const int32_t token_index = x.token_index;
  const bool last = x.last;
  if (s.done) return;
  Sequence& seq = *s.seq;
  // A stop ends the sample at this token: tokens a verified draft appended after it were
  // never emitted and are dropped (the sequence is finished; nothing else reads them).
  const auto drop_after = [&] {
    if (seq.num_tokens() > token_index + 1) seq.tokens.resize(static_cast<size_t>(token_index) + 1);
  };
  ++generated_tokens_;
  if (req.stream->first_token_ns.load(std::memory_order_relaxed) == 0) {
    req.stream->first_token_ns.store(NowNs(), std::memory_order_relaxed);
  }
  RequestOutput piece;
  piece.sample_index = seq.sample_index;
  piece.num_prompt_tokens = seq.num_prompt_tokens;
  piece.num_generated_tokens = token_index + 1 - seq.num_prompt_tokens;
  piece.num_cached_prompt_tokens = seq.num_cached_tokens;
  if (req.params.logprobs >= 0) piece.logprobs.push_back(r);
  const SamplingParams& p = req.params;
  const bool is_eos = !p.ignore_eos && r.token == tokenizer_->eos_id();
  const bool is_stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), r.token) != p.stop_token_ids.end();
  if (is_eos || is_stop_id) {
    // The stop token ends the text (its own text too, unless asked to include it); what
    // the detokenizer held back is complete now.
    std::string tail = p.include_stop_str_in_output ? s.detok.Feed(r.token) : std::string();
    tail += s.detok.Flush();
    piece.text_delta = s.stops.Feed(tail).emit;
    if (!is_eos) piece.token_ids.push_back(r.token);
    piece.text_delta += s.stops.Flush();
    if (!seq.is_finished()) scheduler_->Finish(&seq, FinishReason::kStop);
    drop_after();
    FinishSample(req, s, RequestFinish::kStop, std::move(piece));
    return;
  }
  piece.token_ids.push_back(r.token);
  const StopStringMatcher::Result text = s.stops.Feed(s.detok.Feed(r.token));
  piece.text_delta = text.emit;
  if (text.stopped) {
    if (!seq.is_finished()) scheduler_->Finish(&seq, FinishReason::kStop);
    drop_after();
    FinishSample(req, s, RequestFinish::kStop, std::move(piece));
    return;
  }
  if (x.complete) {
    // Structured output: a complete match that nothing can extend. Stop here rather than
    // sample the only token left (EOS, which a model may lack).
    piece.text_delta += s.stops.Feed(s.detok.Flush()).emit;
    piece.text_delta += s.stops.Flush();
    if (!seq.is_finished()) scheduler_->Finish(&seq, FinishReason::kStop);
    drop_after();
    FinishSample(req, s, RequestFinish::kStop, std::move(piece));
    return;
  }
  if (last && seq.is_finished()) {  // Update() finished it: max_tokens or the context is full
    piece.text_delta += s.stops.Feed(s.detok.Flush()).emit;
    piece.text_delta += s.stops.Flush();
    FinishSample(req, s, seq.finish_reason == FinishReason::kAbort ? RequestFinish::kAbort : RequestFinish::kLength,
                 std::move(piece));
    return;
  }
  req.stream->Push(std::move(piece));
}

void EngineCore::EraseFinishedRequests() {
  for (uint64_t id : finished_ids_) requests_.erase(id);
  finished_ids_.clear();
}

void EngineCore::AbortCancelled() {
  for (auto& [id, req] : requests_) {
    if (!req->stream->cancelled() || req->num_done == static_cast<int32_t>(req->samples.size())) continue;
    scheduler_->Abort(id);
    for (auto& s : req->samples) FinishSample(*req, *s, RequestFinish::kAbort, RequestOutput{});
  }
  EraseFinishedRequests();
}

void EngineCore::AbortAll(RequestFinish reason, const std::string& error) {
  for (auto& [id, req] : requests_) {
    scheduler_->Abort(id);
    for (auto& s : req->samples) {
      RequestOutput out;
      out.error = error;
      FinishSample(*req, *s, reason, std::move(out));
    }
  }
  EraseFinishedRequests();
}

void EngineCore::LogStepDecisions(const SchedulerOutput& out) const {
  int32_t prefill_seqs = 0, prefill_tokens = 0, decode_seqs = 0;
  for (const ScheduledSequence& e : out.seqs) {
    if (e.start_position < e.seq->num_prompt_tokens) {
      ++prefill_seqs;
      prefill_tokens += e.num_new_tokens;
    } else {
      ++decode_seqs;
    }
  }
  const KvCacheStats kv = kv_->Stats();
  WEFT_LOG_DEBUG("engine step: {} seqs ({} prefill, {} prompt tokens; {} decode), {} tokens, {} preempted, "
                 "{} copy-on-write, {} waiting, KV {}/{} blocks",
                 out.seqs.size(), prefill_seqs, prefill_tokens, decode_seqs, out.num_tokens, out.preempted.size(),
                 out.copies.size(), scheduler_->Stats().num_waiting, kv.num_used_blocks, kv.num_blocks);
}

bool EngineCore::ProposeDrafts() {
  // Back-off: past spec.max_batch_tokens tokens per step the forward pass is no longer
  // bound by reading the weights, and verifying drafts would cost more than it saves.
  int32_t decoding = 0;
  for (const Sequence* s : scheduler_->running()) decoding += s->num_uncomputed() == 1 ? 1 : 0;
  int32_t room = config_.spec.max_batch_tokens - decoding;
  if (governor_ != nullptr && !governor_->drafting()) room = 0;  // measured slower: not now
  draft_slots_.clear();
  for (Sequence* s : scheduler_->running()) {
    s->draft.clear();
    s->draft_parent.clear();
    if (room <= 0 || s->num_uncomputed() != 1 || !s->group.empty()) continue;
    RequestState* req = nullptr;
    SampleState* st = FindSample(s, &req);
    if (st == nullptr || st->done || !req->speculate) continue;
    if (st->cooldown > 0) {
      --st->cooldown;
      continue;
    }
    const int32_t k = std::min({st->draft_len, room, s->max_tokens - s->num_generated() - 1});
    if (k <= 0) continue;
    if (config_.spec.tree && proposer_->drafts_in_batches()) {
      // A model drafts the trees of all sequences in one batch; the room is taken at the
      // asked node budget.
      const int32_t nodes = std::min(config_.spec.tree_nodes, room);
      DraftSlot slot{reinterpret_cast<uintptr_t>(s), s->tokens, s->num_prompt_tokens, k, &s->draft};
      slot.parent = &s->draft_parent;
      slot.max_nodes = nodes;
      draft_slots_.push_back(slot);
      room -= nodes;
    } else if (config_.spec.tree) {
      // A tree of depth k and at most tree_nodes nodes (the room counts its nodes).
      const auto t0 = std::chrono::steady_clock::now();
      proposer_->ProposeTree(s->tokens, s->num_prompt_tokens, k, std::min(config_.spec.tree_nodes, room), s->draft,
                             s->draft_parent);
      NormalizeDraftTree(s->draft, s->draft_parent);
      spec_draft_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      room -= static_cast<int32_t>(s->draft.size());
    } else if (proposer_->drafts_in_batches()) {
      // Batched: the room is taken at the asked length (a model drafts them all).
      draft_slots_.push_back({reinterpret_cast<uintptr_t>(s), s->tokens, s->num_prompt_tokens, k, &s->draft});
      room -= k;
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      proposer_->Propose(s->tokens, s->num_prompt_tokens, k, s->draft);
      spec_draft_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      room -= static_cast<int32_t>(s->draft.size());
    }
  }
  if (!draft_slots_.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    if (config_.spec.tree) {
      proposer_->ProposeTreeBatch(draft_slots_);
      for (const DraftSlot& d : draft_slots_) NormalizeDraftTree(*d.draft, *d.parent);
    } else {
      proposer_->ProposeBatch(draft_slots_);
    }
    spec_draft_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const bool proposed = std::any_of(scheduler_->running().begin(), scheduler_->running().end(),
                                    [](const Sequence* s) { return !s->draft.empty(); });
  // Structured output: a draft token the constraint refuses would be rejected anyway
  // (its probability under the mask is 0); cut the draft there so that no pass verifies
  // it. The constraint advances over the kept drafts and rolls back.
  for (Sequence* s : scheduler_->running()) {
    if (s->draft.empty()) continue;
    RequestState* req = nullptr;
    SampleState* st = FindSample(s, &req);
    TokenConstraint* c = st != nullptr ? st->sampler.constraint() : nullptr;
    if (c == nullptr) continue;
    CutDraftTreeToChain(s->draft, s->draft_parent);  // a constrained request drafts a chain
    int kept = 0;
    while (kept < static_cast<int>(s->draft.size()) && c->Accept(s->draft[static_cast<size_t>(kept)])) ++kept;
    c->Rollback(kept);
    s->draft.resize(static_cast<size_t>(kept));
  }
  return proposed;
}

bool EngineCore::ConstraintComplete(const SampleState& s) {
  const TokenConstraint* c = s.sampler.constraint();
  return c != nullptr && c->Complete();
}

void EngineCore::SampleEntry(const ScheduledSequence& e, size_t n_vocab) {
  if (!e.needs_logits) return;
  if (e.num_draft == 0) {
    const float* row = logits_.data() + static_cast<size_t>(e.logits_row) * n_vocab;
    for (Sequence* target : e.samplers) {
      RequestState* req = nullptr;
      SampleState* s = FindSample(target, &req);
      std::copy(row, row + n_vocab, row_.begin());  // the sampler modifies its row
      SampleResult r = s != nullptr ? s->sampler.Sample(row_) : SampleResult{0, 0.0f, {}};
      sampled_.push_back(r.token);
      counts_.push_back(1);
      if (s != nullptr) results_.push_back({s, req, std::move(r), target->num_tokens(), true, ConstraintComplete(*s)});
    }
    return;
  }
  if (!e.seq->draft_parent.empty() && FirstChildChainLength(e.seq->draft_parent, e.num_draft) < e.num_draft) {
    VerifyTree(e, n_vocab);
    return;
  }
  // Verification: row j scores the token after the entry's j-th new token; draft token j
  // is accepted or replaced by the sampler's rejection rule, and the first replacement
  // (or the token after the whole accepted draft) ends the sequence's step.
  Sequence* seq = e.seq;
  RequestState* req = nullptr;
  SampleState* s = FindSample(seq, &req);
  WEFT_CHECK(s != nullptr, "request {} verified a draft after it was gone", seq->request_id);
  const int32_t base = seq->num_tokens();
  int32_t count = 0;
  bool accepted = true;
  for (int32_t j = 0; j <= e.num_draft && accepted; ++j) {
    const float* row = logits_.data() + static_cast<size_t>(e.logits_row + j) * n_vocab;
    std::copy(row, row + n_vocab, row_.begin());
    SampleResult r = j < e.num_draft ? s->sampler.Verify(row_, seq->draft[static_cast<size_t>(j)], &accepted)
                                     : s->sampler.Sample(row_);
    sampled_.push_back(r.token);
    results_.push_back({s, req, std::move(r), base + j, false, ConstraintComplete(*s)});
    ++count;
  }
  results_.back().last = true;
  counts_.push_back(count);
  AdaptDraftLength(*s, count - 1, e.num_draft, e.num_draft);
}

void EngineCore::VerifyTree(const ScheduledSequence& e, size_t n_vocab) {
  // Row 0 scores the token after the root; row i + 1 the token after node i. From the
  // root, the children of the current node (in node order, distinct tokens) are the
  // candidates of SequenceSampler::VerifyCandidates; an accepted child becomes the current
  // node, a rejection (or a leaf: Sample) ends the step.
  Sequence* seq = e.seq;
  RequestState* req = nullptr;
  SampleState* s = FindSample(seq, &req);
  WEFT_CHECK(s != nullptr, "request {} verified a tree after it was gone", seq->request_id);
  const int32_t base = seq->num_tokens(), n = e.num_draft, P = e.start_position;
  const std::span<const int32_t> parent(seq->draft_parent.data(), static_cast<size_t>(n));
  tree_path_.clear();
  int32_t count = 0, max_depth = 0;
  for (int32_t i = 0, d = 0; i < n; ++i) {  // the tree's depth (for the adaptive length)
    d = 1;
    for (int32_t a = parent[static_cast<size_t>(i)]; a >= 0; a = parent[static_cast<size_t>(a)]) ++d;
    max_depth = std::max(max_depth, d);
  }
  for (int32_t node = -1;;) {
    tree_children_.clear();
    tree_candidates_.clear();
    for (int32_t i = node + 1; i < n; ++i) {
      if (parent[static_cast<size_t>(i)] == node) {
        tree_children_.push_back(i);
        tree_candidates_.push_back(seq->draft[static_cast<size_t>(i)]);
      }
    }
    const float* row = logits_.data() + static_cast<size_t>(e.logits_row + node + 1) * n_vocab;
    std::copy(row, row + n_vocab, row_.begin());
    int32_t chosen = -1;
    SampleResult r = tree_candidates_.empty() ? s->sampler.Sample(row_)
                                              : s->sampler.VerifyCandidates(row_, tree_candidates_, &chosen);
    sampled_.push_back(r.token);
    results_.push_back({s, req, std::move(r), base + count, false, ConstraintComplete(*s)});
    ++count;
    if (chosen < 0) break;
    node = tree_children_[static_cast<size_t>(chosen)];
    tree_path_.push_back(node);
  }
  results_.back().last = true;
  counts_.push_back(count);
  // KV: accepted node at depth j + 1 must sit at position P + 1 + j; it was computed in
  // slot P + 1 + node. Along the first-child chain node == j (nothing to move); past it
  // the rows are copied in depth order (a source is never an earlier destination: node
  // >= j, and a later node's index exceeds it). The rest is rolled back by Update.
  tree_src_.clear();
  tree_dst_.clear();
  for (size_t j = 0; j < tree_path_.size(); ++j) {
    const int32_t node = tree_path_[j];
    if (node == static_cast<int32_t>(j)) continue;
    tree_src_.push_back(kv_->Slot(seq->kv, P + 1 + node));
    tree_dst_.push_back(kv_->Slot(seq->kv, P + 1 + static_cast<int32_t>(j)));
    ++spec_tree_branch_tokens_;
  }
  spec_tree_kv_moves_ += static_cast<int64_t>(tree_src_.size());
  storage_->CopySlots(tree_src_, tree_dst_);
  AdaptDraftLength(*s, count - 1, n, max_depth);
}

void EngineCore::AdaptDraftLength(SampleState& st, int32_t accepted_drafts, int32_t num_draft, int32_t depth) {
  SampleState* s = &st;
  ++spec_passes_;
  spec_draft_tokens_ += num_draft;
  spec_accepted_tokens_ += accepted_drafts;
  if (config_.spec.adaptive) {
    // Grow after a fully accepted draft, else shrink to what was accepted (+1 to probe);
    // a sample whose shortest drafts miss pauses drafting (a text that does not repeat
    // itself should cost next to nothing).
    // (A tree one level deep counts as a 1-token draft: its candidates all missed.)
    if (accepted_drafts == 0 && depth == 1) {
      s->cooldown = s->backoff;
      s->backoff = std::min(64, s->backoff * 2);
    } else if (accepted_drafts > 0) {
      s->backoff = 1;
    }
    s->draft_len = accepted_drafts == depth ? std::min(config_.spec.num_draft, s->draft_len + 1)
                                            : std::max(1, accepted_drafts + 1);
  }
}

Status EngineCore::Step() {
  const auto t0 = std::chrono::steady_clock::now();
  const bool proposed_drafts = proposer_ != nullptr && ProposeDrafts();
  const SchedulerOutput& out = scheduler_->Schedule();
  if (out.empty()) return Status::Ok();
  if (GetLogLevel() == LogLevel::kDebug) LogStepDecisions(out);
  for (const BlockCopy& c : out.copies) runner_->model().CopyKvBlock(*storage_, c.src, c.dst);
  WEFT_RETURN_IF_ERROR(runner_->ShiftKPositions(*storage_, out.shifts));  // sinks + window (kv/kv_window.h)
  WEFT_RETURN_IF_ERROR(runner_->Execute(out.batch(), *storage_, logits_.data()));
  const auto n_vocab = static_cast<size_t>(runner_->config().n_vocab);
  sampled_.clear();
  counts_.clear();
  results_.clear();
  bool decode_only = true;
  for (const ScheduledSequence& e : out.seqs) {
    if (e.start_position < e.seq->num_prompt_tokens) {
      decode_only = false;
      prompt_tokens_ += std::min(e.num_new_tokens, e.seq->num_prompt_tokens - e.start_position);
    }
    SampleEntry(e, n_vocab);
  }
  if (!out.seqs.empty()) {
    const int64_t now = NowNs();
    for (const ScheduledSequence& e : out.seqs) {
      RequestState* req = nullptr;
      if (FindSample(e.seq, &req) != nullptr && !req->admitted) {
        req->admitted = true;
        req->stream->queued_ns.store(now - req->stream->submit_ns.load(std::memory_order_relaxed),
                                     std::memory_order_relaxed);
      }
    }
  }
  scheduler_->Update(sampled_, counts_);
  for (const Sampled& x : results_) EmitToken(*x.request, *x.state, x);
  EraseFinishedRequests();
  ++steps_;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  step_seconds_total_ += seconds;
  if (governor_ != nullptr) {
    // A step that drafted counts as drafting even when every draft was cut before the
    // pass (constraint, token budget, max_tokens): its drafting cost was paid.
    governor_->Record(decode_only, out.num_draft_tokens > 0 || proposed_drafts,
                      static_cast<int64_t>(sampled_.size()), seconds, static_cast<int32_t>(out.seqs.size()));
  }
  if (decode_only) {
    ++decode_steps_;
    decode_tokens_ += static_cast<int64_t>(sampled_.size());
    decode_seconds_ += seconds;
  }
  const double usage =
      1.0 - static_cast<double>(kv_->num_free_blocks()) / static_cast<double>(kv_->config().num_blocks);
  peak_kv_usage_ = std::max(peak_kv_usage_, usage);
  peak_running_ = std::max<int32_t>(peak_running_, scheduler_->Stats().num_running);
  return Status::Ok();
}

EngineStats EngineCore::Stats() const {
  EngineStats s;
  const SchedulerStats ss = scheduler_->Stats();
  const KvCacheStats ks = kv_->Stats();
  s.num_running = ss.num_running;
  s.num_waiting = ss.num_waiting;
  s.num_blocks = ks.num_blocks;
  s.kv_usage = ks.usage;
  s.kv_waste = ks.waste;
  s.prefix_hit_rate = ks.prefix_hit_rate;
  s.prefix_hit_tokens = ks.prefix_hit_tokens;
  s.prefix_queried_tokens = ks.prefix_queried_tokens;
  s.num_preemptions = ss.num_preemptions;
  s.kv_evicted_tokens = ss.kv_evicted_tokens;
  s.kv_shifted_blocks = ss.kv_shifted_blocks;
  s.kv_budget_peak_tokens = ss.kv_budget_peak_tokens;
  s.kv_budget_overruns = ss.kv_budget_overruns;
  s.kv_released_blocks = ss.kv_released_blocks;
  s.num_steps = steps_;
  s.prompt_tokens = prompt_tokens_;
  s.generated_tokens = generated_tokens_;
  s.requests_finished = requests_finished_;
  s.schedule_us_mean = ss.num_steps > 0 ? static_cast<double>(ss.schedule_ns_total) / ss.num_steps / 1e3 : 0;
  s.step_ms_mean = steps_ > 0 ? step_seconds_total_ * 1e3 / static_cast<double>(steps_) : 0;
  s.decode_steps = decode_steps_;
  s.decode_tokens = decode_tokens_;
  s.decode_tokens_per_s = decode_seconds_ > 0 ? static_cast<double>(decode_tokens_) / decode_seconds_ : 0;
  s.peak_kv_usage = peak_kv_usage_;
  s.peak_num_running = peak_running_;
  s.kv_bytes_per_token = static_cast<int64_t>(storage_->shape().BytesPerToken());
  s.kv_type = storage_->shape().type;
  s.spec_passes = spec_passes_;
  s.spec_draft_tokens = spec_draft_tokens_;
  s.spec_accepted_tokens = spec_accepted_tokens_;
  s.spec_draft_seconds = spec_draft_seconds_;
  s.spec_tree_branch_tokens = spec_tree_branch_tokens_;
  s.spec_tree_kv_moves = spec_tree_kv_moves_;
  s.spec_kv_bytes = spec_kv_bytes_;
  if (proposer_ != nullptr) {
    const ProposerCounters pc = proposer_->counters();
    s.spec_draft_passes = pc.draft_passes;
    s.spec_staged_guesses = pc.staged_guesses;
    s.spec_staged_confirmed = pc.staged_confirmed;
  }
  if (governor_ != nullptr) {
    s.spec_governor_probes = governor_->probes();
    s.spec_governor_flips = governor_->flips();
    s.spec_governor_drafting = governor_->prefers_drafting();
  }
  s.moe = runner_->model().moe_stats();
  if (const dist::Communicator* comm = runner_->model().communicator()) {
    s.tp_size = runner_->model().tp_size();
    s.pp_size = runner_->model().pp_size();
    s.tp_comm_seconds = static_cast<double>(comm->comm_ns()) / 1e9;
    s.tp_comm_bytes = comm->comm_bytes();
  }
  return s;
}

}  // namespace weft
