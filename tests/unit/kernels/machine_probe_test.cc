// The machine probes run and return positive, finite numbers with every probe set this
// CPU can run. Speeds are never asserted (BENCHMARKS.md holds measured figures).
#include "kernels/machine_probe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "base/cpu_info.h"
#include "base/thread_pool.h"

namespace weft::kernels {
namespace {

std::vector<const ProbeKernels*> RunnableProbes() {
  std::vector<const ProbeKernels*> out = {&ref::Probes()};
  const CpuFeatures& f = GetCpuFeatures();
  if (f.avx2) out.push_back(&avx2::Probes());
  if (f.avx2 && f.HasAvx512() && f.avx512vnni) out.push_back(&avx512::Probes());
  return out;
}

TEST(MachineProbe, BestProbesAreTheLastRunnableOnes) {
  EXPECT_EQ(&BestProbeKernels(), RunnableProbes().back());
}

TEST(MachineProbe, ReadLoadsEveryByte) {
  constexpr size_t kBytes = 4096;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(64, kBytes));
  ASSERT_NE(buf, nullptr);
  for (const ProbeKernels* k : RunnableProbes()) {
    for (size_t pos : {size_t{0}, size_t{63}, size_t{200}, kBytes - 1}) {
      std::fill(buf, buf + kBytes, uint8_t{0});
      EXPECT_EQ(k->read(buf, kBytes), 0u) << k->isa;
      buf[pos] = 1;
      EXPECT_NE(k->read(buf, kBytes), 0u) << k->isa << " misses byte " << pos;
    }
  }
  std::free(buf);
}

TEST(MachineProbe, PeaksArePositiveAndFinite) {
  ThreadPool pool(2);
  for (const ProbeKernels* k : RunnableProbes()) {
    auto probe = MachineProbe::Create(size_t{8} << 20, k);
    ASSERT_TRUE(probe.ok()) << probe.status().message();
    EXPECT_EQ((*probe)->read_bytes(), size_t{8} << 20);
    for (double v : {(*probe)->ReadBandwidth(pool, 2), (*probe)->Int8Peak(pool, 0.01, 1),
                     (*probe)->Fp32Peak(pool, 0.01, 1)}) {
      EXPECT_TRUE(std::isfinite(v) && v > 0) << k->isa << ": " << v;
    }
    EXPECT_GT(k->int8_ops_per_round, 0);
    EXPECT_GT(k->fp32_flops_per_round, 0);
  }
}

TEST(MachineProbe, MeasureFillsEveryField) {
  ThreadPool pool(1);
  auto probe = MachineProbe::Create(1);  // rounded up to 1 MiB
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ((*probe)->read_bytes(), size_t{1} << 20);
  const MachinePeaks m = (*probe)->Measure(pool);
  EXPECT_EQ(m.threads, 1);
  EXPECT_STREQ(m.isa, BestProbeKernels().isa);
  EXPECT_GT(m.read_bytes_per_s, 0);
  EXPECT_GT(m.int8_ops_per_s, 0);
  EXPECT_GT(m.fp32_flops_per_s, 0);
}

}  // namespace
}  // namespace weft::kernels
