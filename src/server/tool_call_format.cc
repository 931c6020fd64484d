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

// {"name": N, <args_key>: {...}} with N among `names`. `scanned`: the same object read by
// CallScanner, whose compact argument text is the arguments (as streamed) when they are
// an object; arguments written as a JSON string are parsed and dumped.
std::optional<ParsedToolCall> CallFrom(const Json& j, const std::vector<std::string>& names, bool llama3,
                                       const CallScanner::Call* scanned) {
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
  } else if (args.is_object() && scanned != nullptr && scanned->args_object && scanned->args_done) {
    return ParsedToolCall{name, scanned->args};
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
    const std::string_view obj = Trim(text.substr(pos, close - pos));
    auto j = ParseJson(obj);
    if (!j) return AllContent(text);
    CallScanner sc(false);
    sc.Feed(obj);
    auto call = CallFrom(*j, names, false, sc.calls().size() == 1 ? &sc.calls()[0] : nullptr);
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
  CallScanner sc(true);
  sc.Feed(t);
  auto call = CallFrom(*j, names, true, sc.calls().size() == 1 ? &sc.calls()[0] : nullptr);
  if (!call) return AllContent(text);
  ParsedOutput out;
  out.calls.push_back(std::move(*call));
  return out;
}

ParsedOutput Mistral(std::string_view text, const std::vector<std::string>& names) {
  const size_t at = text.find(kMistralMarker);
  if (at == std::string_view::npos) return AllContent(text);
  const std::string_view region = Trim(text.substr(at + kMistralMarker.size()));
  auto j = ParseJson(region);
  if (!j) return AllContent(text);
  if (j->is_object()) *j = Json::array({*j});
  if (!j->is_array() || j->empty()) return AllContent(text);
  CallScanner sc(false);
  sc.Feed(region);
  const bool aligned = sc.calls().size() == j->size();
  ParsedOutput out;
  out.content = std::string(text.substr(0, at));
  for (size_t i = 0; i < j->size(); ++i) {
    const Json& c = (*j)[i];
    auto call = CallFrom(c, names, false, aligned ? &sc.calls()[i] : nullptr);
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

void CallScanner::Feed(std::string_view bytes) {
  for (const char c : bytes) {
    Call* cur = calls_.empty() ? nullptr : &calls_.back();
    if (in_str_) {
      if (in_key_) {
        if (esc_) esc_ = false;
        else if (c == '\\') esc_ = true;
        else if (c == '"') { in_str_ = in_key_ = false; m_ = kColon; continue; }
        key_ += c;
        continue;
      }
      const bool closing = !esc_ && c == '"';
      if (esc_) esc_ = false;
      else if (c == '\\') esc_ = true;
      if (v_ == kArgs && depth_ >= 2 && cur->args_object) cur->args += c;
      if (v_ == kName && depth_ == 1 && !closing) name_raw_ += c;
      if (closing) {
        in_str_ = false;
        if (depth_ == 1) {  // a string value of the call object ends
          if (v_ == kName && !cur->name_done) {
            auto n = ParseJson("\"" + name_raw_ + "\"");
            if (n && n->is_string()) { cur->name = n->get<std::string>(); cur->name_done = true; }
          }
          m_ = kAfter;
          v_ = kOther;
        }
      }
      continue;
    }
    if (IsSpace(c)) continue;
    if (depth_ == 0) {  // between calls: only an object starts one
      if (c == '{') {
        calls_.emplace_back();
        depth_ = 1;
        m_ = kKey;
        v_ = kOther;
      }
      continue;
    }
    if (depth_ == 1) {
      switch (m_) {
        case kKey:
          if (c == '"') { in_str_ = in_key_ = true; key_.clear(); }
          else if (c == '}') { depth_ = 0; cur->closed = true; }
          break;
        case kColon:
          if (c == ':') m_ = kValue;
          break;
        case kValue: {
          const bool args_key = key_ == "arguments" || (llama3_ && key_ == "parameters" && !cur->args_object);
          v_ = key_ == "name" ? kName : args_key ? kArgs : kOther;
          if (v_ == kArgs) { cur->args.clear(); cur->args_object = false; cur->args_done = false; }
          if (c == '"') {
            in_str_ = true;
            name_raw_.clear();
            if (v_ == kArgs) v_ = kOther;  // arguments as a JSON string: whole-text parse only
          } else if (c == '{' || c == '[') {
            depth_ = 2;
            if (v_ == kArgs) { cur->args_object = c == '{'; if (cur->args_object) cur->args += c; }
          }
          m_ = kAfter;  // a scalar runs until ',' or '}'
          break;
        }
        case kAfter:
          if (c == ',') { m_ = kKey; v_ = kOther; }
          else if (c == '}') { depth_ = 0; cur->closed = true; }
          break;
      }
      continue;
    }
    // Inside a member value.
    if (v_ == kArgs && cur->args_object) cur->args += c;
    if (c == '"') {
      in_str_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 1) {
        if (v_ == kArgs && cur->args_object) cur->args_done = true;
        m_ = kAfter;
        v_ = kOther;
      }
    }
  }
}

StreamedOutput ToolCallStream::Feed(std::string_view delta) {
  text_.append(delta);
  StreamedOutput out;
  if (format_ == ToolCallFormat::kNone) {
    out.content = text_.substr(sent_);
    sent_ = text_.size();
    return out;
  }
  if (in_call_) {
    StreamCalls(&out.pieces);
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
        out.content = at > sent_ ? text_.substr(sent_, at - sent_) : "";
        sent_ = std::max(sent_, at);
        scanned_ = at + marker.size();
        StreamCalls(&out.pieces);
        return out;
      }
      hold = PartialMarker(text_, marker);
      break;
    }
    case ToolCallFormat::kLlama3: {
      // A call is the whole output: decided by its first non-blank character.
      if (sent_ > 0) break;
      const std::string_view t = Trim(text_);
      if (t.empty()) return out;
      if (t.front() == '{' || t.substr(0, kPythonTag.size()) == kPythonTag) {
        in_call_ = true;
        scanned_ = 0;  // the tag holds no '{': the scanner skips it
        StreamCalls(&out.pieces);
        return out;
      }
      if (kPythonTag.substr(0, t.size()) == t) return out;
      break;
    }
    case ToolCallFormat::kNone: break;
  }
  const size_t upto = text_.size() - hold;
  if (upto <= sent_) return out;
  out.content = text_.substr(sent_, upto - sent_);
  sent_ = upto;
  return out;
}

void ToolCallStream::StreamCalls(std::vector<ToolCallPiece>* out) {
  if (scanned_ < text_.size()) {
    scanner_.Feed(std::string_view(text_).substr(scanned_));
    scanned_ = text_.size();
  }
  const auto& calls = scanner_.calls();
  for (size_t i = 0; i < calls.size(); ++i) {
    if (max_calls_ > 0 && i >= static_cast<size_t>(max_calls_)) break;
    const CallScanner::Call& c = calls[i];
    ToolCallPiece piece;
    piece.index = static_cast<int>(i);
    if (i >= streamed_.size()) {
      // Calls go out in order, each once its name is known to be a tool's.
      if (!c.name_done || std::find(names_.begin(), names_.end(), c.name) == names_.end()) break;
      streamed_.push_back(Sent{c.name, ""});
      piece.name = c.name;
    }
    Sent& s = streamed_[i];
    if (c.args_object && c.args.size() > s.arguments.size() && c.args.compare(0, s.arguments.size(), s.arguments) == 0) {
      piece.arguments = c.args.substr(s.arguments.size());
      s.arguments = c.args;
    }
    if (!piece.name.empty() || !piece.arguments.empty()) out->push_back(std::move(piece));
  }
}

StreamedOutput ToolCallStream::Finish() {
  StreamedOutput out;
  ParsedOutput p = ParseToolCalls(format_, text_, names_, max_calls_);
  if (p.calls.empty()) {
    out.content = sent_ < text_.size() ? text_.substr(sent_) : "";
    return out;
  }
  out.made_calls = true;
  out.content = sent_ < p.content.size() ? p.content.substr(sent_) : "";
  for (size_t i = 0; i < p.calls.size(); ++i) {
    ToolCallPiece piece;
    piece.index = static_cast<int>(i);
    const ParsedToolCall& c = p.calls[i];
    if (i < streamed_.size()) {
      // Streamed arguments are a prefix of the whole parse's (the same scanner made both).
      const std::string& sent = streamed_[i].arguments;
      if (c.arguments.size() > sent.size() && c.arguments.compare(0, sent.size(), sent) == 0) {
        piece.arguments = c.arguments.substr(sent.size());
      }
      if (piece.arguments.empty()) continue;
    } else {
      piece.name = c.name;
      piece.arguments = c.arguments;
    }
    out.pieces.push_back(std::move(piece));
  }
  return out;
}

}  // namespace weft::server
