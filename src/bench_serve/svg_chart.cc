#include "bench_serve/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace weft::bench_serve {
namespace {

constexpr std::array<const char*, 8> kColors = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// A round step for about `n` intervals over [0, span].
double NiceStep(double span, int n) {
  if (!(span > 0)) return 1;
  const double raw = span / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

std::string Num(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e7 || a < 1e-3) return fmt::format("{:.3g}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

}  // namespace

std::string EscapeXml(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string LineChartSvg(const ChartOptions& o, const std::vector<ChartSeries>& series) {
  const double left = 64, right = 28, top = 34, bottom = 48;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  double xmax = 0, ymax = 0;
  double xmin = std::numeric_limits<double>::infinity();
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) {
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymax = std::max(ymax, y);
    }
  }
  if (o.threshold_y) ymax = std::max(ymax, *o.threshold_y);
  if (!std::isfinite(xmin)) xmin = 0;
  xmin = std::min(0.0, xmin);  // axes start at zero: latencies and throughputs are positive
  const double xstep = NiceStep(xmax - xmin, 5), ystep = NiceStep(ymax, 5);
  const double xhi = std::max(xstep, std::ceil(xmax / xstep) * xstep), yhi = std::max(ystep, std::ceil(ymax / ystep) * ystep);
  auto px = [&](double x) { return left + (x - xmin) / (xhi - xmin) * pw; };
  auto py = [&](double y) { return top + ph - y / yhi * ph; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n",
      o.width, o.height, o.width, o.height);
  svg += fmt::format("<title>{}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", EscapeXml(o.title));
  svg += fmt::format("<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{}</text>\n",
                     o.width / 2, EscapeXml(o.title));
  // Grid and ticks.
  for (double y = 0; y <= yhi + ystep / 2; y += ystep) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>", left, py(y),
                       left + pw, py(y));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6, py(y) + 4, Num(y));
  }
  for (double x = xmin; x <= xhi + xstep / 2; x += xstep) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>", px(x), top,
                       px(x), top + ph);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px(x), top + ph + 16, Num(x));
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", left, top, pw, ph);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2, o.height - 10,
                     EscapeXml(o.x_label));
  svg += fmt::format("<text transform=\"translate(14 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     top + ph / 2, EscapeXml(o.y_label));
  if (o.threshold_y) {
    svg += fmt::format("<line class=\"threshold\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#a40\" "
                       "stroke-dasharray=\"6 4\" stroke-width=\"1.5\"/>",
                       left, py(*o.threshold_y), left + pw, py(*o.threshold_y));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#a40\">{}</text>\n", left + pw - 4,
                       py(*o.threshold_y) - 4, EscapeXml(o.threshold_label));
  }
  // Series.
  for (size_t i = 0; i < series.size(); ++i) {
    const ChartSeries& s = series[i];
    const char* color = kColors[i % kColors.size()];
    std::string pts;
    double prev_y = 0;
    for (size_t k = 0; k < s.points.size(); ++k) {
      const auto [x, y] = s.points[k];
      if (o.step && k > 0) pts += fmt::format("{:.1f},{:.1f} ", px(x), py(prev_y));
      pts += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
      prev_y = y;
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", color, pts);
    if (s.markers) {
      for (size_t k = 0; k < s.points.size(); ++k) {
        const auto [x, y] = s.points[k];
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"/>", px(x), py(y), color);
        if (k < s.point_labels.size() && !s.point_labels[k].empty()) {
          // Inside the plot: to the left of points near the right edge, below those at the top.
          const std::string& label = s.point_labels[k];
          const double width = 5.5 * static_cast<double>(label.size());
          const bool flip = px(x) + 5 + width > left + pw;
          const double ty = py(y) - 5 < top + 10 ? py(y) + 13 : py(y) - 5;
          svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\" font-size=\"9\"{}>{}</text>",
                             flip ? px(x) - 5 : px(x) + 5, ty, flip ? " text-anchor=\"end\"" : "", EscapeXml(label));
        }
      }
      svg += "\n";
    }
    // Legend, inside the plot.
    const double n = static_cast<double>(series.size()), k = static_cast<double>(i);
    const double lx = o.legend_low_right ? left + pw - 150 : left + 10;
    const double ly = o.legend_low_right ? top + ph - 10 - 15 * (n - 1 - k) : top + 14 + 15 * k;
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"4\" fill=\"{}\"/>", lx, ly - 6, color);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", lx + 18, ly - 1, EscapeXml(s.name));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace weft::bench_serve
