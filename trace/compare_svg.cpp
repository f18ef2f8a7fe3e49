// Drawing the per-kind bar chart of a comparison as SVG: one row per op kind (the report's order), a
// predicted bar above a measured bar, on a linear or a decade axis (compare_svg.h).
#include "trace/compare_svg.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "trace/svg_text.h"

namespace tandem::trace {
namespace {

constexpr double kLeft = 170, kRight = 150, kTop = 56, kRowHeight = 34, kBarHeight = 12, kPlotWidth = 560;
constexpr const char* kPredictedColour = "#4c78a8";
constexpr const char* kMeasuredColour = "#f58518";

std::string time_label(double s) {
  const double a = std::fabs(s);
  if (a >= 1.0) return fmt::format("{:.3g} s", s);
  if (a >= 1e-3) return fmt::format("{:.3g} ms", s * 1e3);
  if (a >= 1e-6) return fmt::format("{:.3g} us", s * 1e6);
  return fmt::format("{:.0f} ns", s * 1e9);
}

// Maps a time to a bar length in [0, kPlotWidth].
struct Axis {
  bool log = false;
  double lo = 0, hi = 1;   // log: decades lo..hi (exponents); linear: 0..hi seconds
  double length(double s) const {
    if (s <= 0) return 0;
    if (!log) return kPlotWidth * s / hi;
    return kPlotWidth * std::clamp((std::log10(s) - lo) / (hi - lo), 0.0, 1.0);
  }
};

Axis make_axis(const std::vector<CompareRow>& rows) {
  double max_s = 0, min_s = 0;
  for (const CompareRow& r : rows)
    for (double v : {r.time.predicted_s, r.time.measured_s})
      if (v > 0) {
        max_s = std::max(max_s, v);
        min_s = min_s == 0 ? v : std::min(min_s, v);
      }
  Axis a;
  if (max_s <= 0) return a;
  if (max_s / min_s > kLogAxisRatio) {
    a.log = true;
    a.lo = std::floor(std::log10(min_s));
    a.hi = std::ceil(std::log10(max_s));
    if (a.hi <= a.lo) a.hi = a.lo + 1;
  } else {
    a.hi = max_s;
  }
  return a;
}

}  // namespace

std::string compare_svg(const Comparison& c) {
  const Axis axis = make_axis(c.kinds);
  const double height = kTop + kRowHeight * double(std::max<size_t>(c.kinds.size(), 1)) + 40;
  const double width = kLeft + kPlotWidth + kRight;
  std::string out = svg_open(width, height);
  out += fmt::format("<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">Busy time per op kind (sum of ranks): "
                     "predicted vs measured{}</text>\n",
                     axis.log ? ", log axis" : "");
  out += fmt::format("<text x=\"10\" y=\"38\">{} vs {}; step {} vs {} ({})</text>\n", svg_escape(c.predicted.path),
                     svg_escape(c.measured.path), time_label(c.step.predicted_s), time_label(c.step.measured_s),
                     c.step.error() ? fmt::format("{:+.1f}%", *c.step.error() * 100) : "n/a");
  // Legend.
  out += fmt::format("<rect x=\"{:.0f}\" y=\"28\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.0f}\" y=\"37\">predicted</text>\n",
                     width - 140, kPredictedColour, width - 126);
  out += fmt::format("<rect x=\"{:.0f}\" y=\"42\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.0f}\" y=\"51\">measured</text>\n",
                     width - 140, kMeasuredColour, width - 126);
  // Grid: decades on a log axis, five steps on a linear one.
  const double plot_bottom = kTop + kRowHeight * double(std::max<size_t>(c.kinds.size(), 1));
  const auto grid = [&](double x, const std::string& label) {
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.0f}\" x2=\"{:.1f}\" y2=\"{:.0f}\" stroke=\"#ddd\"/>\n", x, kTop - 4, x, plot_bottom);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.0f}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n", x, plot_bottom + 16, label);
  };
  if (axis.log) {
    for (double d = axis.lo; d <= axis.hi; d += 1) grid(kLeft + axis.length(std::pow(10.0, d)), time_label(std::pow(10.0, d)));
  } else {
    for (int i = 0; i <= 5; ++i) grid(kLeft + kPlotWidth * i / 5.0, time_label(axis.hi * i / 5.0));
  }
  for (size_t i = 0; i < c.kinds.size(); ++i) {
    const CompareRow& r = c.kinds[i];
    const double y = kTop + kRowHeight * double(i);
    const auto e = r.time.error();
    out += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\" text-anchor=\"end\">{}</text>\n", kLeft - 8, y + kBarHeight + 2, svg_escape(r.name));
    out += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\" text-anchor=\"end\" fill=\"#555\">{}</text>\n", kLeft - 8,
                       y + 2 * kBarHeight + 2, e ? fmt::format("{:+.1f}%", *e * 100) : "n/a");
    for (int side = 0; side < 2; ++side) {
      const double v = side == 0 ? r.time.predicted_s : r.time.measured_s;
      const double len = axis.length(v), by = y + side * (kBarHeight + 2);
      out += fmt::format("<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"{:.1f}\" height=\"{:.0f}\" fill=\"{}\"/>\n", kLeft, by, len,
                         kBarHeight, side == 0 ? kPredictedColour : kMeasuredColour);
      out += fmt::format("<text x=\"{:.1f}\" y=\"{:.0f}\" font-size=\"10\">{}</text>\n", kLeft + len + 4, by + kBarHeight - 2,
                         time_label(v));
    }
  }
  out += "</svg>\n";
  return out;
}

}  // namespace tandem::trace
