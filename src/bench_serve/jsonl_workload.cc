#include "bench_serve/jsonl_workload.h"

#include <fstream>
#include <sstream>

namespace weft::bench_serve {
namespace {

using Json = nlohmann::json;

Status LineError(const std::string& name, int line, const std::string& what) {
  return InvalidArgumentError(name + ":" + std::to_string(line) + ": " + what);
}

Status CheckMessages(const Json& msgs, const std::string& name, int line) {
  if (!msgs.is_array() || msgs.empty()) return LineError(name, line, "\"messages\" must be a non-empty array");
  for (const Json& m : msgs) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return LineError(name, line, "every message needs a \"role\" string and \"content\"");
    }
    if (!m.contains("content") || !(m["content"].is_string() || m["content"].is_array())) {
      return LineError(name, line, "every message needs a \"role\" string and \"content\"");
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<RequestSpec>> ParseJsonlWorkload(std::string_view text, const std::string& name,
                                                      int default_max_tokens) {
  std::vector<RequestSpec> out;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const Json j = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return LineError(name, line_no, "not valid JSON");
    if (!j.is_object()) return LineError(name, line_no, "each line must be a JSON object");
    RequestSpec r;
    r.max_tokens = default_max_tokens;
    const bool has_prompt = j.contains("prompt"), has_messages = j.contains("messages");
    if (has_prompt == has_messages) {
      return LineError(name, line_no, "needs \"prompt\" (a string) or \"messages\" (an array), exactly one");
    }
    if (has_prompt) {
      if (!j["prompt"].is_string()) return LineError(name, line_no, "\"prompt\" must be a string");
      r.prompt = j["prompt"].get<std::string>();
    } else {
      WEFT_RETURN_IF_ERROR(CheckMessages(j["messages"], name, line_no));
      r.messages = j["messages"];
    }
    if (auto m = j.find("max_tokens"); m != j.end() && !m->is_null()) {
      if (!m->is_number_integer() || m->get<int64_t>() < 1 || m->get<int64_t>() > (1 << 24)) {
        return LineError(name, line_no, "\"max_tokens\" must be a positive integer");
      }
      r.max_tokens = static_cast<int>(m->get<int64_t>());
    }
    out.push_back(std::move(r));
  }
  if (out.empty()) return InvalidArgumentError(name + ": no requests (one JSON object per line)");
  return out;
}

StatusOr<std::vector<RequestSpec>> LoadJsonlWorkload(const std::string& path, int default_max_tokens) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFoundError("cannot read " + path + ": give an existing JSONL file to --prompts");
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseJsonlWorkload(ss.str(), path, default_max_tokens);
}

}  // namespace weft::bench_serve
