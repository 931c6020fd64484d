#include "spec/spec_config.h"

#include <fmt/format.h>

#include <charconv>

#include "spec/ngram_proposer.h"

namespace weft {

StatusOr<SpecConfig> ParseSpecConfig(std::string_view text) {
  SpecConfig c;
  if (text.empty() || text == "none" || text == "off") return c;
  std::string_view method = text, arg;
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    method = text.substr(0, colon);
    arg = text.substr(colon + 1);
  }
  if (method != "ngram") {
    return InvalidArgumentError(
        fmt::format("--spec: unknown proposer '{}' (known: ngram[:K], off)", std::string(method)));
  }
  c.method = SpecMethod::kNgram;
  if (!arg.empty()) {
    int k = 0;
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), k);
    if (ec != std::errc() || end != arg.data() + arg.size() || k < 1 || k > 16) {
      return InvalidArgumentError(
          fmt::format("--spec: the draft length in '{}' must be an integer in [1, 16]", std::string(text)));
    }
    c.num_draft = k;
  }
  return c;
}

std::string SpecConfigName(const SpecConfig& config) {
  switch (config.method) {
    case SpecMethod::kNgram: return fmt::format("ngram:{}", config.num_draft);
    case SpecMethod::kNone: break;
  }
  return "off";
}

std::unique_ptr<Proposer> MakeProposer(const SpecConfig& config) {
  switch (config.method) {
    case SpecMethod::kNgram: return std::make_unique<NgramProposer>();
    case SpecMethod::kNone: break;
  }
  return nullptr;
}

}  // namespace weft
