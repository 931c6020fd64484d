#include "server/errors.h"

namespace weft::server {

std::string ApiError::type() const {
  switch (http_status) {
    case 400: case 404: case 413: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable_error";
    default: return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

nlohmann::ordered_json ApiError::ToJson() const {
  nlohmann::ordered_json e;
  e["message"] = message;
  e["type"] = type();
  e["param"] = param.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(param);
  e["code"] = code.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(code);
  nlohmann::ordered_json j;
  j["error"] = std::move(e);
  return j;
}

std::string ApiError::Body() const { return DumpJson(ToJson()); }

ApiError BadRequest(std::string message, std::string param) {
  return ApiError{400, std::move(message), std::move(param), ""};
}

ApiError FromStatus(const Status& status) {
  int http = 500;
  switch (status.code()) {
    case StatusCode::kInvalidArgument: case StatusCode::kOutOfRange: case StatusCode::kUnimplemented:
      http = 400; break;
    case StatusCode::kNotFound: http = 404; break;
    case StatusCode::kResourceExhausted: http = 429; break;
    case StatusCode::kUnavailable: http = 503; break;
    case StatusCode::kUnauthenticated: http = 401; break;
    case StatusCode::kPermissionDenied: http = 403; break;
    default: http = 500; break;
  }
  return ApiError{http, status.message(), status.field(), ""};
}

std::string DumpJson(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace weft::server
