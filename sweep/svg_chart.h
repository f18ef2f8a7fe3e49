// An XY chart as self-contained SVG text (no plotting package): lines with markers on linear axes
// with rounded ticks, or categories along x, a legend, and hollow markers for points to set apart
// (out of memory, or off a Pareto front).
#pragma once
#include <string>
#include <vector>

namespace tandem::sweep {

struct ChartPoint {
  double x = 0, y = 0;
  bool hollow = false;
};

struct ChartSeries {
  std::string label;
  std::vector<ChartPoint> points;   // drawn in this order
  bool line = true;                 // false: markers only
};

struct XyChart {
  std::string title, subtitle, x_label, y_label, note;
  std::vector<std::string> x_categories;   // non-empty: x is an index into these labels
  std::vector<ChartSeries> series;
};

std::string xy_chart_svg(const XyChart& chart);

// Ticks at 1, 2 or 5 times a power of ten covering [lo, hi], about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count = 5);
// A tick's label: short (1.5k, 2M, 0.25) so that it fits under the axis.
std::string tick_label(double v);

}  // namespace tandem::sweep
