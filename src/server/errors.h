// ApiError: an OpenAI-style error ({"error": {"message", "type", "param", "code"}}) with
// the HTTP status it goes out with, and the mapping from a weft Status to one.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "weft/status.h"

namespace weft::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string param;  // the request field at fault, "" when none
  std::string code;   // e.g. "model_not_found", "" when none

  // "invalid_request_error", "authentication_error", ... from the HTTP status.
  std::string type() const;
  nlohmann::ordered_json ToJson() const;
  std::string Body() const;  // ToJson() serialised
};

ApiError BadRequest(std::string message, std::string param = "");
// InvalidArgument/OutOfRange/Unimplemented -> 400, NotFound -> 404, ResourceExhausted
// -> 429, Unavailable -> 503, Unauthenticated -> 401, anything else -> 500; the param is
// the status's field().
ApiError FromStatus(const Status& status);

// JSON text that never throws on invalid UTF-8 (bad bytes become U+FFFD).
std::string DumpJson(const nlohmann::ordered_json& j);

}  // namespace weft::server
