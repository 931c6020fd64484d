// Sizes given on the command line: "512M", "2G", "64K" (powers of 1024), or bytes.
#pragma once

#include <cstdint>
#include <string>

#include "weft/status.h"

namespace weft::cli {

// InvalidArgument naming `flag` when `text` is not a positive size.
StatusOr<int64_t> ParseByteSize(const std::string& flag, const std::string& text);

}  // namespace weft::cli
