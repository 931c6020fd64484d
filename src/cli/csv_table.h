// CSV the way llama-bench writes it (-o csv): a header of field names, then one line per
// object, every value in double quotes (quotes doubled), arrays as space-separated values.
// Pure function.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace weft::cli {

// `rows`: an array of flat objects with the same keys (the first object's keys are the header).
std::string JsonRowsToCsv(const nlohmann::ordered_json& rows);

}  // namespace weft::cli
