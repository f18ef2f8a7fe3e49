// Writing and reading a sweep's combined results (results_table.h).
#include "sweep/results_table.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "io/input_error.h"
#include "io/input_file.h"
#include "io/json_document.h"

namespace tandem::sweep {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxResultsBytes = uint64_t(1) << 30;

void flatten(const json& j, const std::string& prefix, std::vector<std::pair<std::string, json>>& out) {
  for (const auto& [k, v] : j.items()) {
    const std::string name = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object()) {
      flatten(v, name, out);
    } else if (v.is_array()) {
      // Per-stage lists: the largest number stands for them (memory_peak_bytes); lists of objects
      // (stages) stay in results.jsonl only.
      double largest = 0;
      bool numbers = !v.empty();
      for (const json& e : v) {
        numbers = numbers && e.is_number();
        if (e.is_number()) largest = std::max(largest, e.get<double>());
      }
      if (numbers) out.emplace_back(name, v.front().is_number_integer() ? json(int64_t(largest)) : json(largest));
    } else {
      out.emplace_back(name, v);
    }
  }
}

std::string csv_field(const json& v);

// Appends ",FIELD" (one append at a time: GCC 12's -Wrestrict misreads `"," + field`).
void cell(std::string& out, const std::string& field) {
  out += ',';
  out += field;
}

std::string csv_field(const json& v) {
  std::string text;
  if (v.is_null()) return "";
  if (v.is_string()) text = v.get<std::string>();
  else text = v.dump();
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char ch : text) {
    if (ch == '"') quoted += '"';
    quoted += ch;
  }
  return quoted + "\"";
}

}  // namespace

std::vector<std::pair<std::string, json>> report_figures(const json& report) {
  std::vector<std::pair<std::string, json>> out;
  if (report.is_object()) flatten(report, "", out);
  return out;
}

json record_value(const json& record, const std::string& figure) {
  if (record.contains("axes") && record["axes"].contains(figure)) return record["axes"][figure];
  if (record.contains("derived") && record["derived"].contains(figure)) return record["derived"][figure];
  if (!record.contains("report")) return nullptr;
  for (auto& [name, value] : report_figures(record["report"]))
    if (name == figure) return value;
  return nullptr;
}

std::string results_csv(const std::vector<json>& records, const std::vector<std::string>& axis_paths) {
  // Columns: every derived path and report figure any point has, sorted (points that were refused
  // have none; a figure only some reports have, such as goodput, is empty for the others).
  std::set<std::string> derived, figures;
  for (const json& r : records) {
    if (r.contains("derived"))
      for (const auto& [k, v] : r["derived"].items()) derived.insert(k);
    for (const auto& [name, value] : report_figures(r.value("report", json())))
      figures.insert(name);
  }
  std::string out = "point";
  for (const auto& a : axis_paths) cell(out, csv_field(a));
  out += ",status,reason,out_of_memory";
  for (const auto& d : derived) cell(out, csv_field(std::string("derived.").append(d)));
  for (const auto& f : figures) cell(out, csv_field(f));
  out += "\n";
  for (const json& r : records) {
    out += std::to_string(r["point"].get<int64_t>());
    for (const auto& a : axis_paths) cell(out, csv_field(r["axes"].value(a, json())));
    for (const char* key : {"status", "reason", "out_of_memory"}) cell(out, csv_field(r[key]));
    for (const auto& d : derived) cell(out, csv_field(r.contains("derived") ? r["derived"].value(d, json()) : json()));
    auto values = report_figures(r.value("report", json()));
    std::sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    size_t at = 0;
    for (const auto& f : figures) {
      while (at < values.size() && values[at].first < f) ++at;
      cell(out, (at < values.size() && values[at].first == f ? csv_field(values[at].second) : std::string()));
    }
    out += "\n";
  }
  return out;
}

std::string results_jsonl(const std::vector<json>& records) {
  std::string out;
  for (const json& r : records) out += r.dump() + "\n";
  return out;
}

std::vector<json> read_results(const std::string& path) {
  const std::string text = io::read_input_file(path, kMaxResultsBytes, "a sweep's results.jsonl");
  std::vector<json> out;
  size_t start = 0, line = 1;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string where = fmt::format("{}:{}", path, line);
    if (end > start) {
      json r = io::parse_json_document(std::string_view(text).substr(start, end - start), where, "a sweep point's record");
      if (!r.is_object() || !r.contains("point") || !r["point"].is_number_integer() || !r.contains("status") ||
          !r["status"].is_string() || !r.contains("axes") || !r["axes"].is_object())
        throw io::InputError(where, "", "a record {\"point\", \"axes\", \"status\", ...} as tandem sweep writes it",
                             io::json_excerpt(r));
      out.push_back(std::move(r));
    }
    start = end + 1;
    ++line;
  }
  return out;
}

std::vector<std::string> axis_paths_of(const std::vector<json>& records) {
  std::set<std::string> paths;
  for (const json& r : records)
    for (const auto& [k, v] : r["axes"].items()) paths.insert(k);
  return {paths.begin(), paths.end()};
}

}  // namespace tandem::sweep
