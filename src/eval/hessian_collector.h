// HessianCollector: the GPTQ Hessians H = 2 X^T X of every blk.* weight's matmul input X
// (and, for AWQ / SmoothQuant, each input column's sum and max of |x|)
// (all input rows the runner shows it through ModelRunner::SetMatMulObserver), for
// quant/gptq.h. Weights that read the same input in the same step (q/k/v, gate/up) share
// one H: a matmul whose input (pointer, shape and contents) equals the previous call's
// joins that call's group the first time it is seen. Each group holds k*k floats
// (k = 5632: 127 MB), accumulated in float per call; the runner's own outputs are not
// changed (no layer-by-layer propagation through already quantised layers: every H comes
// from the unquantised model). Mixture-of-experts slices ("...[e]") and tensor-parallel
// parts are not collected (those weights are quantised without GPTQ).
// Thread-safety: one thread (the runner's caller) at a time; OnMatMul uses `pool` (which
// must not be the runner's pool: the observer runs while the runner waits on it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace weft {

class HessianCollector final : public kernels::MatMulObserver {
 public:
  // with_hessian false: only the per-column statistics (SmoothQuant needs no H).
  explicit HessianCollector(ThreadPool* pool, bool with_hessian = true) : pool_(pool), with_hessian_(with_hessian) {}

  void OnMatMul(const TensorView& w, const float* x, int64_t m, int64_t x_stride) override;

  struct Group {
    int64_t k = 0;
    int64_t rows = 0;       // input rows seen
    std::vector<float> h;   // [k, k], upper triangle (j >= i) only: 2 * sum x_i x_j (empty without H)
    std::vector<double> abs_sum;  // [k] sum |x_j| over the rows (AWQ's activation scale: / rows)
    std::vector<float> abs_max;   // [k] max |x_j| (SmoothQuant's)
    std::vector<std::string> weights;
  };
  // Weight name -> its group (shared by the weights that read the same input).
  const std::map<std::string, std::shared_ptr<Group>>& groups() const { return by_weight_; }
  size_t num_groups() const { return num_groups_; }

 private:
  ThreadPool* pool_;
  bool with_hessian_ = true;
  std::map<std::string, std::shared_ptr<Group>> by_weight_;
  size_t num_groups_ = 0;
  // The previous call's input, to recognise weights that share it.
  const float* last_x_ = nullptr;
  int64_t last_m_ = -1, last_k_ = -1;
  uint64_t last_hash_ = 0;
  std::shared_ptr<Group> last_group_;
  std::vector<float> xt_;  // [k, m] scratch: the input transposed
};

}  // namespace weft
