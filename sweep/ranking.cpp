// Ranking sweep points by a figure (ranking.h).
#include "sweep/ranking.h"

#include <algorithm>

#include <fmt/format.h>

#include "io/input_error.h"
#include "ir/json_fields.h"
#include "sweep/point_runner.h"
#include "sweep/results_table.h"

namespace tandem::sweep {

using nlohmann::json;

bool lower_is_better(const std::string& figure) {
  const auto ends = [&](const std::string& s) { return figure.size() >= s.size() && figure.compare(figure.size() - s.size(), s.size(), s) == 0; };
  return ends("_s") || ends("_bytes") || ends("_fraction") || ends("gpu_hours_per_trillion_tokens") || ends("_wait_s") ||
         figure == "sm_time.idle";
}

std::vector<json> top_points(const std::vector<json>& records, const std::string& figure, size_t k,
                             const std::string& option) {
  struct Entry {
    double value;
    int64_t point;
    const json* record;
  };
  std::vector<Entry> entries;
  std::vector<std::string> names;
  for (const json& r : records) {
    if (r["status"] != kStatusOk || r.value("out_of_memory", false)) continue;
    if (names.empty())
      for (const auto& [name, v] : report_figures(r["report"]))
        if (v.is_number()) names.push_back(name);
    const json v = record_value(r, figure);
    if (v.is_number()) entries.push_back({v.get<double>(), r["point"].get<int64_t>(), &r});
  }
  if (entries.empty()) {
    if (names.empty())
      throw io::InputError(option, figure, "points that were simulated and fit in memory", "none in the results");
    const std::string near = ir::nearest_name(figure, names);
    std::string some;
    for (size_t i = 0; i < names.size() && i < 6; ++i) some += (some.empty() ? "" : ", ") + names[i];
    throw io::InputError(option, "", near.empty() ? "a figure of the report such as " + some + ", ..." : "a figure of the report such as " + near,
                         "\"" + io::cut_for_message(figure) + "\"");
  }
  const bool lower = lower_is_better(figure);
  std::stable_sort(entries.begin(), entries.end(), [lower](const Entry& a, const Entry& b) {
    if (a.value != b.value) return lower ? a.value < b.value : a.value > b.value;
    return a.point < b.point;
  });
  std::vector<json> out;
  for (size_t i = 0; i < entries.size() && i < k; ++i) out.push_back(*entries[i].record);
  return out;
}

std::string top_table(const std::vector<json>& top, const std::vector<std::string>& axis_paths, const std::string& figure,
                      size_t fitting, size_t total) {
  std::string out = fmt::format("top {} of {} points that fit in memory ({} in all) by {} ({} is better)\n", top.size(),
                                fitting, total, figure, lower_is_better(figure) ? "lower" : "higher");
  std::vector<std::string> header = {"rank", "point"};
  header.insert(header.end(), axis_paths.begin(), axis_paths.end());
  header.push_back(figure);
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < top.size(); ++i) {
    std::vector<std::string> row = {std::to_string(i + 1), std::to_string(top[i]["point"].get<int64_t>())};
    for (const auto& a : axis_paths) {
      const json v = top[i]["axes"].value(a, json());
      row.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
    const json v = record_value(top[i], figure);
    row.push_back(v.is_number_float() ? fmt::format("{:.6g}", v.get<double>()) : v.dump());
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) s += fmt::format("{:<{}}", cells[c], width[c] + 2);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  out += line(header);
  for (const auto& r : rows) out += line(r);
  return out;
}

}  // namespace tandem::sweep
