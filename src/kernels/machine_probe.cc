// MachineProbe (kernels/machine_probe.h): dispatch by CPU features, and the timing around
// the per-ISA probe loops.
#include "kernels/machine_probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "base/cpu_info.h"
#include "base/thread_pool.h"

namespace weft::kernels {
namespace {

constexpr size_t kReadBlock = size_t{1} << 20;  // the read buffer is split in 1 MiB blocks

// Probe results land here, so that no probe call is dead code.
std::atomic<uint64_t> g_sink{0};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Rate (per second) of `work(rounds)` run 4 times per thread over the pool, each call
// doing rounds x `per_round` units; rounds calibrated so that one pass takes about
// `seconds`; the best of `passes`.
template <typename Work>
double PeakRate(ThreadPool& pool, double per_round, double seconds, int passes, Work work) {
  const int64_t units = 4 * static_cast<int64_t>(pool.num_threads());
  auto pass = [&](int64_t rounds) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.ParallelFor(0, units, 1, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) g_sink.fetch_xor(work(rounds), std::memory_order_relaxed);
    });
    return Seconds(t0);
  };
  int64_t rounds = 1024;
  double t = pass(rounds);
  while (t < 0.01) {
    rounds *= 4;
    t = pass(rounds);
  }
  rounds = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(rounds) * seconds / t));
  double best = 0;
  for (int p = 0; p < std::max(1, passes); ++p) {
    t = pass(rounds);
    best = std::max(best, static_cast<double>(units) * static_cast<double>(rounds) * per_round / t);
  }
  return best;
}

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

}  // namespace

const ProbeKernels& BestProbeKernels() {
  const CpuFeatures& f = GetCpuFeatures();
  if (f.avx2 && f.HasAvx512() && f.avx512vnni) return avx512::Probes();
  if (f.avx2) return avx2::Probes();
  return ref::Probes();
}

StatusOr<std::unique_ptr<MachineProbe>> MachineProbe::Create(size_t read_bytes, const ProbeKernels* kernels) {
  const size_t bytes = std::max(kReadBlock, (read_bytes + kReadBlock - 1) / kReadBlock * kReadBlock);
  auto* buffer = static_cast<uint8_t*>(std::aligned_alloc(4096, bytes));
  if (buffer == nullptr) {
    return ResourceExhaustedError(fmt::format("cannot allocate the {} MiB memory bandwidth probe buffer", bytes >> 20));
  }
  // Written, so that reads do not all hit the kernel's shared zero page. Ordinary 4 KiB
  // pages, like the memory-mapped weights (madvise(MADV_HUGEPAGE) read ~5 % faster here
  // but sometimes cost seconds of page compaction).
  std::memset(buffer, 0x5a, bytes);
  return std::unique_ptr<MachineProbe>(new MachineProbe(buffer, bytes, kernels != nullptr ? kernels : &BestProbeKernels()));
}

MachineProbe::~MachineProbe() { std::free(buffer_); }

double MachineProbe::ReadBandwidth(ThreadPool& pool, int passes) const {
  const auto blocks = static_cast<int64_t>(bytes_ / kReadBlock);
  double best = 0;
  for (int p = 0; p < std::max(1, passes); ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.ParallelFor(0, blocks, 1, [&](int64_t b, int64_t e) {
      const uint64_t v = kernels_->read(buffer_ + static_cast<size_t>(b) * kReadBlock,
                                        static_cast<size_t>(e - b) * kReadBlock);
      g_sink.fetch_xor(v, std::memory_order_relaxed);
    });
    best = std::max(best, static_cast<double>(bytes_) / Seconds(t0));
  }
  return best;
}

double MachineProbe::Int8Peak(ThreadPool& pool, double seconds, int passes) const {
  const auto* k = kernels_;
  return PeakRate(pool, k->int8_ops_per_round, seconds, passes,
                  [k](int64_t rounds) { return static_cast<uint64_t>(k->int8_dot(rounds, 0x05)); });
}

double MachineProbe::Fp32Peak(ThreadPool& pool, double seconds, int passes) const {
  const auto* k = kernels_;
  return PeakRate(pool, k->fp32_flops_per_round, seconds, passes,
                  [k](int64_t rounds) { return Bits(k->fp32_fma(rounds, 1e-3f)); });
}

MachinePeaks MachineProbe::Measure(ThreadPool& pool) const {
  MachinePeaks m;
  m.isa = kernels_->isa;
  m.threads = pool.num_threads();
  m.read_bytes_per_s = ReadBandwidth(pool);
  m.int8_ops_per_s = Int8Peak(pool);
  m.fp32_flops_per_s = Fp32Peak(pool);
  return m;
}

}  // namespace weft::kernels
