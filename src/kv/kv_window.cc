#include "kv/kv_window.h"

#include <fmt/format.h>

namespace weft {

Status ValidateKvWindow(const KvWindow& w, int32_t block_size, int32_t max_model_len, const std::string& sinks_field,
                        const std::string& window_field) {
  if (w.sinks < 0) {
    return InvalidArgumentError(fmt::format("{} = {} must be >= 0", sinks_field, w.sinks)).WithField(sinks_field);
  }
  if (w.window < 0) {
    return InvalidArgumentError(fmt::format("{} = {} must be >= 0 (0: no window)", window_field, w.window))
        .WithField(window_field);
  }
  if (w.sinks > 0 && w.window == 0) {
    return InvalidArgumentError(fmt::format("{} = {} needs a window ({} > 0): without one nothing is evicted",
                                            sinks_field, w.sinks, window_field))
        .WithField(sinks_field);
  }
  if (!w.enabled()) return Status::Ok();
  // The cache a windowed sequence holds between steps: sink blocks, the window and up to a
  // block more; the next step's token needs one slot after that.
  const int64_t held = int64_t{w.SinkBlocks(block_size)} * block_size + w.window + block_size;
  if (held >= max_model_len) {
    const std::string& field = w.sinks > w.window ? sinks_field : window_field;
    return InvalidArgumentError(
               fmt::format("{} = {} with {} = {} keeps up to {} tokens ({} sink blocks of {}, the window and a block "
                           "more), which must stay below the context of {} tokens",
                           sinks_field, w.sinks, window_field, w.window, held, w.SinkBlocks(block_size), block_size,
                           max_model_len))
        .WithField(field);
  }
  return Status::Ok();
}

std::string KvWindowName(const KvWindow& w) {
  if (!w.enabled()) return "dense";
  if (w.sinks == 0) return fmt::format("window {}", w.window);
  return fmt::format("sinks {} + window {}", w.sinks, w.window);
}

}  // namespace weft
