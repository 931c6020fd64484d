// ImatrixCollector: gathers an importance matrix (quant/imatrix_file.h) from the matmul
// inputs a ModelRunner shows it (ModelRunner::SetMatMulObserver), the statistics
// llama.cpp's llama-imatrix collects:
//   - for every weight named blk.* (and output.weight with process_output), per input
//     column j, the sum of x[j]^2 over the input rows, and how many rows were seen;
//   - a dense matmul counts only when it has at least 16 input rows (llama-imatrix skips
//     smaller batches); the experts of a mixture-of-experts layer (slices named
//     "blk.N.ffn_*_exps.weight[e]") always count, into one entry of n_expert * k columns;
//   - a fused projection split into row slices ("...weight[rows a..b)") counts once;
//   - ncall: the number of steps (BeginStep) in which the weight was used.
// Sums are kept in double. Thread-safety: one thread (the runner's caller) at a time.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/ops.h"
#include "quant/imatrix_file.h"

namespace weft {

class ImatrixCollector final : public kernels::MatMulObserver {
 public:
  // n_expert: experts per MoE layer (0 for a dense model).
  ImatrixCollector(int64_t n_expert, bool process_output) : n_expert_(n_expert), process_output_(process_output) {}

  void BeginStep() { ++step_; }
  void OnMatMul(const TensorView& w, const float* x, int64_t m, int64_t x_stride) override;

  // The collected matrix. Entries with a column never seen (an expert no token was routed
  // to) are left out, as llama-imatrix does; their names are appended to *skipped.
  quant::Imatrix Result(int32_t chunks, const std::string& dataset, std::vector<std::string>* skipped) const;
  size_t num_entries() const { return stats_.size(); }

 private:
  struct Stats {
    std::vector<double> sum_sq;   // [parts * k]
    std::vector<int64_t> count;   // [parts] rows seen per part (expert)
    int64_t k = 0;
    int32_t ncall = 0;
    int64_t last_step = -1;
  };
  Stats& Entry(const std::string& name, int64_t k, int64_t parts);

  int64_t n_expert_;
  bool process_output_;
  int64_t step_ = 0;
  std::unordered_map<std::string, Stats> stats_;
};

}  // namespace weft
