// libFuzzer target: the GGUF parser, then everything weft derives from a parsed file
// (config, tokenizer info, dequantising every tensor) must never crash on any input.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "loader/gguf.h"
#include "loader/gguf_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = weft::ParseGgufBuffer(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!parsed.ok()) return 0;
  const weft::GgufFile& f = **parsed;
  (void)weft::ModelConfigFromGguf(f);
  (void)weft::TokenizerInfoFromGguf(f);
  for (const auto& [key, value] : f.metadata()) (void)value.ToDisplayString();
  std::vector<float> out;
  for (const auto& t : f.tensors()) {
    if (!weft::GetDTypeInfo(t.type).dequantizable) continue;
    if (t.NumElements() > (1 << 22)) continue;  // keep iterations fast
    out.resize(static_cast<size_t>(t.NumElements()));
    weft::DequantizeTensor(t, out.data());
  }
  return 0;
}
