// LineChartSvg: a small self-contained SVG line chart (linear axes with round ticks, one
// coloured polyline per series, optional point markers with labels kept inside the plot,
// a legend, an optional dashed threshold line) for the
// HTML report. No scripts, no external resources.
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <optional>
#include <utility>
#include <vector>

namespace weft::bench_serve {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in this order
  bool markers = true;
  std::vector<std::string> point_labels;  // shown next to the markers (empty = none)
};

struct ChartOptions {
  std::string title, x_label, y_label;
  int width = 560, height = 340;
  bool step = false;           // draw as a staircase (for CDFs)
  bool legend_low_right = false;  // the legend in the lower right corner (else upper left)
  std::optional<double> threshold_y;  // a dashed horizontal line (an SLO), always in range
  std::string threshold_label;        // its label, e.g. "SLO 1000 ms"
};

std::string LineChartSvg(const ChartOptions& options, const std::vector<ChartSeries>& series);

// Text made safe inside HTML/SVG elements and attribute values.
std::string EscapeXml(const std::string& text);

}  // namespace weft::bench_serve
