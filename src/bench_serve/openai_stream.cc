#include "bench_serve/openai_stream.h"

#include <nlohmann/json.hpp>

namespace weft::bench_serve {

using Json = nlohmann::json;

namespace {

std::string StringField(const Json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t IntField(const Json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

StatusOr<StreamEvent> ParseStreamEvent(std::string_view data) {
  StreamEvent ev;
  std::string_view trimmed = data;
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\n')) trimmed.remove_suffix(1);
  if (trimmed == "[DONE]") {
    ev.done = true;
    return ev;
  }
  const Json j = Json::parse(data.begin(), data.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLossError("a stream event is not a JSON object: '" + std::string(data.substr(0, 80)) + "'");
  }
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    ev.error = e->is_object() ? StringField(*e, "message") : e->dump();
    if (ev.error.empty()) ev.error = e->dump();
    return ev;
  }
  if (auto c = j.find("choices"); c != j.end() && c->is_array() && !c->empty() && (*c)[0].is_object()) {
    const Json& ch = (*c)[0];
    if (auto d = ch.find("delta"); d != ch.end() && d->is_object()) {
      ev.text = StringField(*d, "content");
    } else {
      ev.text = StringField(ch, "text");
    }
    ev.finish_reason = StringField(ch, "finish_reason");
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    ev.has_usage = true;
    ev.prompt_tokens = IntField(*u, "prompt_tokens");
    ev.completion_tokens = IntField(*u, "completion_tokens");
  }
  return ev;
}

}  // namespace weft::bench_serve
