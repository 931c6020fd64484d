// The field policy of /v1/completions and /v1/chat/completions: what weft does with each
// OpenAI / vLLM request field it does not act on (docs/API_FIELDS.md is the same list for
// people). A field that would change the meaning of the answer if it were dropped is
// refused with a 400 naming it, unless its value is the one that changes nothing
// (response_format {"type": "text"}, best_of == n, suffix "", use_beam_search false, ...).
// Known harmless fields (user, metadata, store, ...) are ignored; fields weft does not know
// at all are ignored too and reported back, for the server to log (as vLLM does).
// The fields weft acts on are parsed in openai_requests.cc.
//
// Thread-safety: pure functions over constant tables.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/errors.h"

namespace weft::server {

// A 400 for the first refused field in `body` (null counts as absent), else nullopt.
// `unknown` gets the names of the fields that no policy lists (neither acted on, nor
// refused, nor known to be harmless).
std::optional<ApiError> CheckFieldPolicy(const nlohmann::ordered_json& body, bool chat,
                                         std::vector<std::string>* unknown);

}  // namespace weft::server
