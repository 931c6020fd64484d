// A workload from a JSONL file: one request per line, either
//   {"prompt": "text", "max_tokens": 64}
// or {"messages": [{"role": "user", "content": "text"}, ...], "max_tokens": 64}
// (max_tokens optional: `default_max_tokens` then). Blank lines are skipped; any other bad
// line is an error naming the file, the line and what it needs.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bench_serve/workload.h"
#include "weft/status.h"

namespace weft::bench_serve {

// `name` names the source in errors ("prompts.jsonl:3: ...").
StatusOr<std::vector<RequestSpec>> ParseJsonlWorkload(std::string_view text, const std::string& name,
                                                      int default_max_tokens);
StatusOr<std::vector<RequestSpec>> LoadJsonlWorkload(const std::string& path, int default_max_tokens);

}  // namespace weft::bench_serve
