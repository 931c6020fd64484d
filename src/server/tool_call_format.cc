#include "server/tool_call_format.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kMistralMarker = "[TOOL_CALLS]";
constexpr std::string_view kPythonTag = "<|python_tag|>";

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<Json> ParseJson(std::string_view s) {
  try {
    return Json::parse(s);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// {"name": N, <args_key>: {...}} with N among `names`.
std::optional<ParsedToolCall> CallFrom(const Json& j, const std::vector<std::string>& names, bool llama3) {
  if (!j.is_object()) return std::nullopt;
  auto n = j.find("name");
  if (n == j.end() || !n->is_string()) return std::nullopt;
  const std::string name = n->get<std::string>();
  if (std::find(names.begin(), names.end(), name) == names.end()) return std::nullopt;
  auto a = j.find("arguments");
  if (llama3 && a == j.end()) a = j.find("parameters");
  if (a == j.end()) return std::nullopt;
  Json args = *a;
  if (args.is_string()) {  // some models write the arguments as a JSON string
    auto parsed = ParseJson(args.get<std::string>());
    if (!parsed) return std::nullopt;
    args = std::move(*parsed);
  }
  if (!args.is_object()) return std::nullopt;
  return ParsedToolCall{name, args.dump()};
}

ParsedOutput AllContent(std::string_view text) { return ParsedOutput{std::string(text), {}}; }

ParsedOutput Hermes(std::string_view text, const std::vector<std::string>& names) {
  const size_t first = text.find(kHermesOpen);
  if (first == std::string_view::npos) return AllContent(text);
  ParsedOutput out;
  out.content = std::string(text.substr(0, first));
  size_t pos = first;
  while (true) {
    const size_t next = text.find_first_not_of(" \n\t\r", pos);
    if (next == std::string_view::npos) break;
    // Between calls only whitespace may come.
    if (text.compare(next, kHermesOpen.size(), kHermesOpen) != 0) return AllContent(text);
    pos = next + kHermesOpen.size();
    size_t close = text.find(kHermesClose, pos);
    const bool closed = close != std::string_view::npos;
    if (!closed) close = text.size();  // the model stopped right after the JSON
    auto j = ParseJson(Trim(text.substr(pos, close - pos)));
    if (!j) return AllContent(text);
    auto call = CallFrom(*j, names, false);
    if (!call) return AllContent(text);
    out.calls.push_back(std::move(*call));
    pos = closed ? close + kHermesClose.size() : text.size();
  }
  return out;
}

ParsedOutput Llama3(std::string_view text, const std::vector<std::string>& names) {
  std::string_view t = Trim(text);
  if (t.substr(0, kPythonTag.size()) == kPythonTag) t = Trim(t.substr(kPythonTag.size()));
  if (t.empty() || t.front() != '{') return AllContent(text);
  auto j = ParseJson(t);
  if (!j) return AllContent(text);
  auto call = CallFrom(*j, names, true);
  if (!call) return AllContent(text);
  ParsedOutput out;
  out.calls.push_back(std::move(*call));
  return out;
}

ParsedOutput Mistral(std::string_view text, const std::vector<std::string>& names) {
  const size_t at = text.find(kMistralMarker);
  if (at == std::string_view::npos) return AllContent(text);
  auto j = ParseJson(Trim(text.substr(at + kMistralMarker.size())));
  if (!j) return AllContent(text);
  if (j->is_object()) *j = Json::array({*j});
  if (!j->is_array() || j->empty()) return AllContent(text);
  ParsedOutput out;
  out.content = std::string(text.substr(0, at));
  for (const Json& c : *j) {
    auto call = CallFrom(c, names, false);
    if (!call) return AllContent(text);
    out.calls.push_back(std::move(*call));
  }
  return out;
}

// The longest suffix of `text` that is a proper prefix of `marker`.
size_t PartialMarker(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(text.size(), marker.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

const char* ToolCallFormatName(ToolCallFormat f) {
  switch (f) {
    case ToolCallFormat::kNone: return "none";
    case ToolCallFormat::kHermes: return "hermes";
    case ToolCallFormat::kLlama3: return "llama3";
    case ToolCallFormat::kMistral: return "mistral";
  }
  return "none";
}

std::optional<ToolCallFormat> ParseToolCallFormat(std::string_view name) {
  for (ToolCallFormat f : {ToolCallFormat::kNone, ToolCallFormat::kHermes, ToolCallFormat::kLlama3,
                           ToolCallFormat::kMistral}) {
    if (name == ToolCallFormatName(f)) return f;
  }
  return std::nullopt;
}

ToolCallFormat DetectToolCallFormat(std::string_view t) {
  if (t.find(kHermesOpen) != std::string_view::npos) return ToolCallFormat::kHermes;
  if (t.find(kMistralMarker) != std::string_view::npos) return ToolCallFormat::kMistral;
  // Llama 3.1+: tool calls rendered as {"name": ..., "parameters": ...} in a header-style template.
  if (t.find("<|start_header_id|>") != std::string_view::npos && t.find("tool_calls") != std::string_view::npos &&
      t.find("\"parameters\": ") != std::string_view::npos) {
    return ToolCallFormat::kLlama3;
  }
  return ToolCallFormat::kNone;
}

ParsedOutput ParseToolCalls(ToolCallFormat f, std::string_view text, const std::vector<std::string>& names,
                            int max_calls) {
  ParsedOutput out;
  switch (f) {
    case ToolCallFormat::kNone: return AllContent(text);
    case ToolCallFormat::kHermes: out = Hermes(text, names); break;
    case ToolCallFormat::kLlama3: out = Llama3(text, names); break;
    case ToolCallFormat::kMistral: out = Mistral(text, names); break;
  }
  if (max_calls > 0 && out.calls.size() > static_cast<size_t>(max_calls)) out.calls.resize(static_cast<size_t>(max_calls));
  return out;
}

std::string ToolCallStream::Feed(std::string_view delta) {
  text_.append(delta);
  if (in_call_ || format_ == ToolCallFormat::kNone) {
    if (format_ != ToolCallFormat::kNone) return "";
    std::string out = text_.substr(sent_);
    sent_ = text_.size();
    return out;
  }
  size_t hold = 0;  // bytes at the end that may start a call
  switch (format_) {
    case ToolCallFormat::kHermes:
    case ToolCallFormat::kMistral: {
      const std::string_view marker = format_ == ToolCallFormat::kHermes ? kHermesOpen : kMistralMarker;
      const size_t at = text_.find(marker, sent_ > marker.size() ? sent_ - marker.size() : 0);
      if (at != std::string::npos) {
        in_call_ = true;
        std::string out = at > sent_ ? text_.substr(sent_, at - sent_) : "";
        sent_ = std::max(sent_, at);
        return out;
      }
      hold = PartialMarker(text_, marker);
      break;
    }
    case ToolCallFormat::kLlama3: {
      // A call is the whole output: decided by its first non-blank character.
      if (sent_ > 0) break;
      const std::string_view t = Trim(text_);
      if (t.empty()) return "";
      if (t.front() == '{' || t.substr(0, kPythonTag.size()) == kPythonTag) {
        in_call_ = true;
        return "";
      }
      if (kPythonTag.substr(0, t.size()) == t) return "";
      break;
    }
    case ToolCallFormat::kNone: break;
  }
  const size_t upto = text_.size() - hold;
  if (upto <= sent_) return "";
  std::string out = text_.substr(sent_, upto - sent_);
  sent_ = upto;
  return out;
}

ParsedOutput ToolCallStream::Finish() {
  ParsedOutput p = ParseToolCalls(format_, text_, names_, max_calls_);
  if (p.calls.empty()) {
    return ParsedOutput{sent_ < text_.size() ? text_.substr(sent_) : "", {}};
  }
  p.content = sent_ < p.content.size() ? p.content.substr(sent_) : "";
  return p;
}

}  // namespace weft::server
