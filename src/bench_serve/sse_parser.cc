#include "bench_serve/sse_parser.h"

namespace weft::bench_serve {

void SseParser::EndLine() {
  if (line_.empty()) {  // blank line: dispatch
    if (has_data_) out_.push_back(std::move(data_));
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line_[0] == ':') {  // comment
    line_.clear();
    return;
  }
  const size_t colon = line_.find(':');
  std::string_view field = std::string_view(line_).substr(0, colon);
  std::string_view value;
  if (colon != std::string::npos) {
    value = std::string_view(line_).substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  }
  line_.clear();
}

StatusOr<std::vector<std::string>> SseParser::Feed(std::string_view bytes) {
  out_.clear();
  for (char c : bytes) {
    if (c == '\n' && last_was_cr_) {  // the \n of a \r\n: the line already ended
      last_was_cr_ = false;
      continue;
    }
    last_was_cr_ = c == '\r';
    if (c == '\n' || c == '\r') {
      EndLine();
      continue;
    }
    line_ += c;
    if (line_.size() > max_line_) {
      return DataLossError("an event-stream line is longer than " + std::to_string(max_line_) + " bytes");
    }
  }
  return std::move(out_);
}

std::vector<std::string> SseParser::Finish() {
  if (!line_.empty()) EndLine();
  std::vector<std::string> rest;
  if (has_data_) rest.push_back(std::move(data_));
  data_.clear();
  has_data_ = false;
  return rest;
}

}  // namespace weft::bench_serve
