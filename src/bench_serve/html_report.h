// HtmlReport: one self-contained HTML page (inline CSS and SVG; no scripts, no external
// resources) from a benchmark's JSON report (json_report.h, the object written to
// --json): the configuration, tables of every pass's throughput and latency percentiles,
// plots of latency percentiles against achieved output throughput across the sweep and
// of the TTFT distribution (a CDF per pass).
//
// Every number in a table is a cell <td data-key="passes.I.summary.FIELD[.STAT]"
// data-value="V"> whose data-value is V exactly as the JSON writes it and whose text is
// V rounded to 2 decimals; the config and pass summaries are also embedded verbatim in
// <script type="application/json" id="weft-bench-summary">. Tests compare both with the
// JSON file.
// Thread-safety: a pure function.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace weft::bench_serve {

// `report`: {"config": {...}, "passes": [PassJson...], ...}.
std::string HtmlReport(const nlohmann::ordered_json& report);

}  // namespace weft::bench_serve
