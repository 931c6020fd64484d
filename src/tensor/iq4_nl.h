// IQ4_NL ("4-bit non-linear"): GGUF type 20. A block of 32 values is
//   {f16 d; u8 qs[16]}  (18 bytes), x[j] = d * kIq4NlValues[qs[j] & 15] and
//   x[j + 16] = d * kIq4NlValues[qs[j] >> 4] for j < 16
// (Q4_0's nibble order), where the 16 levels below are a fixed non-linear codebook,
// denser near zero, shared by every tensor (ggml's kvalues_iq4nl; the GGUF format's
// definition of the type). Used by the dequantiser (tensor/dequantize.cc), the
// quantiser (quant/iq4_nl_quants.cc) and the x86 matmul decoders
// (kernels/x86/quant_blocks.h).
#pragma once

#include <cstdint>

namespace weft {

inline constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace weft
