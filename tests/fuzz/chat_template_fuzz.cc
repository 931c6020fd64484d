// libFuzzer target: the input bytes are a chat template; parse it and render it with a
// small fixed conversation. Any outcome but a crash, hang or leak is fine: errors must
// come back as Status. Limits are lowered so that each input runs in milliseconds.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "jinja/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json* context = [] {
    weft::ChatTemplate::ChatInputs in;
    in.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi ünïcödé \"q\" & <b>"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21}"}])");
    in.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Get the weather", "parameters": {"type": "object", "properties": {
      "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}])");
    in.add_generation_prompt = true;
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    return new nlohmann::ordered_json(weft::ChatTemplate::BuildContext(in));
  }();

  weft::ChatTemplateOptions options;
  options.limits.max_steps = 20'000;
  options.limits.max_output_bytes = 64 << 10;
  options.limits.max_alloc_bytes = 16 << 20;
  options.limits.max_range = 10'000;
  std::tm tm{};
  tm.tm_year = 126;
  tm.tm_mday = 2;
  options.now = tm;
  auto tmpl = weft::ChatTemplate::Parse(std::string(reinterpret_cast<const char*>(data), size), options);
  if (!tmpl.ok()) return 0;
  auto out = tmpl->Render(*context);
  (void)out;
  return 0;
}
