// SweepDefinition: what a `tandem sweep` varies — a base scenario, fixed overrides, grid axes (every
// combination), zip axes (varied together), per-point overrides and derived values — read from the
// command line (--grid path=v1,v2 ...) or a sweep file (JSON), with every bad field as io::InputError.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::sweep {

// One varied path and its values (JSON: numbers, strings, objects). A path is a scenario path
// (plan.ep, cluster.nic_bytes_per_s) or one of the simulation's own options (kSimPaths).
struct SweepAxis {
  std::string path;
  std::vector<nlohmann::json> values;
};

// Options of the simulation rather than fields of the scenario, usable as axes or fixed settings:
// sim.straggler ("RANK:FACTOR" or a list of them), sim.degrade_link ("nic:G=F", ...), sim.fail_link
// ("nic:G", "leaf:P.L"), sim.mode ("auto", "full", "symmetric"). null or [] means none.
inline const std::vector<std::string> kSimPaths = {"sim.straggler", "sim.degrade_link", "sim.fail_link", "sim.mode"};
bool is_sim_path(const std::string& path);

// Values computed for each point from the point's own settings.
enum class DerivedRule {
  KeepGlobalBatch,    // plan.global_batch_seqs: the base's, rounded to the nearest multiple of dp × micro_batch_seqs
  ScaleGlobalBatch,   // plan.global_batch_seqs: the base's × GPUs / base GPUs, rounded the same way
};
const char* to_string(DerivedRule r);

// Settings added to the points whose axis values match every entry of `when`.
struct PointOverride {
  std::vector<std::pair<std::string, nlohmann::json>> when;   // axis path -> value
  std::vector<std::pair<std::string, nlohmann::json>> set;    // path -> value
};

struct SweepDefinition {
  std::string scenario;   // the base: a scenario file or an embedded scenario name
  std::string source;     // where the definition was read: a sweep file, or "the command line"
  std::vector<std::pair<std::string, nlohmann::json>> fixed;   // set on every point (--set, "set")
  std::vector<SweepAxis> grid;   // every combination, the first axis slowest
  std::vector<SweepAxis> zip;    // equal lengths, varied together as one more (fastest) grid dimension
  std::vector<DerivedRule> derived;
  std::vector<PointOverride> overrides;

  // Grid axes then zip axes: the columns that name a point.
  std::vector<const SweepAxis*> axes() const;
  // Canonical JSON (the sweep file's format, the base scenario as given): what DIR/sweep.json keeps
  // to tell whether a rerun is the same sweep.
  nlohmann::json to_json() const;
};

// Largest number of points a sweep may expand to (each is a full simulation).
inline constexpr size_t kMaxSweepPoints = 1'000'000;

// "path=v1,v2,..." of option `option` (--grid, --zip): values split at top-level commas (not inside
// [], {} or quotes), each JSON if it parses as JSON, else a string (as --set reads values).
SweepAxis parse_axis_option(const std::string& text, const std::string& option);
// "path=value" of --set.
std::pair<std::string, nlohmann::json> parse_set_option(const std::string& text, const std::string& option);
DerivedRule parse_derived_rule(const std::string& name, const std::string& where, const std::string& path);

// A definition from the command line's options. Throws io::InputError.
SweepDefinition definition_from_options(const std::string& scenario, const std::vector<std::string>& grid,
                                        const std::vector<std::string>& zip, const std::vector<std::string>& set,
                                        const std::vector<std::string>& derive);

// A sweep file: {"scenario": NAME_OR_PATH, "set": {path: value}, "grid": [{"path", "values"}],
// "zip": [...], "derived": ["keep_global_batch"], "overrides": [{"when": {..}, "set": {..}}]}.
// A relative scenario path is taken from the sweep file's directory when it exists there.
SweepDefinition parse_sweep_document(const nlohmann::json& doc, const std::string& file);
SweepDefinition read_sweep_file(const std::string& path);
// Whether `path` is a sweep file rather than a scenario (a JSON object with "grid" or "zip").
bool looks_like_sweep_file(const std::string& path);

// Checks shared by both sources: at least one axis, no empty value list, zip lengths equal, no path
// varied twice, at most kMaxSweepPoints points. Throws io::InputError naming `source`.
void check_definition(const SweepDefinition& d);

}  // namespace tandem::sweep
