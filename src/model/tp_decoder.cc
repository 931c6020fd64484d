#include "model/tp_decoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "base/check.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "model/decoder_model.h"
#include "model/dense_decoder.h"
#include "model/llama_weights.h"
#include "model/model_runner.h"

namespace weft {
namespace {

// What rank 0 broadcasts before each action; followers wait for it between steps.
enum class StepKind : int32_t { kStop = 0, kCache = 1, kCopyBlock = 2, kForward = 3 };

struct StepHeader {
  StepKind kind = StepKind::kStop;
  int32_t cache_id = 0;
  // kCache: num_blocks, block_size, KV dtype, threads. kCopyBlock: src, dst.
  // kForward: n_tokens, n_seqs, max_blocks_per_seq, payload bytes.
  int64_t a[4] = {};
};

// A step's arrays, packed: slot_mapping (int64) first, then the int32 arrays.
size_t PayloadBytes(int64_t T, int64_t S, int64_t M) {
  return static_cast<size_t>(T) * sizeof(int64_t) +
         static_cast<size_t>(T + T + (S + 1) + S + S * M) * sizeof(int32_t);
}

ModelConfig RankConfig(ModelConfig c, int tp) {
  c.n_head /= tp;
  c.n_head_kv /= tp;
  c.n_ff /= tp;
  return c;
}

class TpDecoderModel final : public DecoderModel {
 public:
  TpDecoderModel(std::string_view arch, std::shared_ptr<const LlamaWeights> weights, ModelConfig config,
                 const BindOptions& options, dist::Communicator& comm)
      : DecoderModel(arch, std::move(weights), std::move(config), options), comm_(comm) {}

  ~TpDecoderModel() override {
    if (comm_.rank() == 0) {
      StepHeader h;
      h.kind = StepKind::kStop;
      comm_.BroadcastPolling(&h, sizeof(h), 0);
    }
  }

  int tp_size() const override { return comm_.size(); }
  dist::Communicator* communicator() const override { return &comm_; }

  void Forward(const kernels::KernelContext& ctx, const ForwardBatch& b, const KvCacheStorage& cache,
               ModelActivations& act, float* logits) const override {
    if (comm_.rank() == 0) Announce(ctx, b, cache);
    DenseDecoderForward(ctx, weights(), config(), b, cache, static_cast<DecoderActivations&>(act), logits, &comm_);
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
    // The other ranks are not sent tree masks (nothing builds trees under --tp yet).
    WEFT_CHECK(b.tree_mask.empty(), "tensor parallel: token-tree batches are not supported");
    StepHeader h;
    h.kind = StepKind::kForward;
    h.cache_id = CacheId(&ctx, cache);
    h.a[0] = T;
    h.a[1] = S;
    h.a[2] = M;
    h.a[3] = static_cast<int64_t>(PayloadBytes(T, S, M));
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
    comm_.BroadcastPolling(&h, sizeof(h), 0);
    comm_.Broadcast(payload_.data(), payload_.size(), 0);
  }

  struct Known {
    int32_t id;
    int64_t num_blocks;
    int block_size;
    kernels::KvTypes type;
  };
  dist::Communicator& comm_;
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
  const std::string opts = fmt::format("tp={} panels={} isa={}", options.tp_size, options.pack_panels,
                                       std::getenv("WEFT_ISA") != nullptr ? std::getenv("WEFT_ISA") : "");
  h.Update(opts);
  return h.Final();
}

StatusOr<std::shared_ptr<const Model>> BindTensorParallelDecoder(std::string_view arch,
                                                                 std::shared_ptr<const ModelFile> file,
                                                                 ModelConfig config, const BindOptions& options,
                                                                 dist::Communicator& comm) {
  if (comm.size() != options.tp_size || comm.rank() != options.tp_rank) {
    return InvalidArgumentError(fmt::format("--tp {} but this process is rank {} of {}: start it as mpirun -np {} "
                                            "weft ... --tp {}",
                                            options.tp_size, comm.rank(), comm.size(), options.tp_size,
                                            options.tp_size));
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
        "{}: tensor parallelism needs the same model file and options on every rank, but rank(s) {} loaded a "
        "different file or options than rank 0",
        file->path(), differ));
  }
  WEFT_ASSIGN_OR_RETURN(auto weights, LlamaWeights::Bind(file, options));
  return std::shared_ptr<const Model>(std::make_shared<TpDecoderModel>(arch, std::move(weights),
                                                                       RankConfig(std::move(config), comm.size()),
                                                                       options, comm));
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
        const int64_t T = h.a[0], S = h.a[1], M = h.a[2];
        payload.resize(static_cast<size_t>(h.a[3]));
        comm.Broadcast(payload.data(), payload.size(), 0);
        auto it = caches.find(h.cache_id);
        if (it == caches.end()) fail(InternalError(fmt::format("step on unknown KV cache {}", h.cache_id)));
        if (runner == nullptr || runner->options().max_tokens_per_step < T ||
            runner->num_threads() != (it->second.threads > 0 ? it->second.threads : runner->num_threads())) {
          RunnerOptions ro;
          ro.max_tokens_per_step = std::max<int64_t>(T, runner != nullptr ? runner->options().max_tokens_per_step : 512);
          ro.max_logit_rows = 1;
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
