// Kernel table selection (CPU detection, WEFT_ISA) and small shared helpers.
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/cpu_info.h"
#include "kernels/kernel_table.h"

namespace weft::kernels {
namespace {

size_t AlignUp(size_t v) { return (v + 63) & ~size_t{63}; }

bool CpuCanRun(Isa isa) {
  const CpuFeatures& f = GetCpuFeatures();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return f.avx2;
    // The AVX-512 TU is compiled with F/BW/VL and VNNI and uses VNNI unconditionally; it
    // uses no BF16 instruction, so Ice Lake / Cascade Lake-class CPUs without AVX512_BF16
    // get it too.
    case Isa::kAvx512: return f.avx2 && f.HasAvx512() && f.avx512vnni;
  }
  return false;
}

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

const KernelTable* GetKernelTable(Isa isa) {
  if (!CpuCanRun(isa)) return nullptr;
  switch (isa) {
    case Isa::kScalar: return &ref::Table();
    case Isa::kAvx2: return &avx2::Table();
    case Isa::kAvx512: return &avx512::Table();
  }
  return nullptr;
}

std::vector<Isa> AvailableIsas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (GetKernelTable(isa) != nullptr) out.push_back(isa);
  }
  return out;
}

StatusOr<const KernelTable*> SelectKernelTable() {
  const char* env = std::getenv("WEFT_ISA");
  if (env == nullptr || *env == '\0') return GetKernelTable(AvailableIsas().back());
  const std::string_view want(env);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (want != IsaName(isa)) continue;
    const KernelTable* t = GetKernelTable(isa);
    if (t == nullptr) {
      return FailedPreconditionError("WEFT_ISA=" + std::string(want) + ": this CPU does not support it (has: " +
                                     GetCpuFeatures().ToString() + ")");
    }
    return t;
  }
  return InvalidArgumentError("WEFT_ISA=" + std::string(want) + ": unknown; use scalar, avx2 or avx512");
}

QuantActLayout QuantActLayout::For(int block, int64_t k) {
  QuantActLayout l;
  l.block = block;
  l.k = k;
  if (block == 0) return l;
  const size_t nb = static_cast<size_t>(k / block);
  l.ds_offset = AlignUp(nb * sizeof(float));
  l.bsum_offset = l.ds_offset + AlignUp(nb * sizeof(float));
  l.q_offset = l.bsum_offset + AlignUp(static_cast<size_t>(k / 16) * sizeof(int16_t));
  l.row_bytes = l.q_offset + AlignUp(static_cast<size_t>(k));
  return l;
}

uint8_t* Scratch::Get(size_t bytes) {
  if (buffer_.size() < bytes + 64) buffer_.resize(bytes + 64);
  auto addr = reinterpret_cast<uintptr_t>(buffer_.data());
  return buffer_.data() + ((64 - (addr & 63)) & 63);
}

}  // namespace weft::kernels
