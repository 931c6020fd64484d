#include "model/tp_decoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <vector>

#include "base/check.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "model/decoder_model.h"
#include "model/dense_decoder.h"
#include "model/llama_weights.h"
#include "model/micro_batch.h"
#include "model/model_runner.h"

namespace weft {
namespace {

// What rank 0 broadcasts before each action; followers wait for it between steps.
enum class StepKind : int32_t { kStop = 0, kCache = 1, kCopyBlock = 2, kForward = 3 };

struct StepHeader {
  StepKind kind = StepKind::kStop;
  int32_t cache_id = 0;
  // kCache: num_blocks, block_size, KV dtype, threads. kCopyBlock: src, dst.
  // kForward: n_tokens, n_seqs, max_blocks_per_seq, payload bytes, logit rows.
  int64_t a[5] = {};
};

// A step's arrays, packed: slot_mapping (int64) first, then the int32 arrays (the logit
// rows last: the pipeline's last stage computes them).
size_t PayloadBytes(int64_t T, int64_t S, int64_t M, int64_t R) {
  return static_cast<size_t>(T) * sizeof(int64_t) +
         static_cast<size_t>(T + T + (S + 1) + S + S * M + R) * sizeof(int32_t);
}

ModelConfig RankConfig(ModelConfig c, int tp) {
  c.n_head /= tp;
  c.n_head_kv /= tp;
  c.n_ff /= tp;
  return c;
}

// One rank's part of a tensor- and/or pipeline-parallel decoder (see tp_decoder.h).
class DistDecoderModel final : public DecoderModel {
 public:
  DistDecoderModel(std::string_view arch, std::shared_ptr<const LlamaWeights> weights, ModelConfig config,
                   const BindOptions& options, dist::Communicator& comm, dist::Communicator* tp_comm)
      : DecoderModel(arch, std::move(weights), std::move(config), options),
        comm_(comm),
        tp_comm_(tp_comm),
        tp_(options.tp_size),
        pp_(options.pp_size),
        stage_(options.pp_stage),
        tp_rank_(options.tp_rank),
        micro_batches_(options.pp_size > 1 ? (options.pp_micro_batches > 0 ? options.pp_micro_batches
                                                                             : options.pp_size)
                                           : 1) {}

  ~DistDecoderModel() override {
    if (comm_.rank() == 0) {
      StepHeader h;
      h.kind = StepKind::kStop;
      comm_.BroadcastPolling(&h, sizeof(h), 0);
    }
  }

  int tp_size() const override { return tp_; }
  int pp_size() const override { return pp_; }
  dist::Communicator* communicator() const override { return &comm_; }

  // This stage's layers only (its KV pool holds them, with rank 0's block ids).
  KvLayout kv_layout() const override {
    KvLayout l = DecoderModel::kv_layout();
    l.n_layers = static_cast<int64_t>(weights().layers().size());
    return l;
  }

  void Forward(const kernels::KernelContext& ctx, const ForwardBatch& b, const KvCacheStorage& cache,
               ModelActivations& act, float* logits) const override {
    if (comm_.rank() == 0) Announce(ctx, b, cache);
    auto& a = static_cast<DecoderActivations&>(act);
    const int64_t d = config().n_embd, V = config().n_vocab;
    const LayerRange vocab = VocabSlice(V, tp_, tp_rank_);  // this rank's rows of the output head
    if (pp_ == 1) {
      // Tensor parallelism alone: every rank computes the logits of its vocabulary rows,
      // rank 0 gathers them.
      const auto R = static_cast<int64_t>(b.logit_rows.size());
      const bool head = R > 0 && vocab.count > 0;
      if (head && part_.size() < static_cast<size_t>(R * vocab.count)) part_.resize(static_cast<size_t>(R * vocab.count));
      DenseDecoderStageForward(ctx, weights(), config(), b, cache, a, head ? part_.data() : nullptr, tp_comm_,
                               /*embed=*/true, /*output=*/head);
      if (R == 0) return;
      if (comm_.rank() != 0) {
        if (head) comm_.Send(part_.data(), static_cast<size_t>(R * vocab.count) * sizeof(float), 0, LogitTag(0, tp_rank_));
        return;
      }
      GatherLogitColumns(/*first_rank=*/0, /*micro_batch=*/0, R, /*rows=*/{}, logits);
      return;
    }
    // The pipeline: every stage walks the same micro-batches in order; stage s > 0
    // receives each one's activations from stage s - 1 (its own tensor-parallel rank
    // there), and each of the last stage's tensor-parallel ranks sends the logits of its
    // vocabulary rows to rank 0.
    const int prev = (stage_ - 1) * tp_ + tp_rank_, next = (stage_ + 1) * tp_ + tp_rank_;
    const bool last_stage = stage_ == pp_ - 1;
    std::vector<MicroBatch> mbs = SplitMicroBatches(b, micro_batches_);
    if (send_.size() < 2 * mbs.size()) send_.resize(2 * mbs.size());
    for (size_t i = 0; i < mbs.size(); ++i) {
      ForwardBatch mb = mbs[i].batch;
      if (!last_stage || vocab.count == 0) mb.logit_rows = {};
      const auto T = static_cast<size_t>(mb.n_tokens());
      const int tag = static_cast<int>(i);
      if (stage_ > 0) comm_.Recv(a.x.data(), T * static_cast<size_t>(d) * sizeof(float), prev, tag);
      const auto R = static_cast<size_t>(mb.logit_rows.size());
      std::vector<float>& out = send_[2 * i + 1];
      if (R > 0 && out.size() < R * static_cast<size_t>(vocab.count)) out.resize(R * static_cast<size_t>(vocab.count));
      DenseDecoderStageForward(ctx, weights(), config(), mb, cache, a, R > 0 ? out.data() : nullptr, tp_comm_,
                               /*embed=*/stage_ == 0, /*output=*/last_stage && R > 0);
      if (stage_ < pp_ - 1) {
        std::vector<float>& x = send_[2 * i];
        x.assign(a.x.data(), a.x.data() + T * static_cast<size_t>(d));
        comm_.SendAsync(x.data(), x.size() * sizeof(float), next, tag);
      }
      if (R > 0) {
        comm_.SendAsync(out.data(), R * static_cast<size_t>(vocab.count) * sizeof(float), 0,
                        LogitTag(static_cast<int>(i), tp_rank_));
      }
    }
    if (comm_.rank() == 0) {
      for (size_t i = 0; i < mbs.size(); ++i) {
        if (mbs[i].logit_rows.empty()) continue;
        GatherLogitColumns((pp_ - 1) * tp_, static_cast<int>(i), static_cast<int64_t>(mbs[i].logit_index.size()),
                           mbs[i].logit_index, logits);
      }
    }
    comm_.WaitSends();
  }

  void CopyKvBlock(KvCacheStorage& cache, int32_t src, int32_t dst) const override {
    if (comm_.rank() == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      StepHeader h;
      h.kind = StepKind::kCopyBlock;
      h.cache_id = CacheId(nullptr, cache);
      h.a[0] = src;
      h.a[1] = dst;
      comm_.BroadcastPolling(&h, sizeof(h), 0);
    }
    cache.CopyBlock(src, dst);
  }

 private:
  // Logit messages to rank 0 have tags apart from the pipeline's activation tags (the
  // micro-batch index).
  static int LogitTag(int micro_batch, int tensor_rank) { return (1 << 20) + micro_batch * 64 + tensor_rank; }

  // Rank 0: receives, from the tensor-parallel ranks first_rank .. first_rank + tp - 1
  // (rank 0 itself: part_), the logits [R, count_t] of their vocabulary rows for
  // micro-batch `micro_batch` (R rows), and writes row j's columns into logits row rows[j]
  // (rows empty: row j) of logits [*, n_vocab] (null: received and dropped).
  void GatherLogitColumns(int first_rank, int micro_batch, int64_t R, std::span<const int32_t> rows,
                          float* logits) const {
    const int64_t V = config().n_vocab;
    for (int t = 0; t < tp_; ++t) {
      const LayerRange v = VocabSlice(V, tp_, t);
      if (v.count == 0) continue;
      const float* src = nullptr;
      if (first_rank + t == 0) {
        src = part_.data();
      } else {
        recv_.resize(static_cast<size_t>(R * v.count));
        comm_.Recv(recv_.data(), recv_.size() * sizeof(float), first_rank + t, LogitTag(micro_batch, t));
        src = recv_.data();
      }
      if (logits == nullptr) continue;
      for (int64_t j = 0; j < R; ++j) {
        std::copy(src + j * v.count, src + (j + 1) * v.count,
                  logits + (rows.empty() ? j : static_cast<int64_t>(rows[static_cast<size_t>(j)])) * V + v.first);
      }
    }
  }

  // The id followers know `cache` by; announces a cache they have not seen (its shape
  // and the thread count of the runner that uses it). mu_ held.
  int32_t CacheId(const kernels::KernelContext* ctx, const KvCacheStorage& cache) const {
    auto it = cache_ids_.find(&cache);
    const KvCacheShape& s = cache.shape();
    if (it != cache_ids_.end() && it->second.num_blocks == s.num_blocks && it->second.block_size == s.block_size &&
        it->second.type == s.type) {
      return it->second.id;
    }
    StepHeader h;
    h.kind = StepKind::kCache;
    h.cache_id = next_cache_id_++;
    h.a[0] = s.num_blocks;
    h.a[1] = s.block_size;
    h.a[2] = static_cast<int64_t>(s.type.k) | static_cast<int64_t>(s.type.v) << 8;  // K, V
    h.a[3] = ctx != nullptr && ctx->pool != nullptr ? ctx->pool->num_threads() : 0;
    comm_.BroadcastPolling(&h, sizeof(h), 0);
    cache_ids_[&cache] = Known{h.cache_id, s.num_blocks, s.block_size, s.type};
    return h.cache_id;
  }

  void Announce(const kernels::KernelContext& ctx, const ForwardBatch& b, const KvCacheStorage& cache) const {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t T = b.n_tokens(), S = b.n_seqs(), M = b.max_blocks_per_seq;
    // The other ranks are not sent tree masks (nothing builds trees under --tp / --pp yet).
    WEFT_CHECK(b.tree_mask.empty() && b.kv_copy_src.empty(),
               "tensor / pipeline parallel: token-tree batches are not supported");
    // The logit rows: every rank of the last stage computes its vocabulary rows' logits.
    const int64_t R = static_cast<int64_t>(b.logit_rows.size());
    StepHeader h;
    h.kind = StepKind::kForward;
    h.cache_id = CacheId(&ctx, cache);
    h.a[0] = T;
    h.a[1] = S;
    h.a[2] = M;
    h.a[3] = static_cast<int64_t>(PayloadBytes(T, S, M, R));
    h.a[4] = R;
    payload_.resize(static_cast<size_t>(h.a[3]));
    uint8_t* p = payload_.data();
    auto put = [&p](const auto& span) {
      std::memcpy(p, span.data(), span.size_bytes());
      p += span.size_bytes();
    };
    put(b.slot_mapping);
    put(b.tokens);
    put(b.positions);
    put(b.query_start);
    put(b.seq_len);
    put(b.block_table.subspan(0, static_cast<size_t>(S * M)));
    put(b.logit_rows.subspan(0, static_cast<size_t>(R)));
    comm_.BroadcastPolling(&h, sizeof(h), 0);
    comm_.Broadcast(payload_.data(), payload_.size(), 0);
  }

  struct Known {
    int32_t id;
    int64_t num_blocks;
    int block_size;
    kernels::KvTypes type;
  };
  dist::Communicator& comm_;      // the whole job: steps, pipeline messages
  dist::Communicator* tp_comm_;   // this stage's tensor-parallel ranks (null without --tp)
  const int tp_, pp_, stage_, tp_rank_;
  const int micro_batches_;       // per step, pipeline only
  mutable std::vector<std::vector<float>> send_;  // per micro-batch: activations, logits (until WaitSends)
  mutable std::vector<float> recv_;               // rank 0: one rank's logits of one micro-batch
  mutable std::vector<float> part_;               // --tp alone: this rank's logits [R, its vocabulary rows]
  mutable std::mutex mu_;
  mutable std::map<const KvCacheStorage*, Known> cache_ids_;
  mutable int32_t next_cache_id_ = 1;
  mutable std::vector<uint8_t> payload_;
};

}  // namespace

std::string TensorParallelFingerprint(const ModelFile& file, const BindOptions& options) {
  Sha256 h;
  for (const TensorView& t : file.tensors()) {
    h.Update(t.name);
    h.Update(DTypeName(t.type));
    h.Update(t.ne.data(), sizeof(t.ne));
    h.Update(t.data, std::min<size_t>(t.nbytes, 4096));
  }
  const std::string opts = fmt::format("tp={} pp={} mb={} panels={} isa={}", options.tp_size, options.pp_size,
                                       options.pp_micro_batches, options.panel_types,
                                       std::getenv("WEFT_ISA") != nullptr ? std::getenv("WEFT_ISA") : "");
  h.Update(opts);
  return h.Final();
}

StatusOr<std::shared_ptr<const Model>> BindTensorParallelDecoder(std::string_view arch,
                                                                 std::shared_ptr<const ModelFile> file,
                                                                 ModelConfig config, const BindOptions& options,
                                                                 dist::Communicator& comm) {
  const int tp = options.tp_size, pp = options.pp_size;
  if (comm.size() != tp * pp || comm.rank() != options.pp_stage * tp + options.tp_rank) {
    return InvalidArgumentError(fmt::format("--tp {} --pp {} needs {} processes, but this process is rank {} of {}: "
                                            "start it as mpirun -np {} weft ... --tp {} --pp {}",
                                            tp, pp, tp * pp, comm.rank(), comm.size(), tp * pp, tp, pp));
  }
  if (pp > 1) {
    if (pp > config.n_layer) {
      return InvalidArgumentError(fmt::format("{}: --pp {} is more pipeline stages than the model's {} layers; give "
                                              "--pp {} or fewer",
                                              file->path(), pp, config.n_layer, config.n_layer));
    }
    if (config.is_moe() || config.is_mla()) {
      return UnimplementedError(fmt::format("{}: pipeline parallelism (--pp) runs dense llama-family models; this one "
                                            "is a mixture of experts or has latent attention",
                                            file->path()));
    }
  }
  // Every rank checks every other's file and options before binding anything.
  const std::string mine = TensorParallelFingerprint(*file, options);
  std::vector<char> all(mine.size() * static_cast<size_t>(comm.size()));
  comm.AllGather(mine.data(), mine.size(), all.data());
  std::string differ;
  for (int r = 0; r < comm.size(); ++r) {
    if (std::string_view(all.data() + mine.size() * static_cast<size_t>(r), mine.size()) !=
        std::string_view(all.data(), mine.size())) {
      differ += fmt::format("{}{}", differ.empty() ? "" : ", ", r);
    }
  }
  if (!differ.empty()) {
    return FailedPreconditionError(fmt::format(
        "{}: tensor/pipeline parallelism needs the same model file and options on every rank, but rank(s) {} loaded "
        "a different file or options than rank 0",
        file->path(), differ));
  }
  // The tensor-parallel group: the whole job without --pp, else this stage's ranks.
  dist::Communicator* tp_comm = nullptr;
  if (tp > 1) tp_comm = pp == 1 ? &comm : comm.Split(options.pp_stage, options.tp_rank);
  WEFT_ASSIGN_OR_RETURN(auto weights, LlamaWeights::Bind(file, options));
  return std::shared_ptr<const Model>(std::make_shared<DistDecoderModel>(
      arch, std::move(weights), RankConfig(std::move(config), tp), options, comm, tp_comm));
}

Status RunTensorParallelFollower(std::shared_ptr<const Model> model, dist::Communicator& comm) {
  struct Cache {
    std::unique_ptr<KvCacheStorage> storage;
    int threads = 0;
  };
  std::map<int32_t, Cache> caches;
  std::unique_ptr<ModelRunner> runner;
  std::vector<uint8_t> payload;
  auto fail = [&comm](const Status& s) {
    WEFT_LOG_ERROR("tensor-parallel rank {}: {}", comm.rank(), s.ToString());
    comm.Abort(1);
  };
  while (true) {
    StepHeader h;
    comm.BroadcastPolling(&h, sizeof(h), 0);
    switch (h.kind) {
      case StepKind::kStop: return Status::Ok();
      case StepKind::kCache: {
        const KvLayout layout = model->kv_layout();
        KvCacheShape shape;
        shape.n_layers = layout.n_layers;
        shape.n_kv_heads = layout.n_kv_heads;
        shape.head_dim = layout.head_dim;
        shape.num_blocks = h.a[0];
        shape.block_size = static_cast<int>(h.a[1]);
        shape.type = kernels::KvTypes(static_cast<kernels::KvType>(h.a[2] & 0xFF),
                                      static_cast<kernels::KvType>((h.a[2] >> 8) & 0xFF));
        // Rank 0 may open several caches over a command (one per engine); each lives
        // until the process ends, as rank 0 cannot say when one is gone.
        auto storage = KvCacheStorage::Create(shape);
        if (!storage.ok()) fail(storage.status());
        caches[h.cache_id] = Cache{std::move(storage).value(), static_cast<int>(h.a[3])};
        break;
      }
      case StepKind::kCopyBlock: {
        auto it = caches.find(h.cache_id);
        if (it == caches.end()) fail(InternalError(fmt::format("copy in unknown KV cache {}", h.cache_id)));
        it->second.storage->CopyBlock(static_cast<int32_t>(h.a[0]), static_cast<int32_t>(h.a[1]));
        break;
      }
      case StepKind::kForward: {
        const int64_t T = h.a[0], S = h.a[1], M = h.a[2], R = h.a[4];
        payload.resize(static_cast<size_t>(h.a[3]));
        comm.Broadcast(payload.data(), payload.size(), 0);
        auto it = caches.find(h.cache_id);
        if (it == caches.end()) fail(InternalError(fmt::format("step on unknown KV cache {}", h.cache_id)));
        if (runner == nullptr || runner->options().max_tokens_per_step < T ||
            runner->num_threads() != (it->second.threads > 0 ? it->second.threads : runner->num_threads())) {
          RunnerOptions ro;
          ro.max_tokens_per_step = std::max<int64_t>(T, runner != nullptr ? runner->options().max_tokens_per_step : 512);
          ro.max_logit_rows = ro.max_tokens_per_step;  // the last pipeline stage's
          ro.threads = it->second.threads;
          auto r = ModelRunner::Create(model, ro);
          if (!r.ok()) fail(r.status());
          runner = std::move(r).value();
        }
        const uint8_t* p = payload.data();
        auto take64 = [&p](int64_t n) {
          std::span<const int64_t> s(reinterpret_cast<const int64_t*>(p), static_cast<size_t>(n));
          p += s.size_bytes();
          return s;
        };
        auto take32 = [&p](int64_t n) {
          std::span<const int32_t> s(reinterpret_cast<const int32_t*>(p), static_cast<size_t>(n));
          p += s.size_bytes();
          return s;
        };
        ForwardBatch b;
        b.slot_mapping = take64(T);
        b.tokens = take32(T);
        b.positions = take32(T);
        b.query_start = take32(S + 1);
        b.seq_len = take32(S);
        b.block_table = take32(S * M);
        b.logit_rows = take32(R);
        b.max_blocks_per_seq = static_cast<int>(M);
        const Status s = runner->Execute(b, *it->second.storage, nullptr);
        if (!s.ok()) fail(s);
        break;
      }
      default: fail(InternalError(fmt::format("unknown step kind {}", static_cast<int32_t>(h.kind))));
    }
  }
}

}  // namespace weft
