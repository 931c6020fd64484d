// Request-body JSON parsed in linear time under limits on nesting, keys and sizes.
// nlohmann's own parse into ordered_json checks each new key against every earlier key
// of its object (quadratic: 80k keys took 19 s); this SAX builder keeps a hash index per
// open object instead, and refuses hostile shapes before building them.
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/errors.h"

namespace weft::server {

struct JsonLimits {
  int max_depth = 64;                  // nested arrays/objects
  size_t max_object_keys = 1u << 18;   // keys in one object (a full-vocabulary logit_bias fits)
  size_t max_values = 1u << 22;        // values in the whole document
  size_t max_key_bytes = 4096;         // one key
  size_t max_string_bytes = 16u << 20; // one string value (the body limit usually binds first)
};

// Parses `text` into *out (duplicate keys: the last wins, in the first one's place).
// Invalid JSON or a limit exceeded is a 400 saying which.
std::optional<ApiError> ParseJsonLimited(std::string_view text, const JsonLimits& limits, nlohmann::ordered_json* out);

}  // namespace weft::server
