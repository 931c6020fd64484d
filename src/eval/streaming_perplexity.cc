#include "eval/streaming_perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kv/kv_cache_manager.h"
#include "kv/kv_cache_storage.h"

namespace weft {

namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

StatusOr<StreamingPerplexityResult> ComputeStreamingPerplexity(
    ModelRunner* runner, std::span<const int32_t> tokens, const StreamingPerplexityOptions& o,
    const std::function<void(int64_t done, int64_t total)>& on_progress) {
  const auto n_total = static_cast<int64_t>(tokens.size());
  if (n_total < 2) return InvalidArgumentError("streaming perplexity needs at least 2 tokens");
  if (o.chunk <= 0 || o.chunk > runner->options().max_tokens_per_step || o.chunk > runner->options().max_logit_rows) {
    return InvalidArgumentError(fmt::format("chunk {} must be in [1, {}]", o.chunk,
                                            std::min(runner->options().max_tokens_per_step,
                                                     runner->options().max_logit_rows)));
  }
  const int32_t bs = o.block_size;
  if (bs <= 0) return InvalidArgumentError(fmt::format("block size {} must be positive", bs));
  const auto ctx = static_cast<int32_t>(runner->config().context_length);
  int32_t cache_tokens = 0;
  KvWindow window = o.window;
  const bool h2o = o.budget.enabled() && o.budget.policy == KvPolicy::kH2o;
  if (o.budget.enabled()) {
    if (window.enabled()) return InvalidArgumentError("a KV budget and a KV window together: pick one");
    WEFT_RETURN_IF_ERROR(ValidateKvBudget(o.budget, bs, o.chunk, ctx, "--kv-budget", "--kv-sinks"));
    if (h2o) WEFT_RETURN_IF_ERROR(runner->SupportsAttentionMass());
    WEFT_RETURN_IF_ERROR(runner->SupportsKvShift());
    window = WindowForBudget(o.budget, bs, o.chunk);  // window / sinks; disabled for h2o
  }
  if (h2o) {
    cache_tokens = o.budget.budget + bs;  // at most budget - n between steps, + n
  } else if (window.enabled()) {
    WEFT_RETURN_IF_ERROR(ValidateKvWindow(window, bs, ctx, "--kv-sinks", "--kv-window"));
    WEFT_RETURN_IF_ERROR(runner->SupportsKvShift());
    // Between steps at most sink blocks + window + a block; a step adds `chunk` tokens.
    cache_tokens = window.SinkBlocks(bs) * bs + window.window + bs + o.chunk;
    if (cache_tokens > ctx) {
      return InvalidArgumentError(fmt::format("--kv-sinks {} --kv-window {} with chunks of {} need a cache of {} "
                                              "tokens, past the model's context of {}",
                                              window.sinks, window.window, o.chunk, cache_tokens, ctx));
    }
  } else {
    cache_tokens = static_cast<int32_t>(n_total);
    if (cache_tokens > ctx && !runner->options().allow_past_context) {
      return InvalidArgumentError(fmt::format("dense attention over {} tokens runs past the model's context of {}",
                                              cache_tokens, ctx));
    }
  }
  KvCacheConfig kc;
  kc.block_size = bs;
  kc.num_blocks = (cache_tokens + bs - 1) / bs + 1;
  kc.enable_prefix_caching = false;
  kc.max_model_len = kc.num_blocks * bs;
  KvCacheManager kv(kc);
  WEFT_ASSIGN_OR_RETURN(auto storage, KvCacheStorage::Create(runner->KvShape(kc.num_blocks, bs, o.kv_type)));
  KvBlockTable table;
  table.window = window;
  kv.InitTable(table);
  float* mass_of_seq[1] = {nullptr};
  if (h2o) {
    table.attn_mass.assign(static_cast<size_t>(kc.num_blocks) * bs, 0.0f);
    mass_of_seq[0] = table.attn_mass.data();
  }
  std::vector<int32_t> evict;
  evict.reserve(static_cast<size_t>(kc.num_blocks));
  double kv_seen = 0;
  int64_t steps = 0;

  StreamingPerplexityResult r;
  r.cache_blocks = kc.num_blocks;
  r.nll.reserve(static_cast<size_t>(n_total - 1));
  r.argmax.reserve(static_cast<size_t>(n_total - 1));
  const int64_t n_vocab = runner->config().n_vocab;
  std::vector<float> logits(static_cast<size_t>(o.chunk * n_vocab));
  std::vector<int32_t> chunk_tokens(static_cast<size_t>(o.chunk)), positions(static_cast<size_t>(o.chunk)),
      rows(static_cast<size_t>(o.chunk));
  std::vector<int64_t> slots(static_cast<size_t>(o.chunk));
  std::vector<BlockCopy> copies;
  std::vector<KvShift> shifts;
  shifts.reserve(static_cast<size_t>(kc.num_blocks));
  const auto t0 = Clock::now();
  // Tokens 0 .. n_total-2 are fed (the last one has nothing to predict).
  const int64_t n_feed = n_total - 1;
  int64_t computed = 0;
  while (computed < n_feed) {
    const auto n = static_cast<int32_t>(std::min<int64_t>(o.chunk, n_feed - computed));
    int32_t cache_len = KvCacheManager::CachePos(table, static_cast<int32_t>(computed));
    shifts.clear();
    r.evicted_tokens += kv.EvictOutOfWindow(table, cache_len, shifts);
    if (h2o) {
      ChooseH2oEvictions(o.budget, bs, n, table.attn_mass, cache_len, evict);
      r.evicted_tokens += kv.EvictBlocks(table, cache_len, evict, shifts);
    }
    if (!shifts.empty()) {
      const auto ts = Clock::now();
      WEFT_RETURN_IF_ERROR(runner->ShiftKPositions(*storage, shifts));
      r.shift_seconds += Since(ts);
    }
    cache_len = KvCacheManager::CachePos(table, static_cast<int32_t>(computed));
    copies.clear();
    if (!kv.Allocate(table, cache_len, n, copies) || !copies.empty()) {
      return InternalError(fmt::format("streaming perplexity: no room for {} tokens after {} in {} blocks", n,
                                       cache_len, kc.num_blocks));
    }
    r.peak_used_blocks = std::max(r.peak_used_blocks, kv.pool().num_used());
    for (int32_t t = 0; t < n; ++t) {
      const int64_t p = computed + t;
      chunk_tokens[static_cast<size_t>(t)] = p == 0 && o.bos_id >= 0 ? o.bos_id : tokens[static_cast<size_t>(p)];
      positions[static_cast<size_t>(t)] = cache_len + t;
      slots[static_cast<size_t>(t)] = kv.Slot(table, cache_len + t);
      rows[static_cast<size_t>(t)] = t;
    }
    const int32_t query_start[2] = {0, n};
    const int32_t seq_len[1] = {cache_len + n};
    ForwardBatch b;
    b.tokens = std::span<const int32_t>(chunk_tokens.data(), static_cast<size_t>(n));
    b.positions = std::span<const int32_t>(positions.data(), static_cast<size_t>(n));
    b.slot_mapping = std::span<const int64_t>(slots.data(), static_cast<size_t>(n));
    b.query_start = query_start;
    b.seq_len = seq_len;
    b.block_table = table.blocks;
    b.max_blocks_per_seq = table.num_blocks();
    b.logit_rows = std::span<const int32_t>(rows.data(), static_cast<size_t>(n));
    if (h2o) b.attn_mass = std::span<float* const>(mass_of_seq, 1);
    kv_seen += cache_len + n;
    ++steps;
    WEFT_RETURN_IF_ERROR(runner->Execute(b, *storage, logits.data()));
    for (int32_t t = 0; t < n; ++t) {
      const float* row = logits.data() + static_cast<int64_t>(t) * n_vocab;
      float max = row[0];
      int32_t best = 0;
      for (int64_t i = 1; i < n_vocab; ++i) {
        if (row[i] > max) {
          max = row[i];
          best = static_cast<int32_t>(i);
        }
      }
      r.argmax.push_back(best);
      double sum = 0;
      for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(row[i] - max));
      const int32_t next = tokens[static_cast<size_t>(computed + t + 1)];
      r.nll.push_back(static_cast<float>(std::log(sum) + max - row[next]));
    }
    computed += n;
    if (on_progress) on_progress(computed, n_feed);
  }
  kv.Free(table);
  r.mean_kv_tokens = steps > 0 ? kv_seen / static_cast<double>(steps) : 0.0;
  r.seconds = Since(t0);
  return r;
}

}  // namespace weft
