// A 2-D weight's TensorView with a name and a shape and no data, for tests that feed
// matmul observers (eval/imatrix_collector.h, eval/hessian_collector.h) by hand.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/tensor_view.h"

namespace weft::testing {

// ne = {k (inputs), n (outputs)}, GGUF order.
inline TensorView WeightView(const std::string& name, int64_t k, int64_t n) {
  TensorView w;
  w.name = name;
  w.n_dims = 2;
  w.ne = {k, n, 1, 1};
  return w;
}

}  // namespace weft::testing
