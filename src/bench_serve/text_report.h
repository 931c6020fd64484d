// The human summary on stdout, drawn from the JSON report's pass objects (json_report.h)
// so that it shows the JSON file's numbers (rounded): a block per pass as it finishes,
// and a one-line-per-pass table at the end of a sweep.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace weft::bench_serve {

// Several lines, ending in '\n'. `pass` is a PassJson object; `slo` the --slo text ("" = none).
std::string PassText(const nlohmann::ordered_json& pass, const std::string& slo);
// A header and one row per pass.
std::string SweepTable(const nlohmann::ordered_json& passes);

}  // namespace weft::bench_serve
