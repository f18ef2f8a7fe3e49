// The plots of a sweep, drawn from its records: a figure against one axis with one line per value of
// the other axes (`--plot figure:axis[:series_axis]`), and the Pareto view of tokens/s against GPUs or
// against cost (GPU-hours per trillion tokens), the points on the front joined.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::sweep {

struct PlotSpec {
  std::string figure, axis, series;   // series: "" when not given
  std::string file_name() const;      // plot-FIGURE-vs-AXIS[-by-SERIES].svg, other characters as '_'
};

// "figure:axis[:series_axis]"; the axes must be among `axis_paths`. Throws io::InputError naming --plot.
PlotSpec parse_plot_spec(const std::string& text, const std::vector<std::string>& axis_paths);

// The figure against the axis. Points that fit draw filled markers, out-of-memory ones hollow;
// refused and failed points are counted in a note. Lines: one per combination of the other axes'
// values (the series axis first in the label). Throws io::InputError when no point has the figure.
std::string figure_plot_svg(const std::vector<nlohmann::json>& records, const PlotSpec& spec,
                            const std::vector<std::string>& axis_paths);

enum class ParetoX { Gpus, Cost };
// tokens/s against GPUs (or GPU-hours per trillion tokens) for the points that fit in memory; the
// front (no other point has fewer GPUs, or a lower cost, and more tokens/s) joined by a line.
std::string pareto_svg(const std::vector<nlohmann::json>& records, ParetoX x);
// Indices (into `xy`) of the Pareto front: lower x and higher y are better; sorted by x.
std::vector<size_t> pareto_front(const std::vector<std::pair<double, double>>& xy);

}  // namespace tandem::sweep
