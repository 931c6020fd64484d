// The curl command `weft serve` prints at startup, made to work when pasted into bash:
// the JSON body in single quotes (quotes in the model id escaped), and the API key read
// where the shell expands it: "$KEY" (in double quotes) for --api-key, $(cat FILE) for
// --api-key-file. Pure functions.
#pragma once

#include <string>

namespace weft::cli {

struct CurlHintInput {
  std::string url;    // http://127.0.0.1:8080
  std::string model;  // the served model id
  bool chat = false;  // chat completions (a template is loaded), else completions
  std::string api_key_file;    // --api-key-file, or ""
  bool api_key_given = false;  // --api-key: the command reads $KEY
};

std::string CurlHint(const CurlHintInput& in);

// `text` as one bash word in single quotes.
std::string ShellSingleQuote(const std::string& text);

}  // namespace weft::cli
