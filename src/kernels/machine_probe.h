// MachineProbe: what this machine can do at best with a given thread pool, so that a
// benchmark can say what fraction of it a run achieved:
//  * memory read bandwidth: a buffer much larger than the last-level cache (1 GiB by
//    default) streamed by every thread, best of a few passes;
//  * int8 peak: independent chains of 8-bit dot products (AVX-512 VNNI VPDPBUSD on zmm;
//    AVX2 VPMADDUBSW + VPMADDWD + VPADDD; a plain C++ loop otherwise), ops = 2 x MACs;
//  * FP32 peak: independent chains of fused multiply-adds (zmm / ymm / plain C++), flops
//    = 2 x FMAs.
// The probes use the best instruction set this CPU has, whatever $WEFT_ISA says (they
// measure the machine, not the kernels). Speed numbers, so never asserted in tests.
// ISA-neutral header; the ISA code lives in ref/, avx2/ and avx512/ (peak_probe_*.cc)
// and is picked by CPU features here, not through KernelTable.
// Thread-safety: a MachineProbe is immutable after Create; measurements run on the pool
// given (one at a time per pool).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "weft/status.h"

namespace weft {
class ThreadPool;
}

namespace weft::kernels {

// One instruction set's probe loops.
struct ProbeKernels {
  const char* isa = "scalar";
  // Loads every byte of p[0, n) (p 64-byte aligned, n a multiple of 256) and returns a
  // value that depends on all of them (so that no load can be dropped).
  uint64_t (*read)(const uint8_t* p, size_t n) = nullptr;
  // `rounds` rounds of int8 dot products over independent accumulators (operands derived
  // from seed at run time); returns a value that depends on every result.
  int64_t (*int8_dot)(int64_t rounds, int32_t seed) = nullptr;
  double int8_ops_per_round = 0;  // 2 x multiply-adds per round
  // `rounds` rounds of FP32 FMAs over independent accumulators.
  double (*fp32_fma)(int64_t rounds, float seed) = nullptr;
  double fp32_flops_per_round = 0;  // 2 x FMAs per round
};

namespace ref {
const ProbeKernels& Probes();
}
namespace avx2 {
const ProbeKernels& Probes();
}
namespace avx512 {
const ProbeKernels& Probes();  // needs AVX-512 F/BW/VL + VNNI
}
// The best probes this CPU can run.
const ProbeKernels& BestProbeKernels();

struct MachinePeaks {
  const char* isa = "scalar";  // the probes that ran
  int threads = 0;
  double read_bytes_per_s = 0;
  double int8_ops_per_s = 0;
  double fp32_flops_per_s = 0;
};

class MachineProbe {
 public:
  // Allocates and fills the read buffer (rounded up to a multiple of 1 MiB, at least
  // 1 MiB). ResourceExhausted when it cannot be allocated. `kernels`: the probes to run
  // (nullptr: BestProbeKernels(); tests pass each ISA's).
  static StatusOr<std::unique_ptr<MachineProbe>> Create(size_t read_bytes = size_t{1} << 30,
                                                        const ProbeKernels* kernels = nullptr);
  ~MachineProbe();
  MachineProbe(const MachineProbe&) = delete;
  MachineProbe& operator=(const MachineProbe&) = delete;

  size_t read_bytes() const { return bytes_; }
  const ProbeKernels& kernels() const { return *kernels_; }

  // Bytes per second: the best of `passes` passes over the whole buffer, on all of the
  // pool's threads.
  double ReadBandwidth(ThreadPool& pool, int passes = 5) const;
  // Ops (flops) per second over all of the pool's threads: each measurement runs about
  // `seconds`; the best of `passes`.
  double Int8Peak(ThreadPool& pool, double seconds = 0.1, int passes = 3) const;
  double Fp32Peak(ThreadPool& pool, double seconds = 0.1, int passes = 3) const;
  // All three.
  MachinePeaks Measure(ThreadPool& pool) const;

 private:
  MachineProbe(uint8_t* buffer, size_t bytes, const ProbeKernels* kernels)
      : buffer_(buffer), bytes_(bytes), kernels_(kernels) {}
  uint8_t* buffer_;
  size_t bytes_;
  const ProbeKernels* kernels_;
};

}  // namespace weft::kernels
