// The structured-output fields of a generation request: OpenAI response_format
// (json_object, json_schema), vLLM guided_json / guided_regex / guided_choice and the
// newer structured_outputs object, guided_grammar / structured_outputs.grammar (GBNF,
// grammar/gbnf.h). At most one may ask for a constraint.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "grammar/structured_output.h"
#include "server/errors.h"

namespace weft::server {

struct StructuredRequest {
  grammar::StructuredOutputSpec spec;
  std::string field;  // the request field it came from, for 400s ("response_format.json_schema.schema")
};

// Fills *out when the body asks for a constraint; 400 for a malformed field or two of them.
std::optional<ApiError> ParseStructuredRequest(const nlohmann::ordered_json& body, std::optional<StructuredRequest>* out);

}  // namespace weft::server
