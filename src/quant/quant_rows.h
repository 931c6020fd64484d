// Round-to-nearest quantisation of float rows into GGUF block types, byte-identical to
// llama.cpp's llama-quantize without an importance matrix (ggml's reference
// quantisers). Block layouts: tensor/dequantize.cc; rules: legacy_quants.cc, k_quants.cc.
//
// Shapes: src holds nrows * n_per_row floats (row-major); dst receives nrows rows of
// RowBytes(type, n_per_row) bytes. n_per_row must be a multiple of the type's block size.
// Thread-safety: pure functions; different rows may be quantised on different threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace weft::quant {

// Types QuantizeRows can write: F32, F16, BF16 (conversions), Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL.
bool CanQuantizeTo(DType type);

void QuantizeRows(DType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row);

// Importance-weighted quantisation (weighted_quants.cc), as llama-quantize does it with
// --imatrix: qw holds n_per_row weights, one per column (the importance matrix's mean
// x^2), applied to every row. Types that use them: Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K,
// IQ4_NL; for the others, or qw == nullptr, this is QuantizeRows.
bool UsesImportance(DType type);
void QuantizeRowsWeighted(DType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                          const float* qw);

// One block each: x holds the block's elements (32, or 256 for the K types), out its
// GetDTypeInfo(type).block_bytes bytes.
void QuantizeBlockQ4_0(const float* x, uint8_t* out);
void QuantizeBlockQ4_1(const float* x, uint8_t* out);
void QuantizeBlockQ5_0(const float* x, uint8_t* out);
void QuantizeBlockQ5_1(const float* x, uint8_t* out);
void QuantizeBlockQ8_0(const float* x, uint8_t* out);
void QuantizeBlockQ2_K(const float* x, uint8_t* out);
void QuantizeBlockQ3_K(const float* x, uint8_t* out);
void QuantizeBlockQ4_K(const float* x, uint8_t* out);
void QuantizeBlockQ5_K(const float* x, uint8_t* out);
void QuantizeBlockQ6_K(const float* x, uint8_t* out);
void QuantizeBlockIQ4_NL(const float* x, uint8_t* out);
// IQ4_NL with importance weights qw[0..32) for the block's columns (iq4_nl_quants.cc).
void QuantizeBlockIQ4_NLWeighted(const float* x, const float* qw, uint8_t* out);

}  // namespace weft::quant
