// Kernel benchmarks: MatMul per ISA and weight type at the SmolLM2-135M (k=576, n=1536)
// and Llama-1B-class (k=2048, n=8192) shapes. m=1 (decode) reports the weight bytes
// streamed per second (GB/s, from copies of the weights that together exceed the L3
// cache, so each call reads from memory); m=64 (prefill) reports GFLOP/s (2*m*n*k per
// call). Memory read and memcpy bandwidth with the same thread count are the reference
// for m=1. Attention: a 512-token prefill and a decode step at 4096 (1.1B llama shape),
// and a decode step at 1536 of the SmolLM-135M shape (9 heads over 3 KV heads).
//
//   build/<dir>/bin/kernels_bench [--threads=N] [google benchmark flags]
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kernels/panel_layout.h"

namespace weft::kernels {
namespace {

int g_threads = 2;

ThreadPool& Pool() {
  static ThreadPool pool(g_threads);
  return pool;
}

// Random quants with sane f16 scales (what the values are does not matter for speed,
// but NaN/inf scales could).
std::vector<uint8_t> RandomWeights(DType type, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> w(BytesForElements(type, k) * static_cast<size_t>(n));
  if (type == DType::kF16) {
    std::normal_distribution<float> d(0.0f, 0.05f);
    for (size_t i = 0; i < w.size(); i += 2) {
      const uint16_t h = FloatToFp16(d(rng));
      std::memcpy(&w[i], &h, 2);
    }
    return w;
  }
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const DTypeInfo& info = GetDTypeInfo(type);
  const uint16_t d = FloatToFp16(0.001f);
  for (size_t off = 0; off < w.size(); off += static_cast<size_t>(info.block_bytes)) {
    uint8_t* b = w.data() + off;
    switch (type) {
      case DType::kQ4_0: case DType::kQ8_0: case DType::kIQ4_NL: std::memcpy(b, &d, 2); break;
      case DType::kQ4_K: std::memcpy(b, &d, 2); std::memcpy(b + 2, &d, 2); break;
      case DType::kQ6_K: std::memcpy(b + 208, &d, 2); break;
      default: break;
    }
  }
  return w;
}

TensorView View(DType type, int64_t k, int64_t n, const std::vector<uint8_t>& bytes) {
  TensorView t;
  t.name = "w";
  t.type = type;
  t.n_dims = 2;
  t.ne = {k, n, 1, 1};
  t.data = bytes.data();
  t.nbytes = bytes.size();
  return t;
}

// cold: the weights stream from memory whatever m is (as in decode and verification
// passes), else only for m = 1.
void BM_MatMul(benchmark::State& state, Isa isa, DType type, int64_t k, int64_t n, int64_t m, bool panel,
               bool cold) {
  const size_t wbytes = BytesForElements(type, k) * static_cast<size_t>(n);
  // Decode streams weights: rotate over copies totalling >= 256 MiB (8x the L3 cache).
  const size_t copies = m == 1 || cold ? std::max<size_t>(2, (size_t{256} << 20) / wbytes + 1) : 1;
  std::vector<std::vector<uint8_t>> ws;
  for (size_t c = 0; c < copies; ++c) ws.push_back(RandomWeights(type, n, k, static_cast<uint32_t>(c + 1)));
  std::vector<TensorView> views;
  std::vector<PackedTensor> packed;
  for (auto& w : ws) {
    views.push_back(View(type, k, n, w));
    if (panel) {
      packed.push_back(PackTensor(views.back()));
      views.back() = packed.back().view;
    }
  }
  if (panel) ws.clear();  // only the packed copies are read
  std::mt19937 rng(9);
  std::normal_distribution<float> dist;
  std::vector<float> x(static_cast<size_t>(m * k)), y(static_cast<size_t>(m * n));
  for (auto& v : x) v = dist(rng);
  Scratch scratch;
  const KernelContext ctx{GetKernelTable(isa), &Pool(), &scratch};
  size_t i = 0;
  for (auto _ : state) {
    MatMul(ctx, x.data(), m, views[i], y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % views.size();
  }
  if (m == 1) {
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wbytes));
  } else {
    state.counters["FLOPS"] = benchmark::Counter(2.0 * static_cast<double>(m * n * k),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  }
  state.counters["weight_MB"] = static_cast<double>(wbytes) / 1e6;
}

// Reads a 512 MiB buffer with all pool threads (plain 64-bit loads, summed).
void BM_MemRead(benchmark::State& state) {
  const size_t n = (size_t{512} << 20) / 8;
  std::vector<uint64_t> buf(n, 1);
  for (auto _ : state) {
    std::vector<uint64_t> sums(64, 0);
    Pool().ParallelFor(0, static_cast<int64_t>(n / 4096), 1, [&](int64_t b, int64_t e) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t i = static_cast<size_t>(b) * 4096; i < static_cast<size_t>(e) * 4096; i += 4) {
        s0 += buf[i];
        s1 += buf[i + 1];
        s2 += buf[i + 2];
        s3 += buf[i + 3];
      }
      sums[static_cast<size_t>(b) % 64] += s0 + s1 + s2 + s3;  // races are harmless here
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * 8));
}

// memcpy of 256 MiB split over the pool threads; bytes counted once (read + write = 2x).
void BM_Memcpy(benchmark::State& state) {
  const size_t n = size_t{256} << 20;
  std::vector<uint8_t> src(n, 1), dst(n, 0);
  for (auto _ : state) {
    Pool().ParallelFor(0, static_cast<int64_t>(n >> 20), 1, [&](int64_t b, int64_t e) {
      std::memcpy(dst.data() + (b << 20), src.data() + (b << 20), static_cast<size_t>(e - b) << 20);
    });
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

// Causal attention of one sequence over an F16 paged cache (blocks of 16, in order):
// n_tokens queries at positions [past, past + n_tokens), kHeads over kKvHeads KV heads of
// 64 (32 over 4: the 1.1B llama shape; 9 over 3: SmolLM-135M). Reports FLOP/s of the score
// and value products (4 * head_dim per query-key pair).
void BM_Attention(benchmark::State& state, Isa isa, int kHeads, int kKvHeads, int64_t past, int64_t n_tokens) {
  constexpr int kDim = 64, kBlock = 16;
  const int64_t len = past + n_tokens;
  const int blocks = static_cast<int>((len + kBlock - 1) / kBlock);
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  std::vector<uint16_t> k(static_cast<size_t>(blocks) * kBlock * kKvHeads * kDim), v(k.size());
  for (auto& h : k) h = FloatToFp16(dist(rng));
  for (auto& h : v) h = FloatToFp16(dist(rng));
  std::vector<float> q(static_cast<size_t>(n_tokens) * kHeads * kDim), out(q.size());
  for (auto& f : q) f = dist(rng);
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int j = 0; j < blocks; ++j) table[static_cast<size_t>(j)] = j;
  const int32_t query_start[2] = {0, static_cast<int32_t>(n_tokens)};
  const int32_t seq_len = static_cast<int32_t>(len);
  const KvCacheView cache{k.data(), v.data(), KvType::kF16, KvType::kF16, blocks, kBlock, kKvHeads, kDim};
  AttentionBatch batch;
  batch.q = q.data();
  batch.n_tokens = n_tokens;
  batch.n_heads = kHeads;
  batch.n_seqs = 1;
  batch.query_start = query_start;
  batch.seq_len = &seq_len;
  batch.block_table = table.data();
  batch.max_blocks_per_seq = blocks;
  batch.scale = 0.125f;
  Scratch scratch;
  const KernelContext ctx{GetKernelTable(isa), &Pool(), &scratch};
  for (auto _ : state) {
    Attention(ctx, batch, cache, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  double pairs = 0;  // query-key pairs per head
  for (int64_t t = 0; t < n_tokens; ++t) pairs += static_cast<double>(past + t + 1);
  state.counters["FLOPS"] = benchmark::Counter(4.0 * kDim * kHeads * pairs, benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1000);
}

// Decode attention at depth as the model runs it: one token of one sequence over
// `layers` separate paged caches of `past` + 1 positions (the l1b shape: 32 heads over 8
// KV heads of 64, blocks of kBlock in order), so that the K/V read per iteration
// (layers x the cache) comes from DRAM, not the caches. The cache is written by WriteKv
// in `type`; `huge`: its memory advised huge pages (as KvCacheStorage does), else 4 KiB
// pages. Reports the K/V bytes read per second.
void BM_DecodeAtDepth(benchmark::State& state, Isa isa, KvType type, int64_t past, int layers, bool huge, int kBlock) {
  constexpr int kHeads = 32, kKvHeads = 8, kDim = 64;
  const int64_t len = past + 1;
  const int blocks = static_cast<int>((len + kBlock - 1) / kBlock);
  KvCacheView view{nullptr, nullptr, type, type, blocks, kBlock, kKvHeads, kDim};
  const size_t part = static_cast<size_t>(blocks * view.KBlockBytes());  // K or V of a layer (same type)
  const size_t bytes = 2 * part * static_cast<size_t>(layers) + (size_t{2} << 20);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint8_t* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(mem) + (size_t{2} << 20) - 1) &
                                             ~((uintptr_t{2} << 20) - 1));
  if (huge) ::madvise(base, bytes - (size_t{2} << 20), MADV_HUGEPAGE);
  Scratch scratch;
  const KernelContext ctx{GetKernelTable(isa), &Pool(), &scratch};
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  std::vector<float> kv(static_cast<size_t>(len) * kKvHeads * kDim);
  std::vector<int64_t> slots(static_cast<size_t>(len));
  for (int64_t p = 0; p < len; ++p) slots[static_cast<size_t>(p)] = p;
  for (float& f : kv) f = dist(rng);  // the same values in every layer: only the bytes read matter
  std::vector<KvCacheView> caches;
  for (int l = 0; l < layers; ++l) {
    KvCacheView c = view;
    c.k = base + 2 * part * static_cast<size_t>(l);
    c.v = static_cast<uint8_t*>(c.k) + part;
    WriteKv(ctx, kv.data(), kv.data(), len, slots.data(), c);
    caches.push_back(c);
  }
  std::vector<float> q(static_cast<size_t>(kHeads) * kDim), out(q.size());
  for (auto& f : q) f = dist(rng);
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int j = 0; j < blocks; ++j) table[static_cast<size_t>(j)] = j;
  const int32_t query_start[2] = {0, 1};
  const int32_t seq_len = static_cast<int32_t>(len);
  AttentionBatch batch;
  batch.q = q.data();
  batch.n_tokens = 1;
  batch.n_heads = kHeads;
  batch.n_seqs = 1;
  batch.query_start = query_start;
  batch.seq_len = &seq_len;
  batch.block_table = table.data();
  batch.max_blocks_per_seq = blocks;
  batch.scale = 0.125f;
  for (auto _ : state) {
    for (const KvCacheView& c : caches) {
      Attention(ctx, batch, c, out.data());
      benchmark::DoNotOptimize(out.data());
    }
  }
  const double read = static_cast<double>(len) * 2.0 * kKvHeads * static_cast<double>(KvRowBytes(type, kDim)) * layers;
  state.counters["KV_B/s"] =
      benchmark::Counter(read, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
  ::munmap(mem, bytes);
}

}  // namespace
}  // namespace weft::kernels

int main(int argc, char** argv) {
  using namespace weft::kernels;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) g_threads = std::atoi(argv[i] + 10);
  }
  benchmark::RegisterBenchmark("MemRead", BM_MemRead)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Memcpy", BM_Memcpy)->UseRealTime()->Unit(benchmark::kMillisecond);
  const weft::DType types[] = {weft::DType::kQ4_0, weft::DType::kQ8_0, weft::DType::kQ4_K, weft::DType::kQ6_K,
                               weft::DType::kIQ4_NL, weft::DType::kF16};
  const int64_t shapes[][2] = {{576, 1536}, {2048, 8192}};
  for (int64_t m : {1, 16, 64, 512}) {  // decode, small batches, a prefill chunk
    for (const auto& s : shapes) {
      for (weft::DType t : types) {
        // K-quants need k % 256 == 0: k=576 models store those tensors in other types.
        if (s[0] % weft::GetDTypeInfo(t).block_size != 0) continue;
        for (Isa isa : AvailableIsas()) {
          const std::string name = "MatMul/" + std::string(IsaName(isa)) + "/" + std::string(weft::DTypeName(t)) +
                                   "/k" + std::to_string(s[0]) + "_n" + std::to_string(s[1]) + "/m" + std::to_string(m);
          benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, isa, t, s[0], s[1], m, false, false)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
          if (PanelLayoutSupports(t)) {  // the layout the model binds these types in
            benchmark::RegisterBenchmark((name + "/panel16").c_str(), BM_MatMul, isa, t, s[0], s[1], m, true, false)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
          }
        }
      }
    }
  }
  // A verification pass of speculative decoding: 1 .. 5 rows (k drafts + 1) at a real
  // width and at TinyLLama-v0's output matrix (k 64, 32000 rows: two blocks a row),
  // weights from memory for every m.
  const int64_t verify_shapes[][2] = {{2048, 8192}, {64, 32000}};
  for (const auto& s : verify_shapes) {
    for (weft::DType t : {weft::DType::kQ4_0, weft::DType::kQ8_0}) {
      for (int64_t m : {1, 2, 3, 4, 5}) {
        for (Isa isa : AvailableIsas()) {
          const std::string name = "MatMulVerify/" + std::string(IsaName(isa)) + "/" + std::string(weft::DTypeName(t)) +
                                   "/k" + std::to_string(s[0]) + "_n" + std::to_string(s[1]) + "/m" + std::to_string(m);
          // The layout models bind in: Panel16 where the ISA's table has a kernel for the type.
          const bool panel = PanelTypeSetHas(GetKernelTable(isa)->panel_types, t);
          benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, isa, t, s[0], s[1], m, panel, true)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  // Prefill of 512 tokens; decode of one token after 4095 (l1b) or 1535 (s135m).
  struct AttentionCase {
    const char* shape;
    int heads, kv_heads;
    int64_t past, n_tokens;
  };
  for (const AttentionCase& c : {AttentionCase{"l1b", 32, 4, 0, 512}, {"l1b", 32, 4, 4095, 1}, {"s135m", 9, 3, 1535, 1}}) {
    for (Isa isa : AvailableIsas()) {
      const std::string name = "Attention/" + std::string(IsaName(isa)) + "/" + c.shape + "/past" +
                               std::to_string(c.past) + "_q" + std::to_string(c.n_tokens);
      benchmark::RegisterBenchmark(name.c_str(), BM_Attention, isa, c.heads, c.kv_heads, c.past, c.n_tokens)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  // Decode at depth 4095 over 16 layers' caches (the l1b model's 128 MiB of F16 K/V per
  // token, from DRAM): each KV type, huge pages on and off, blocks of 16 and 64. Then one
  // layer's cache read again and again (8 MiB: from L3) and one of 256 positions (512 KiB:
  // from L2, the arithmetic's own bound).
  for (Isa isa : AvailableIsas()) {
    if (isa == Isa::kScalar) continue;
    for (KvType t : {KvType::kF16, KvType::kQ8, KvType::kFp8}) {
      const std::string type(KvTypeName(t));
      const std::string prefix = "DecodeAtDepth/" + std::string(IsaName(isa)) + "/l1b/";
      auto add = [&](const std::string& name, int64_t past, int layers, bool huge, int block) {
        benchmark::RegisterBenchmark(name.c_str(), BM_DecodeAtDepth, isa, t, past, layers, huge, block)
            ->UseRealTime()
            ->Unit(layers > 1 ? benchmark::kMillisecond : benchmark::kMicrosecond);
      };
      add(prefix + "past4095/" + type + "/huge", 4095, 16, true, 16);
      add(prefix + "past4095/" + type + "/huge/block64", 4095, 16, true, 64);
      add(prefix + "past4095/" + type + "/4k_pages", 4095, 16, false, 16);
      add(prefix + "past4095/" + type + "/one_layer", 4095, 1, true, 16);
      add(prefix + "past255/" + type + "/one_layer", 255, 1, true, 16);
    }
  }
  // Our own flag is not Google Benchmark's.
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) != 0) argv[out++] = argv[i];
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
