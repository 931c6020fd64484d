// The Hugging Face safetensors loader's parts that converters need (weft quantize reads
// an HF directory tensor by tensor, loader/hf_model.cc):
//   OpenSafetensorsModelAs(path, kAsStored) opens like OpenSafetensorsModel (model_file.h)
//     but leaves the q/k rows of llama-family models in HF's rotate-half order instead of
//     copying them, interleaved, into buffers: nothing is read or held but the mapping;
//   RopeInterleaveHeadRows(config, t): for such a q/k tensor (weight or bias), the rows
//     per head (head_dim) to interleave; 0 for every other tensor (and for neox-style
//     models, whose rows GGUF keeps as HF stores them);
//   RopeInterleaveSourceRow(r, head_rows): GGUF row r of an interleaved tensor is HF row
//     RopeInterleaveSourceRow(r) (pairs (i, i + half) of a head become rows 2i, 2i + 1,
//     the inverse of the permutation HF's convert_llama_weights_to_hf applies).
// Thread-safety: pure functions; the ModelFile is immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "loader/model_file.h"
#include "weft/status.h"

namespace weft {

enum class HfQkRows : uint8_t { kInterleaved, kAsStored };

StatusOr<std::shared_ptr<const ModelFile>> OpenSafetensorsModelAs(const std::string& path, HfQkRows qk_rows);

StatusOr<int64_t> RopeInterleaveHeadRows(const ModelConfig& config, const TensorView& t);

int64_t RopeInterleaveSourceRow(int64_t row, int64_t head_rows);

}  // namespace weft
