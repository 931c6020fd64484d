// What the CPU (and the OS, for register state) supports, detected once with CPUID.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <string>

namespace weft {

struct CpuFeatures {
  bool avx2 = false;         // with FMA and F16C (the AVX2 kernels need all three)
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;   // VPDPBUSD on zmm
  bool avx512bf16 = false;   // VDPBF16PS
  bool avx_vnni = false;     // VEX-encoded VNNI (Alder Lake and later)

  // True when the full AVX-512 kernel set (F, BW, VL) can run.
  bool HasAvx512() const { return avx512f && avx512bw && avx512vl; }
  // e.g. "avx2 avx512f avx512bw avx512vl avx512vnni avx512bf16"
  std::string ToString() const;
};

// Detected once; later calls return the cached result.
const CpuFeatures& GetCpuFeatures();

// Physical cores (hyperthread siblings counted once), from /sys topology; falls back to
// std::thread::hardware_concurrency(). At least 1.
int PhysicalCoreCount();

}  // namespace weft
