#include "cli/curl_hint.h"

#include <nlohmann/json.hpp>

namespace weft::cli {

std::string ShellSingleQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string CurlHint(const CurlHintInput& in) {
  nlohmann::ordered_json body;
  body["model"] = in.model;
  if (in.chat) {
    body["messages"] = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Tell me a story"}}});
  } else {
    body["prompt"] = "Once upon a time";
  }
  body["max_tokens"] = 64;
  std::string cmd = "curl " + in.url + (in.chat ? "/v1/chat/completions" : "/v1/completions") +
                    " -H 'Content-Type: application/json'";
  if (!in.api_key_file.empty()) {
    cmd += " -H \"Authorization: Bearer $(head -n1 " + ShellSingleQuote(in.api_key_file) + ")\"";
  } else if (in.api_key_given) {
    cmd += " -H \"Authorization: Bearer $KEY\"";
  }
  return cmd + " -d " + ShellSingleQuote(body.dump());
}

}  // namespace weft::cli
