#include "kv/block_pool.h"

namespace weft {
BlockPool::BlockPool(int32_t num_blocks) : num_blocks_(num_blocks) {}
}  // namespace weft
