// The sweep's plots (sweep_plots.h), built on the XY chart writer.
#include "sweep/sweep_plots.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "io/input_error.h"
#include "ir/json_fields.h"
#include "sweep/point_runner.h"
#include "sweep/results_table.h"
#include "sweep/svg_chart.h"

namespace tandem::sweep {

using nlohmann::json;

namespace {

std::string show(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string safe_name(const std::string& s) {
  std::string out;
  for (char ch : s) out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_') ? ch : '_';
  return out;
}

}  // namespace

std::string PlotSpec::file_name() const {
  return "plot-" + safe_name(figure) + "-vs-" + safe_name(axis) + (series.empty() ? "" : "-by-" + safe_name(series)) + ".svg";
}

PlotSpec parse_plot_spec(const std::string& text, const std::vector<std::string>& axis_paths) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() || (parts.size() == 3 && parts[2].empty()))
    throw io::InputError("--plot", "", "figure:axis or figure:axis:series_axis (e.g. tokens_per_s_per_gpu:cluster.nodes:plan.ep)",
                         "\"" + io::cut_for_message(text) + "\"");
  PlotSpec p{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  std::string list;
  for (const auto& a : axis_paths) list += (list.empty() ? "" : ", ") + a;
  for (const std::string* a : {&p.axis, &p.series}) {
    if (a->empty() || std::find(axis_paths.begin(), axis_paths.end(), *a) != axis_paths.end()) continue;
    const std::string near = ir::nearest_name(*a, axis_paths);
    throw io::InputError("--plot " + text, "", "an axis of the sweep (" + list + ")",
                         "\"" + *a + "\"" + (near.empty() ? "" : " (did you mean \"" + near + "\"?)"));
  }
  if (p.axis == p.series) throw io::InputError("--plot " + text, "", "a series axis other than the x axis", "the same axis twice");
  return p;
}

std::string figure_plot_svg(const std::vector<json>& records, const PlotSpec& spec, const std::vector<std::string>& axis_paths) {
  // The other axes, the series axis first: a line's key.
  std::vector<std::string> others;
  if (!spec.series.empty()) others.push_back(spec.series);
  for (const auto& a : axis_paths)
    if (a != spec.axis && a != spec.series) others.push_back(a);
  // x values: numbers, or categories in the order of the points.
  bool numeric = true;
  std::vector<json> categories;
  for (const json& r : records) {
    const json x = r["axes"].value(spec.axis, json());
    numeric = numeric && x.is_number();
    if (std::find(categories.begin(), categories.end(), x) == categories.end()) categories.push_back(x);
  }
  XyChart chart;
  chart.title = fmt::format("{} against {}", spec.figure, spec.axis);
  chart.x_label = spec.axis;
  chart.y_label = spec.figure;
  if (!numeric)
    for (const json& c : categories) chart.x_categories.push_back(show(c));
  std::map<std::string, size_t> line_of;
  size_t drawn = 0, not_drawn = 0, oom = 0;
  for (const json& r : records) {
    const json y = record_value(r, spec.figure);
    if (r["status"] != kStatusOk || !y.is_number()) {
      ++not_drawn;
      continue;
    }
    std::string key;
    for (const auto& o : others) key += (key.empty() ? "" : ", ") + o + "=" + show(r["axes"].value(o, json()));
    auto [it, added] = line_of.emplace(key, chart.series.size());
    if (added) chart.series.push_back({key.empty() ? spec.figure : key, {}, true});
    const json x = r["axes"].value(spec.axis, json());
    const double xv = numeric ? x.get<double>() : double(std::find(categories.begin(), categories.end(), x) - categories.begin());
    const bool out_of_memory = r.value("out_of_memory", false);
    oom += out_of_memory;
    chart.series[it->second].points.push_back({xv, y.get<double>(), out_of_memory});
    ++drawn;
  }
  if (drawn == 0) {
    std::vector<std::string> names;
    for (const json& r : records)
      if (r["status"] == kStatusOk) {
        for (const auto& [n, v] : report_figures(r["report"])) names.push_back(n);
        break;
      }
    const std::string near = ir::nearest_name(spec.figure, names);
    throw io::InputError("--plot", spec.figure, "a figure of the report that some simulated point has" +
                         (near.empty() ? std::string() : " such as \"" + near + "\""), "no point with it");
  }
  for (ChartSeries& s : chart.series)
    std::stable_sort(s.points.begin(), s.points.end(), [](const ChartPoint& a, const ChartPoint& b) { return a.x < b.x; });
  chart.subtitle = fmt::format("{} points drawn, one line per {}", drawn, others.empty() ? std::string("sweep") : "value of " + others.front() +
                                                                               (others.size() > 1 ? " and the other axes" : ""));
  chart.note = fmt::format("hollow: out of memory ({}); not drawn: refused or failed ({})", oom, not_drawn);
  return xy_chart_svg(chart);
}

std::vector<size_t> pareto_front(const std::vector<std::pair<double, double>>& xy) {
  std::vector<size_t> order(xy.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (xy[a].first != xy[b].first) return xy[a].first < xy[b].first;
    return xy[a].second > xy[b].second;
  });
  std::vector<size_t> front;
  for (size_t i : order)
    if (front.empty() || xy[i].second > xy[front.back()].second) front.push_back(i);
  return front;
}

std::string pareto_svg(const std::vector<json>& records, ParetoX x) {
  const std::string x_figure = x == ParetoX::Gpus ? "gpus" : "gpu_hours_per_trillion_tokens";
  std::vector<std::pair<double, double>> xy;
  size_t left_out = 0;
  for (const json& r : records) {
    const json xv = record_value(r, x_figure), yv = record_value(r, "tokens_per_s");
    if (r["status"] != kStatusOk || r.value("out_of_memory", false) || !xv.is_number() || !yv.is_number()) {
      ++left_out;
      continue;
    }
    xy.emplace_back(xv.get<double>(), yv.get<double>());
  }
  const std::vector<size_t> front = pareto_front(xy);
  std::vector<bool> on_front(xy.size(), false);
  for (size_t i : front) on_front[i] = true;
  XyChart chart;
  chart.title = x == ParetoX::Gpus ? "Pareto view: tokens/s against GPUs" : "Pareto view: tokens/s against cost";
  chart.subtitle = fmt::format("{} points that fit in memory, {} on the front (filled)", xy.size(), front.size());
  chart.x_label = x == ParetoX::Gpus ? "GPUs" : "GPU-hours per trillion tokens";
  chart.y_label = "tokens/s";
  chart.note = fmt::format("not drawn: out of memory, refused or failed ({})", left_out);
  ChartSeries all{"dominated", {}, false}, line{"Pareto front", {}, true};
  for (size_t i = 0; i < xy.size(); ++i)
    if (!on_front[i]) all.points.push_back({xy[i].first, xy[i].second, true});
  for (size_t i : front) line.points.push_back({xy[i].first, xy[i].second, false});
  chart.series = {line, all};
  return xy_chart_svg(chart);
}

}  // namespace tandem::sweep
