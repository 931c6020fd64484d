#include "kv/kv_cache_manager.h"

namespace weft {
KvCacheManager::KvCacheManager(const KvCacheConfig& config) : config_(config), pool_(config.num_blocks) {}
}  // namespace weft
