// The combined outputs of a sweep: results.jsonl (one point record per line, in point order) and
// results.csv (the axes, the outcome columns — status, reason, out_of_memory — the derived values,
// then the report's figures flattened to dotted names), and reading results.jsonl back.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::sweep {

// The report's figures as (dotted name, number or string) pairs, sorted by name: nested
// objects flattened ("phases.forward_s", and a "goodput" object's figures when the report has one),
// the per-stage memory peaks as their largest ("memory_peak_bytes"), the per-stage list left out.
std::vector<std::pair<std::string, nlohmann::json>> report_figures(const nlohmann::json& report);

// The value of `figure` in a record: a report figure (report_figures' names), an axis path, or a
// derived path; null when the record has none.
nlohmann::json record_value(const nlohmann::json& record, const std::string& figure);

// results.csv's text for `records` (sorted by point). `axis_paths`: the axis columns, in order.
std::string results_csv(const std::vector<nlohmann::json>& records, const std::vector<std::string>& axis_paths);
// results.jsonl's text: one compact record per line.
std::string results_jsonl(const std::vector<nlohmann::json>& records);

// The records of DIR/results.jsonl (io::InputError naming the file and line when one is not a record).
std::vector<nlohmann::json> read_results(const std::string& path);
// The axis paths of records (the union of their "axes" keys, sorted; sweep.json keeps the sweep's order).
std::vector<std::string> axis_paths_of(const std::vector<nlohmann::json>& records);

}  // namespace tandem::sweep
