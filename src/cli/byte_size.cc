#include "cli/byte_size.h"

#include <cstdlib>

namespace weft::cli {

StatusOr<int64_t> ParseByteSize(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit(end);
  double mult = 1;
  if (unit == "K" || unit == "k" || unit == "KiB") mult = 1024;
  else if (unit == "M" || unit == "m" || unit == "MiB") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "g" || unit == "GiB") mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty()) return InvalidArgumentError(flag + ": '" + text + "' is not a size (e.g. 512M, 2G)");
  if (end == text.c_str() || !(v > 0)) return InvalidArgumentError(flag + ": '" + text + "' is not a positive size");
  return static_cast<int64_t>(v * mult);
}

}  // namespace weft::cli
