// Reading a sweep's definition from the command line or a sweep file, and the checks both share
// (sweep_definition.h).
#include "sweep/sweep_definition.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "io/input_file.h"
#include "io/json_document.h"

namespace tandem::sweep {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxSweepFileBytes = 16u << 20;
const char* const kCommandLine = "the command line";

// A value as --set reads it: JSON when it parses as JSON, else the text as a string.
json parse_value(const std::string& text, const std::string& where) {
  try {
    return io::parse_json_document(text, where, "a value");
  } catch (const io::JsonSyntaxError&) {
    return text;
  }
}

// Splits at commas outside brackets, braces and double-quoted strings.
std::vector<std::string> split_top_level(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char ch : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (ch == '\\') escaped = true;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      ++depth;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    } else if (ch == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += ch;
  }
  out.push_back(cur);
  return out;
}

void check_path(const std::string& path, const std::string& where, const std::string& json_path) {
  const bool ok = !path.empty() && path.front() != '.' && path.back() != '.' && path.find("..") == std::string::npos;
  if (!ok) throw io::InputError(where, json_path, "a dotted path such as plan.ep", "\"" + io::cut_for_message(path) + "\"");
  if (path.rfind("sim.", 0) == 0 && !is_sim_path(path)) {
    std::string list;
    for (const auto& p : kSimPaths) list += (list.empty() ? "" : ", ") + p;
    throw io::InputError(where, json_path, "one of the simulation's options " + list, "\"" + io::cut_for_message(path) + "\"");
  }
}

std::pair<std::string, std::string> split_assignment(const std::string& text, const std::string& option,
                                                     const char* example) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw io::InputError(option, "", fmt::format("path=value (e.g. {})", example), "\"" + io::cut_for_message(text) + "\"");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::string describe(const json& v) { return io::describe_json_value(v); }

std::vector<std::pair<std::string, json>> read_settings(const json& obj, const std::string& file,
                                                        const std::string& json_path) {
  if (!obj.is_object()) throw io::InputError(file, json_path, "an object {\"path\": value, ...}", describe(obj));
  std::vector<std::pair<std::string, json>> out;
  for (const auto& [k, v] : obj.items()) {
    check_path(k, file, json_path + "." + k);
    out.emplace_back(k, v);
  }
  return out;
}

std::vector<SweepAxis> read_axes(const json& arr, const std::string& file, const std::string& json_path) {
  if (!arr.is_array())
    throw io::InputError(file, json_path, "an array of axes [{\"path\": ..., \"values\": [...]}]", describe(arr));
  std::vector<SweepAxis> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", json_path, i);
    const json& a = arr[i];
    if (!a.is_object()) throw io::InputError(file, at, "an axis {\"path\": ..., \"values\": [...]}", describe(a));
    for (const auto& [k, v] : a.items())
      if (k != "path" && k != "values") throw io::InputError(file, at + "." + k, "one of the keys path, values", "the unknown key \"" + k + "\"");
    if (!a.contains("path") || !a["path"].is_string())
      throw io::InputError(file, at + ".path", "a dotted path such as plan.ep", a.contains("path") ? describe(a["path"]) : "nothing: the field is missing");
    if (!a.contains("values") || !a["values"].is_array())
      throw io::InputError(file, at + ".values", "an array of values", a.contains("values") ? describe(a["values"]) : "nothing: the field is missing");
    SweepAxis axis{a["path"].get<std::string>(), {}};
    check_path(axis.path, file, at + ".path");
    for (const json& v : a["values"]) axis.values.push_back(v);
    if (axis.values.empty()) throw io::InputError(file, at + ".values", "at least one value", "an empty array");
    out.push_back(std::move(axis));
  }
  return out;
}

}  // namespace

bool is_sim_path(const std::string& path) {
  return std::find(kSimPaths.begin(), kSimPaths.end(), path) != kSimPaths.end();
}

const char* to_string(DerivedRule r) {
  switch (r) {
    case DerivedRule::KeepGlobalBatch: return "keep_global_batch";
    case DerivedRule::ScaleGlobalBatch: return "scale_global_batch";
  }
  return "?";
}

DerivedRule parse_derived_rule(const std::string& name, const std::string& where, const std::string& path) {
  for (DerivedRule r : {DerivedRule::KeepGlobalBatch, DerivedRule::ScaleGlobalBatch})
    if (name == to_string(r)) return r;
  throw io::InputError(where, path, "a derived value: keep_global_batch or scale_global_batch",
                       "\"" + io::cut_for_message(name) + "\"");
}

std::vector<const SweepAxis*> SweepDefinition::axes() const {
  std::vector<const SweepAxis*> out;
  for (const auto& a : grid) out.push_back(&a);
  for (const auto& a : zip) out.push_back(&a);
  return out;
}

json SweepDefinition::to_json() const {
  auto settings = [](const std::vector<std::pair<std::string, json>>& s) {
    json o = json::object();
    for (const auto& [k, v] : s) o[k] = v;
    return o;
  };
  auto axes_json = [](const std::vector<SweepAxis>& axes) {
    json arr = json::array();
    for (const auto& a : axes) arr.push_back({{"path", a.path}, {"values", a.values}});
    return arr;
  };
  json j;
  j["scenario"] = scenario;
  j["set"] = settings(fixed);
  j["grid"] = axes_json(grid);
  j["zip"] = axes_json(zip);
  j["derived"] = json::array();
  for (DerivedRule r : derived) j["derived"].push_back(to_string(r));
  j["overrides"] = json::array();
  for (const auto& o : overrides) j["overrides"].push_back({{"when", settings(o.when)}, {"set", settings(o.set)}});
  return j;
}

SweepAxis parse_axis_option(const std::string& text, const std::string& option) {
  const auto [path, list] = split_assignment(text, option, "plan.ep=32,64");
  check_path(path, option, path);
  SweepAxis axis{path, {}};
  if (list.empty()) throw io::InputError(option, path, "at least one value (path=v1,v2,...)", "an empty list");
  for (const std::string& v : split_top_level(list)) {
    if (v.empty()) throw io::InputError(option, path, "values separated by single commas", "an empty value in \"" + io::cut_for_message(list) + "\"");
    axis.values.push_back(parse_value(v, option + " " + path));
  }
  return axis;
}

std::pair<std::string, json> parse_set_option(const std::string& text, const std::string& option) {
  const auto [path, value] = split_assignment(text, option, "plan.comm_sms=24");
  check_path(path, option, path);
  return {path, parse_value(value, option + " " + path)};
}

SweepDefinition definition_from_options(const std::string& scenario, const std::vector<std::string>& grid,
                                        const std::vector<std::string>& zip, const std::vector<std::string>& set,
                                        const std::vector<std::string>& derive) {
  SweepDefinition d;
  d.scenario = scenario;
  d.source = kCommandLine;
  for (const auto& g : grid) d.grid.push_back(parse_axis_option(g, "--grid"));
  for (const auto& z : zip) d.zip.push_back(parse_axis_option(z, "--zip"));
  for (const auto& s : set) d.fixed.push_back(parse_set_option(s, "--set"));
  for (const auto& r : derive) d.derived.push_back(parse_derived_rule(r, "--derive", ""));
  check_definition(d);
  return d;
}

SweepDefinition parse_sweep_document(const json& doc, const std::string& file) {
  if (!doc.is_object()) throw io::InputError(file, "", "a sweep object {\"scenario\", \"grid\" or \"zip\", ...}", describe(doc));
  for (const auto& [k, v] : doc.items()) {
    static const std::set<std::string> known = {"scenario", "set", "grid", "zip", "derived", "overrides", "description"};
    if (!known.count(k))
      throw io::InputError(file, k, "one of the keys scenario, set, grid, zip, derived, overrides, description",
                           "the unknown key \"" + io::cut_for_message(k) + "\"");
  }
  SweepDefinition d;
  d.source = file;
  if (!doc.contains("scenario") || !doc["scenario"].is_string())
    throw io::InputError(file, "scenario", "a scenario file or embedded scenario name",
                         doc.contains("scenario") ? describe(doc["scenario"]) : "nothing: the field is missing");
  d.scenario = doc["scenario"].get<std::string>();
  // A relative path names a file beside the sweep file when one is there.
  const std::filesystem::path beside = std::filesystem::path(file).parent_path() / d.scenario;
  std::error_code ec;
  if (std::filesystem::path(d.scenario).is_relative() && !std::filesystem::path(file).parent_path().empty() &&
      std::filesystem::is_regular_file(beside, ec))
    d.scenario = beside.string();
  if (doc.contains("set")) d.fixed = read_settings(doc["set"], file, "set");
  if (doc.contains("grid")) d.grid = read_axes(doc["grid"], file, "grid");
  if (doc.contains("zip")) d.zip = read_axes(doc["zip"], file, "zip");
  if (doc.contains("derived")) {
    const json& dv = doc["derived"];
    if (!dv.is_array()) throw io::InputError(file, "derived", "an array of rule names such as [\"keep_global_batch\"]", describe(dv));
    for (size_t i = 0; i < dv.size(); ++i) {
      const std::string at = fmt::format("derived[{}]", i);
      if (!dv[i].is_string()) throw io::InputError(file, at, "keep_global_batch or scale_global_batch", describe(dv[i]));
      d.derived.push_back(parse_derived_rule(dv[i].get<std::string>(), file, at));
    }
  }
  if (doc.contains("overrides")) {
    const json& ov = doc["overrides"];
    if (!ov.is_array()) throw io::InputError(file, "overrides", "an array of {\"when\": {...}, \"set\": {...}}", describe(ov));
    for (size_t i = 0; i < ov.size(); ++i) {
      const std::string at = fmt::format("overrides[{}]", i);
      if (!ov[i].is_object()) throw io::InputError(file, at, "an object {\"when\": {...}, \"set\": {...}}", describe(ov[i]));
      for (const auto& [k, v] : ov[i].items())
        if (k != "when" && k != "set") throw io::InputError(file, at + "." + k, "one of the keys when, set", "the unknown key \"" + k + "\"");
      PointOverride o;
      if (!ov[i].contains("when")) throw io::InputError(file, at + ".when", "an object {axis path: value}", "nothing: the field is missing");
      if (!ov[i].contains("set")) throw io::InputError(file, at + ".set", "an object {path: value}", "nothing: the field is missing");
      o.when = read_settings(ov[i]["when"], file, at + ".when");
      o.set = read_settings(ov[i]["set"], file, at + ".set");
      d.overrides.push_back(std::move(o));
    }
  }
  check_definition(d);
  // Every `when` names an axis (else it would match nothing, or everything, without a word).
  for (size_t i = 0; i < d.overrides.size(); ++i)
    for (const auto& [path, value] : d.overrides[i].when) {
      bool found = false;
      for (const SweepAxis* a : d.axes()) found = found || a->path == path;
      if (!found)
        throw io::InputError(file, fmt::format("overrides[{}].when.{}", i, path), "the path of one of the sweep's axes",
                             "\"" + path + "\", which no axis varies");
    }
  return d;
}

SweepDefinition read_sweep_file(const std::string& path) {
  return parse_sweep_document(io::read_json_document(path, kMaxSweepFileBytes, "a sweep JSON file"), path);
}

bool looks_like_sweep_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  try {
    const json doc = io::read_json_document(path, kMaxSweepFileBytes, "a sweep or scenario JSON file");
    return doc.is_object() && (doc.contains("grid") || doc.contains("zip")) && !doc.contains("model");
  } catch (const io::InputError&) {
    return false;   // the scenario reader gives the refusal
  }
}

void check_definition(const SweepDefinition& d) {
  const std::string& f = d.source;
  if (d.grid.empty() && d.zip.empty())
    throw io::InputError(f, d.source == kCommandLine ? "--grid" : "grid", "at least one axis (--grid path=v1,v2 or --zip)", "none");
  std::set<std::string> seen;
  for (const SweepAxis* a : d.axes()) {
    if (a->values.empty()) throw io::InputError(f, a->path, "at least one value", "an empty list");
    if (!seen.insert(a->path).second) throw io::InputError(f, a->path, "each path varied by one axis only", "a second axis for it");
  }
  for (const auto& [path, value] : d.fixed)
    if (seen.count(path)) throw io::InputError(f, path, "a path either set or varied", "both a fixed value and an axis");
  if (!d.zip.empty()) {
    const size_t n = d.zip.front().values.size();
    for (const SweepAxis& a : d.zip)
      if (a.values.size() != n)
        throw io::InputError(f, a.path, fmt::format("{} values, as many as the first zip axis {} has", n, d.zip.front().path),
                             fmt::format("{} values", a.values.size()));
  }
  double points = d.zip.empty() ? 1.0 : double(d.zip.front().values.size());
  for (const SweepAxis& a : d.grid) points *= double(a.values.size());
  if (points > double(kMaxSweepPoints))
    throw io::InputError(f, d.source == kCommandLine ? "--grid" : "grid", fmt::format("at most {} points", kMaxSweepPoints),
                         fmt::format("{:.0f} points", points));
}

}  // namespace tandem::sweep
