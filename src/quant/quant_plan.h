// Which type each tensor of a model gets when it is quantised to a "mix" (llama.cpp's
// file types: Q4_K_M, Q3_K_S, Q8_0, ...). The rules are llama-quantize's, so that the
// same input gives the same per-tensor types:
//   - only tensors whose names end in "weight", with 2+ dimensions, that are not norms
//     (and not a few special tensors: ffn_gate_inp, position/token-type embeddings,
//     ssm_conv1d, attn_rel_b) are quantised; output.weight too unless --leave-output;
//   - without --pure, a K mix raises some tensors: output.weight (or a tied token_embd)
//     to Q6_K, attn_v / ffn_down of some layers to Q4_K..Q6_K, attn_output for Q2_K and
//     Q3_K_M/L, ...(ChooseMixType in quant_plan.cc);
//   - a row length that is not a multiple of the chosen block size falls back
//     (Q2_K/Q3_K -> IQ4_NL, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), and to F16 if
//     that does not fit either (rows that are not a multiple of 32);
//   - --token-embedding-type, --output-tensor-type and --tensor-type PATTERN=TYPE
//     (a regular expression searched in the name; first match wins) override the mix.
// Tensors are listed in llama-quantize's order: global tensors first, then by layer
// number, by name within a layer; the layer counters the mix rules use follow it.
// Thread-safety: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "loader/gguf.h"
#include "tensor/dtype.h"
#include "weft/status.h"

namespace weft::quant {

struct QuantMix {
  std::string_view name;     // "Q4_K_M"
  uint32_t ftype;            // llama_ftype, written to general.file_type
  DType default_type;        // the type most tensors get
  std::string_view summary;  // for --help
};

// Case-insensitive; accepts the aliases Q3_K (= Q3_K_M), Q4_K (= Q4_K_M), Q5_K (= Q5_K_M).
const QuantMix* FindQuantMix(std::string_view name);
const std::vector<QuantMix>& AllQuantMixes();

struct TensorTypeOverride {
  std::string pattern;  // as given, for messages
  std::regex re;
  DType type;
};
// "attn_v=q8_0" -> an override; InvalidArgument naming the text if malformed.
StatusOr<TensorTypeOverride> ParseTensorTypeOverride(const std::string& text);

struct PlanOptions {
  bool pure = false;
  bool leave_output = false;  // keep output.weight's type
  std::optional<DType> output_type;
  std::optional<DType> token_embedding_type;
  std::vector<TensorTypeOverride> overrides;
  // An importance matrix is given: as llama-quantize, Q4_0 / Q5_0 then put the first
  // n_layer/8 ffn_down tensors in Q4_1 / Q5_1.
  bool has_imatrix = false;
  // The source is a Hugging Face model: as llama.cpp's converter writes them, 1-D
  // tensors (norms, biases) held in F16 / BF16 become F32.
  bool one_dim_to_f32 = false;
};

struct PlannedTensor {
  size_t src_index;  // into the tensors planned (GgufFile::tensors())
  std::string name;
  DType src_type;
  DType dst_type;
  bool convert;  // false: bytes copied unchanged (dst_type == src_type)
};

// The output tensors in file order. InvalidArgument for a model the rules cannot serve
// (rows that fit no block of the type chosen under --pure or an override, an override
// to a type weft cannot write).
// src_index indexes `tensors`; `metadata` gives the architecture and hyperparameters.
StatusOr<std::vector<PlannedTensor>> PlanQuantization(const std::map<std::string, GgufValue>& metadata,
                                                      const std::vector<TensorView>& tensors, const QuantMix& mix,
                                                      const PlanOptions& options);
inline StatusOr<std::vector<PlannedTensor>> PlanQuantization(const GgufFile& file, const QuantMix& mix,
                                                             const PlanOptions& options) {
  return PlanQuantization(file.metadata(), file.tensors(), mix, options);
}

}  // namespace weft::quant
