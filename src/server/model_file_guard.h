// ModelFileGuard: notices when the model file(s) a running server has mmapped change on
// disk. Weights are mapped, not copied: a file truncated under the server would turn
// the next read of a missing page into SIGBUS. The server checks before admitting each
// generation (a stat per file, microseconds) and reports the change (503, /health)
// instead of running on a file that is no longer the one it loaded.
// Thread-safety: immutable after construction; Check() from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "weft/status.h"

namespace weft::server {

class ModelFileGuard {
 public:
  ModelFileGuard() = default;  // watches nothing
  // `path`: a model file, or a directory whose .gguf/.safetensors files are watched.
  static StatusOr<ModelFileGuard> Watch(const std::string& path);

  // Ok, or Unavailable naming the file and what changed (size, modification time, gone).
  Status Check() const;

 private:
  struct Entry {
    std::string path;
    int64_t size = 0;
    int64_t mtime_ns = 0;
  };
  std::vector<Entry> files_;
};

}  // namespace weft::server
