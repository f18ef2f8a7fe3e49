// Drawing an XY chart as SVG (svg_chart.h).
#include "sweep/svg_chart.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "trace/svg_text.h"

namespace tandem::sweep {

using trace::svg_escape;

namespace {

constexpr double kLeft = 90, kRight = 250, kTop = 64, kBottom = 60, kPlotWidth = 560, kPlotHeight = 340;
// Tableau 10: distinguishable colours, repeated with dashes past ten lines.
constexpr const char* kColours[] = {"#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b",
                                    "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"};
constexpr size_t kMaxLegendRows = 24;

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, count);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a >= 1e12) return fmt::format("{:g}T", v / 1e12);
  if (a >= 1e9) return fmt::format("{:g}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

std::string xy_chart_svg(const XyChart& c) {
  const bool categorical = !c.x_categories.empty();
  double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  bool any = false;
  for (const ChartSeries& s : c.series)
    for (const ChartPoint& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      xmin = any ? std::min(xmin, p.x) : p.x;
      xmax = any ? std::max(xmax, p.x) : p.x;
      ymin = any ? std::min(ymin, p.y) : p.y;
      ymax = any ? std::max(ymax, p.y) : p.y;
      any = true;
    }
  // y from zero when the data are on one side of it (bars of throughput read honestly).
  ymin = std::min(ymin, 0.0);
  ymax = std::max(ymax, 0.0);
  if (ymax <= ymin) ymax = ymin + 1;
  if (categorical) {
    xmin = -0.5;
    xmax = double(c.x_categories.size()) - 0.5;
  } else if (xmax <= xmin) {
    xmin -= 1;
    xmax += 1;
  } else {
    const double pad = (xmax - xmin) * 0.04;
    xmin -= pad;
    xmax += pad;
  }
  const std::vector<double> yticks = nice_ticks(ymin, ymax * 1.02);
  ymax = std::max(ymax, yticks.back());
  const auto X = [&](double x) { return kLeft + kPlotWidth * (x - xmin) / (xmax - xmin); };
  const auto Y = [&](double y) { return kTop + kPlotHeight * (1.0 - (y - ymin) / (ymax - ymin)); };

  const double width = kLeft + kPlotWidth + kRight, height = kTop + kPlotHeight + kBottom;
  std::string out = trace::svg_open(width, height);
  out += fmt::format("<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>\n", svg_escape(c.title));
  if (!c.subtitle.empty()) out += fmt::format("<text x=\"10\" y=\"38\">{}</text>\n", svg_escape(c.subtitle));
  // Axes and grid.
  for (double t : yticks) {
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", kLeft, Y(t),
                       kLeft + kPlotWidth, Y(t));
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#555\">{}</text>\n", kLeft - 6, Y(t) + 4,
                       svg_escape(tick_label(t)));
  }
  if (categorical) {
    for (size_t i = 0; i < c.x_categories.size(); ++i)
      out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n", X(double(i)),
                         kTop + kPlotHeight + 16, svg_escape(c.x_categories[i]));
  } else {
    for (double t : nice_ticks(xmin, xmax)) {
      out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n", X(t), kTop, X(t),
                         kTop + kPlotHeight);
      out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n", X(t),
                         kTop + kPlotHeight + 16, svg_escape(tick_label(t)));
    }
  }
  out += fmt::format("<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"{:.0f}\" height=\"{:.0f}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft,
                     kTop, kPlotWidth, kPlotHeight);
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", kLeft + kPlotWidth / 2,
                     kTop + kPlotHeight + 38, svg_escape(c.x_label));
  out += fmt::format("<text x=\"16\" y=\"{:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1f})\">{}</text>\n",
                     kTop + kPlotHeight / 2, kTop + kPlotHeight / 2, svg_escape(c.y_label));
  if (!c.note.empty())
    out += fmt::format("<text x=\"10\" y=\"{:.1f}\" fill=\"#555\">{}</text>\n", height - 8, svg_escape(c.note));
  // Series, then the legend.
  for (size_t i = 0; i < c.series.size(); ++i) {
    const ChartSeries& s = c.series[i];
    const char* colour = kColours[i % std::size(kColours)];
    const std::string dash = i >= std::size(kColours) ? " stroke-dasharray=\"6 3\"" : "";
    if (s.line && s.points.size() > 1) {
      std::string pts;
      for (const ChartPoint& p : s.points)
        if (std::isfinite(p.x) && std::isfinite(p.y)) pts += fmt::format("{}{:.1f},{:.1f}", pts.empty() ? "" : " ", X(p.x), Y(p.y));
      out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", pts, colour, dash);
    }
    for (const ChartPoint& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", X(p.x),
                         Y(p.y), p.hollow ? "white" : colour, colour);
    }
    if (i < kMaxLegendRows) {
      const double ly = kTop + 8 + 18 * double(i);
      out += fmt::format("<rect x=\"{:.0f}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/>", kLeft + kPlotWidth + 16, ly - 10,
                         colour);
      out += fmt::format("<text x=\"{:.0f}\" y=\"{:.1f}\">{}</text>\n", kLeft + kPlotWidth + 34, ly, svg_escape(s.label));
    } else if (i == kMaxLegendRows) {
      out += fmt::format("<text x=\"{:.0f}\" y=\"{:.1f}\">... {} more</text>\n", kLeft + kPlotWidth + 16,
                         kTop + 8 + 18 * double(i), c.series.size() - kMaxLegendRows);
    }
  }
  out += "</svg>\n";
  return out;
}

}  // namespace tandem::sweep
