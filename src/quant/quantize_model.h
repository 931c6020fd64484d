// QuantizeModel: reads a model (a GGUF file, or a Hugging Face directory / .safetensors
// file: quant/quant_source.h) and writes a GGUF with each tensor in the type the plan
// (quant/quant_plan.h) gives it; the metadata and tokenizer are carried over (for HF,
// converted as llama.cpp's convert_hf_to_gguf.py does: quant/hf_gguf_metadata.h), with
// general.file_type and general.quantization_version set as llama-quantize sets them.
//
// Streaming: one tensor at a time. Its rows are converted to float and quantised in
// chunks on the thread pool (each worker holds one chunk of floats), the result is
// appended to the output, and the source's pages are dropped from memory. Peak memory
// is about the largest quantised tensor plus a chunk per thread (plus, for an HF llama
// model's q/k tensors, one copy of the tensor with its rows interleaved), whatever the
// model size. The output is written to OUT.tmp and renamed at the end.
// Thread-safety: one call at a time per pool.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "base/thread_pool.h"
#include "quant/gptq.h"
#include "quant/imatrix_file.h"
#include "quant/quant_plan.h"
#include "quant/scale_fold.h"
#include "weft/status.h"

namespace weft::quant {

struct QuantizeOptions {
  const QuantMix* mix = nullptr;
  PlanOptions plan;
  bool allow_requantize = false;  // accept already-quantised source tensors
  // Importance matrix (borrowed; nullptr: round to nearest). A tensor it has an entry for
  // is quantised with those weights (QuantizeRowsWeighted); the others as without one.
  // The output records it as llama-quantize does (quantize.imatrix.* keys; the file
  // name as given in imatrix_path).
  const Imatrix* imatrix = nullptr;
  std::string imatrix_path;
  // GPTQ (quant/gptq.h): factor(name) gives the factored Hessian of a 2-D weight's input
  // (borrowed until the next call), nullptr for a tensor without one (quantised as
  // without GPTQ), or an error. Tensors whose type GptqSupports are quantised by
  // GptqQuantizeRows with gptq_options; the whole tensor is held in float meanwhile.
  std::function<StatusOr<const GptqFactor*>(const std::string& name, int64_t k)> gptq_factor;
  GptqOptions gptq_options;
  // Folded per-channel scales (AWQ / SmoothQuant, quant/scale_fold.h; borrowed): a tensor
  // named here is converted to float, scaled (ApplyTensorScales), then quantised to its
  // planned type; one the plan keeps in its own type (norms, biases) is written back in
  // that type. A quantised source tensor kept in its type needs allow_requantize.
  const std::map<std::string, TensorScales>* scales = nullptr;
};

struct QuantizeReport {
  int tensors = 0;
  int converted = 0;
  uint64_t bytes_in = 0;   // tensor data
  uint64_t bytes_out = 0;
  double seconds = 0;
  int with_imatrix = 0;  // tensors quantised with importance weights
  int with_gptq = 0;     // tensors quantised by GPTQ
  int scaled = 0;        // tensors with folded scales
};

// progress(done_bytes, total_bytes, tensor name), source bytes, called between tensors.
using QuantizeProgressFn = std::function<void(uint64_t, uint64_t, const std::string&)>;

StatusOr<QuantizeReport> QuantizeModel(const std::string& in_path, const std::string& out_path,
                                       const QuantizeOptions& options, ThreadPool& pool,
                                       const QuantizeProgressFn& progress);

}  // namespace weft::quant
