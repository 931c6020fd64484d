#include "kernels/scratch_window.h"

#include <cstdio>
#include <cstdlib>

namespace weft::kernels {

void ScratchWindowFailed(const char* file, int line, const char* what, size_t offset, size_t count, size_t size) {
  std::fprintf(stderr, "%s:%d: scratch window out of bounds: %s [%zu, %zu + %zu) outside a buffer of %zu\n", file,
               line, what, offset, offset, count, size);
  std::abort();
}

}  // namespace weft::kernels
