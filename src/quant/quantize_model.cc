#include "quant/quantize_model.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <span>
#include <vector>

#include "base/half.h"
#include "base/mapped_file.h"
#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "loader/hf_model.h"
#include "quant/quant_rows.h"
#include "quant/quant_source.h"

namespace weft::quant {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
constexpr int64_t kChunkElements = 32 * 512;  // rows per work item: at least this many elements

// Source rows -> float, for any type DequantizeRow reads (F32, F16, BF16, quantised).
void RowsToFloat(const TensorView& t, int64_t first_row, int64_t nrows, float* dst) {
  const int64_t n_per_row = t.ne[0];
  const size_t row_bytes = BytesForElements(t.type, n_per_row);
  const uint8_t* src = t.data + static_cast<size_t>(first_row) * row_bytes;
  const int64_t n = nrows * n_per_row;
  uint16_t h;
  switch (t.type) {  // the plain types inline (DequantizeRow calls a function per element)
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = Fp16ToFloat(h);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = Bf16ToFloat(h);
      }
      return;
    default:
      DequantizeRow(t.type, src, dst, n);
  }
}

// t's bytes with its rows (elements of a 1-D tensor) interleaved per head of head_rows
// (HF q/k -> GGUF order, loader/hf_model.h), into `buf`; the view points there.
TensorView InterleavedCopy(const TensorView& t, int64_t head_rows, std::vector<uint8_t>& buf) {
  const int64_t rows = t.n_dims == 1 ? t.ne[0] : t.NumRows();
  const size_t row_bytes = t.nbytes / static_cast<size_t>(rows);
  buf.resize(t.nbytes);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(buf.data() + static_cast<size_t>(r) * row_bytes,
                t.data + static_cast<size_t>(RopeInterleaveSourceRow(r, head_rows)) * row_bytes, row_bytes);
  }
  TensorView v = t;
  v.data = buf.data();
  return v;
}

}  // namespace

StatusOr<QuantizeReport> QuantizeModel(const std::string& in_path, const std::string& out_path,
                                       const QuantizeOptions& options, ThreadPool& pool,
                                       const QuantizeProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  if (options.mix == nullptr) return InvalidArgumentError("quantize: no --type");
  WEFT_ASSIGN_OR_RETURN(const QuantSource in, OpenQuantSource(in_path));
  PlanOptions plan_options = options.plan;
  plan_options.one_dim_to_f32 = in.format == QuantSource::Format::kHuggingFace;
  WEFT_ASSIGN_OR_RETURN(const std::vector<PlannedTensor> plan,
                        PlanQuantization(in.metadata, in.tensors, *options.mix, plan_options));

  GgufWriter writer(32);
  for (const auto& [key, value] : in.metadata) WEFT_RETURN_IF_ERROR(writer.SetValue(key, value));
  writer.SetU32("general.quantization_version", kQuantizationVersion);
  writer.SetU32("general.file_type", options.mix->ftype);
  writer.Remove("split.no");
  writer.Remove("split.count");
  writer.Remove("split.tensors.count");
  if (options.imatrix != nullptr) {  // llama-quantize's record of the matrix
    writer.SetString("quantize.imatrix.file", options.imatrix_path.substr(0, 127));
    if (!options.imatrix->dataset.empty()) {
      writer.SetString("quantize.imatrix.dataset", options.imatrix->dataset.substr(0, 127));
    }
    WEFT_RETURN_IF_ERROR(writer.SetValue("quantize.imatrix.entries_count",
                                         GgufValue{GgufType::kInt32, int64_t{static_cast<int64_t>(options.imatrix->entries.size())}}));
    if (options.imatrix->chunks > 0) {
      WEFT_RETURN_IF_ERROR(writer.SetValue("quantize.imatrix.chunks_count",
                                           GgufValue{GgufType::kInt32, int64_t{options.imatrix->chunks}}));
    }
  }

  uint64_t total_in = 0;
  for (const PlannedTensor& p : plan) {
    const TensorView& t = in.tensors[p.src_index];
    const bool scaled = options.scales != nullptr && options.scales->count(t.name) > 0;
    if (p.convert || scaled) {
      const DTypeInfo& src = GetDTypeInfo(t.type);
      if (!src.dequantizable) {
        return InvalidArgumentError(fmt::format("tensor '{}': cannot convert from {}", t.name, src.name));
      }
      if (src.block_size > 1 && !options.allow_requantize) {
        return InvalidArgumentError(fmt::format(
            "tensor '{}' is already quantised ({}); requantising loses accuracy: pass --allow-requantize to do it anyway",
            t.name, src.name));
      }
      if (!t.RowsAreBlockAligned()) {
        return InvalidArgumentError(fmt::format("tensor '{}': its {} blocks run across rows", t.name, src.name));
      }
    }
    WEFT_RETURN_IF_ERROR(writer.AddTensor(t.name, p.dst_type, t.n_dims, t.ne).status());
    total_in += t.nbytes;
  }

  WEFT_RETURN_IF_ERROR(writer.Open(out_path));
  QuantizeReport report;
  report.tensors = static_cast<int>(plan.size());
  std::vector<uint8_t> out_buf, interleaved;
  uint64_t done_in = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& p = plan[i];
    const TensorView& stored = in.tensors[p.src_index];
    const int64_t head_rows = in.interleave_head_rows[p.src_index];
    const TensorView t = head_rows > 0 ? InterleavedCopy(stored, head_rows, interleaved) : stored;
    if (progress) progress(done_in, total_in, t.name);
    const TensorScales* sc = nullptr;
    if (options.scales != nullptr) {
      auto it = options.scales->find(t.name);
      if (it != options.scales->end()) sc = &it->second;
    }
    if (sc != nullptr) ++report.scaled;
    if (!p.convert && sc == nullptr) {
      WEFT_RETURN_IF_ERROR(writer.WriteTensor(i, {t.data, t.nbytes}));
    } else {
      const int64_t n_per_row = t.ne[0];
      const int64_t nrows = t.NumRows();
      const size_t out_row_bytes = BytesForElements(p.dst_type, n_per_row);
      out_buf.resize(out_row_bytes * static_cast<size_t>(nrows));
      const int64_t rows_per_chunk = std::max<int64_t>(1, (kChunkElements + n_per_row - 1) / n_per_row);
      uint8_t* out = out_buf.data();
      // Importance weights: one row of n_per_row per matrix (per expert of a 3-D tensor).
      std::vector<float> qw;
      if (options.imatrix != nullptr && UsesImportance(p.dst_type)) {
        qw = options.imatrix->Weights(t.name);
        const auto want = static_cast<size_t>(n_per_row * t.ne[2]);
        if (!qw.empty() && qw.size() != want) {
          if (t.name != "token_embd.weight") {
            return InvalidArgumentError(fmt::format("imatrix {}: {} has {} values, the tensor needs {}",
                                                    options.imatrix_path, t.name, qw.size(), want));
          }
          qw.clear();
        }
        if (!qw.empty()) ++report.with_imatrix;
      }
      const GptqFactor* factor = nullptr;
      if (options.gptq_factor && GptqSupports(p.dst_type) && t.ne[2] == 1 && t.ne[3] == 1) {
        WEFT_ASSIGN_OR_RETURN(factor, options.gptq_factor(t.name, n_per_row));
      }
      const int64_t rows_per_matrix = t.ne[1];
      if (factor != nullptr) {
        if (factor->k != n_per_row) {
          return InvalidArgumentError(fmt::format("gptq: {} has rows of {}, its Hessian is {}x{}", t.name, n_per_row,
                                                  factor->k, factor->k));
        }
        std::vector<float> w(static_cast<size_t>(nrows * n_per_row));
        pool.ParallelFor(0, nrows, rows_per_chunk, [&](int64_t r0, int64_t r1) {
          RowsToFloat(t, r0, r1 - r0, w.data() + r0 * n_per_row);
          if (sc != nullptr) ApplyTensorScales(*sc, r0, r1 - r0, n_per_row, w.data() + r0 * n_per_row);
        });
        GptqQuantizeRows(p.dst_type, w.data(), nrows, *factor, options.gptq_options, out, pool);
        ++report.with_gptq;
      } else pool.ParallelFor(0, nrows, rows_per_chunk, [&](int64_t r0, int64_t r1) {
        std::vector<float> rows(static_cast<size_t>(std::min(r1 - r0, rows_per_chunk) * n_per_row));
        for (int64_t r = r0; r < r1; r += rows_per_chunk) {
          const int64_t n = std::min(rows_per_chunk, r1 - r);
          RowsToFloat(t, r, n, rows.data());
          if (sc != nullptr) ApplyTensorScales(*sc, r, n, n_per_row, rows.data());
          uint8_t* dst = out + static_cast<size_t>(r) * out_row_bytes;
          if (qw.empty()) {
            QuantizeRows(p.dst_type, rows.data(), dst, n, n_per_row);
            continue;
          }
          for (int64_t i = 0; i < n; ++i) {
            const float* w = qw.data() + ((r + i) / rows_per_matrix % t.ne[2]) * n_per_row;
            QuantizeRowsWeighted(p.dst_type, rows.data() + i * n_per_row, dst + static_cast<size_t>(i) * out_row_bytes,
                                 1, n_per_row, w);
          }
        }
      });
      WEFT_RETURN_IF_ERROR(writer.WriteTensor(i, out_buf));
      ++report.converted;
    }
    report.bytes_out += writer.TensorBytes(i);
    done_in += t.nbytes;
    in.release_pages(stored);
  }
  WEFT_RETURN_IF_ERROR(writer.Finish());
  if (progress) progress(total_in, total_in, "");
  report.bytes_in = total_in;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace weft::quant
