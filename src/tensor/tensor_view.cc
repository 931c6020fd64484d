#include "tensor/tensor_view.h"

#include "base/check.h"

namespace weft {

std::string TensorView::ShapeString() const {
  std::string s = "[";
  for (int i = 0; i < n_dims; ++i) {
    if (i) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "]";
}

void DequantizeTensor(const TensorView& t, float* dst) {
  const int64_t n = t.NumElements();
  WEFT_CHECK(BytesForElements(t.type, n) <= t.nbytes, "tensor {} is smaller than its shape", t.name);
  DequantizeRow(t.type, t.data, dst, n);
}

}  // namespace weft
