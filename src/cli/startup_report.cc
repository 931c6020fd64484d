#include "cli/startup_report.h"

#include <unistd.h>

#include <fstream>

#include "base/log.h"
#include "model/model_summary.h"

namespace weft::cli {

int64_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

void LogStartup(const StartupFacts& s, const ModelConfig& c) {
  WEFT_LOG_INFO("{}: loaded {} in {:.2f} s: {}, {} layers, embd {}, heads {}/{} kv, head dim {}, ffn {}, vocab {}, "
                "context {} (model's {}), rope theta {}",
                s.command, s.path, s.load_seconds, c.arch, c.n_layer, c.n_embd, c.n_head, c.n_head_kv, c.head_dim,
                c.n_ff, c.n_vocab, s.context, c.context_length, c.rope_theta);
  WEFT_LOG_INFO("{}: memory: {} resident (weights mapped from the file), KV cache {} ({}, {} bytes a token); {} kernels",
                s.command, HumanBytes(static_cast<uint64_t>(ResidentBytes())),
                HumanBytes(static_cast<uint64_t>(s.kv_cache_bytes)), s.kv_type.empty() ? "f16" : s.kv_type,
                s.kv_bytes_per_token, s.isa);
}

}  // namespace weft::cli
