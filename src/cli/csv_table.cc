#include "cli/csv_table.h"

namespace weft::cli {
namespace {

std::string Scalar(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : " ") + Scalar(x);
    return out;
  }
  return v.dump();
}

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string JsonRowsToCsv(const nlohmann::ordered_json& rows) {
  if (rows.empty()) return "";
  std::string out;
  std::string sep;
  for (const auto& [key, value] : rows.front().items()) {
    out += sep + key;
    sep = ",";
  }
  out += "\n";
  for (const auto& row : rows) {
    sep.clear();
    for (const auto& [key, value] : rows.front().items()) {
      out += sep + Quoted(row.contains(key) ? Scalar(row.at(key)) : "");
      sep = ",";
    }
    out += "\n";
  }
  return out;
}

}  // namespace weft::cli
