// libFuzzer target: the safetensors parser and dequantising every tensor it yields.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "loader/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = weft::ParseSafetensorsBuffer(nullptr, std::span<const uint8_t>(data, size), "fuzz.safetensors");
  if (!parsed.ok()) return 0;
  std::vector<float> out;
  for (const auto& t : (*parsed)->tensors()) {
    if (!weft::GetDTypeInfo(t.type).dequantizable || t.NumElements() > (1 << 22)) continue;
    out.resize(static_cast<size_t>(t.NumElements()));
    weft::DequantizeTensor(t, out.data());
  }
  return 0;
}
