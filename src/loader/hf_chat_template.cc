#include "loader/hf_chat_template.h"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/mapped_file.h"

namespace weft {

StatusOr<std::optional<std::string>> ReadHfChatTemplate(const std::string& dir, const std::string& config_path) {
  using nlohmann::json;
  if (!config_path.empty()) {
    WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(config_path));
    json cfg = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (cfg.is_discarded()) return InvalidArgumentError(fmt::format("{}: not valid JSON", config_path));
    if (cfg.is_object()) {
      auto it = cfg.find("chat_template");
      if (it != cfg.end() && it->is_string()) return std::optional<std::string>(it->get<std::string>());
      if (it != cfg.end() && it->is_array()) {
        for (const json& e : *it) {
          if (!e.is_object()) continue;
          auto name = e.find("name");
          auto tmpl = e.find("template");
          if (name != e.end() && name->is_string() && name->get<std::string>() == "default" && tmpl != e.end() &&
              tmpl->is_string()) {
            return std::optional<std::string>(tmpl->get<std::string>());
          }
        }
      }
    }
  }
  const std::filesystem::path jinja = std::filesystem::path(dir) / "chat_template.jinja";
  std::error_code ec;
  if (std::filesystem::is_regular_file(jinja, ec)) {
    WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(jinja.string()));
    return std::optional<std::string>(std::move(text));
  }
  return std::optional<std::string>();
}

}  // namespace weft
