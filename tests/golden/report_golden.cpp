// Pinned form, field-by-field difference, golden-file reading and the run of `tandem` for the golden
// reports (see report_golden.h).
#include "tests/golden/report_golden.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

namespace tandem::golden {

using nlohmann::json;

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string short_text(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// path -> value of every leaf (numbers, strings, booleans, null, empty containers), in document order.
void flatten(const json& v, const std::string& path, std::vector<std::pair<std::string, const json*>>& out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [k, x] : v.items()) flatten(x, path.empty() ? k : path + "." + k, out);
  } else if (v.is_array() && !v.empty()) {
    for (size_t i = 0; i < v.size(); ++i) flatten(v[i], fmt::format("{}[{}]", path, i), out);
  } else {
    out.emplace_back(path, &v);
  }
}

bool same(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return a == b;
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return x == y || std::abs(x - y) <= kRelativeTolerance * std::max(std::abs(x), std::abs(y));
  }
  return a == b;
}

std::string numeric_change(const json& a, const json& b) {
  if (!a.is_number() || !b.is_number()) return "";
  if (a.is_number_integer() && b.is_number_integer()) {
    const int64_t x = a.get<int64_t>(), y = b.get<int64_t>();
    return x == 0 ? fmt::format("{:+d}", y - x) : fmt::format("{:+d} ({:+.4g}%)", y - x, 100.0 * double(y - x) / double(x));
  }
  const double x = a.get<double>(), y = b.get<double>();
  return x == 0 ? fmt::format("{:+.6g}", y - x) : fmt::format("{:+.6g} ({:+.4g}%)", y - x, 100.0 * (y - x) / x);
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

json pinned_form(const json& report) {
  if (report.is_array()) {
    json out = json::array();
    for (const auto& x : report) out.push_back(pinned_form(x));
    return out;
  }
  if (!report.is_object()) return report;
  json out = json::object();
  for (const auto& [k, v] : report.items()) {
    if (ends_with(k, "_s") && !ends_with(k, "_per_s") && v.is_number()) {   // seconds, not a rate
      out[k.substr(0, k.size() - 2) + "_ns"] = int64_t(std::llround(v.get<double>() * 1e9));
    } else {
      out[k] = pinned_form(v);
    }
  }
  return out;
}

std::vector<FieldChange> diff(const json& old, const json& now) {
  std::vector<std::pair<std::string, const json*>> a, b;
  flatten(old, "", a);
  flatten(now, "", b);
  std::map<std::string, const json*> old_by_path(a.begin(), a.end()), new_by_path(b.begin(), b.end());
  std::vector<FieldChange> changes;
  for (const auto& [path, v] : b) {
    const auto it = old_by_path.find(path);
    if (it == old_by_path.end()) {
      changes.push_back({path, "(absent)", short_text(*v), ""});
    } else if (!same(*it->second, *v)) {
      changes.push_back({path, short_text(*it->second), short_text(*v), numeric_change(*it->second, *v)});
    }
  }
  for (const auto& [path, v] : a)
    if (!new_by_path.count(path)) changes.push_back({path, short_text(*v), "(absent)", ""});
  return changes;
}

std::string describe(const std::vector<FieldChange>& changes) {
  size_t wp = 5, wo = 3, wn = 3;
  for (const auto& c : changes) {
    wp = std::max(wp, c.path.size());
    wo = std::max(wo, c.old_value.size());
    wn = std::max(wn, c.new_value.size());
  }
  std::string s = fmt::format("  {:<{}}  {:>{}}  {:>{}}  {}\n", "field", wp, "old", wo, "new", wn, "change");
  for (const auto& c : changes)
    s += fmt::format("  {:<{}}  {:>{}}  {:>{}}  {}\n", c.path, wp, c.old_value, wo, c.new_value, wn, c.change);
  return s;
}

GoldenFile read_golden(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw GoldenError(fmt::format("{}: expected a readable golden report file, found none (run scripts/refresh-golden.sh)", path));
  std::stringstream ss;
  ss << in.rdbuf();
  json doc;
  try {
    doc = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw GoldenError(fmt::format("{}: expected JSON, found a syntax error at byte {}", path, e.byte));
  }
  if (!doc.is_object()) throw GoldenError(fmt::format("{}: expected a JSON object at the top, found {}", path, doc.type_name()));
  GoldenFile g;
  const auto cmd = doc.find("command");
  if (cmd == doc.end() || !cmd->is_array() || cmd->empty())
    throw GoldenError(fmt::format("{}: command: expected a non-empty array of tandem's arguments, found {}", path,
                                  cmd == doc.end() ? std::string("nothing") : short_text(*cmd)));
  for (size_t i = 0; i < cmd->size(); ++i) {
    if (!(*cmd)[i].is_string())
      throw GoldenError(fmt::format("{}: command[{}]: expected a string, found {}", path, i, short_text((*cmd)[i])));
    g.command.push_back((*cmd)[i].get<std::string>());
  }
  const auto rep = doc.find("report");
  if (rep == doc.end() || !rep->is_object())
    throw GoldenError(fmt::format("{}: report: expected an object (the pinned report), found {}", path,
                                  rep == doc.end() ? std::string("nothing") : std::string(rep->type_name())));
  g.report = *rep;
  return g;
}

std::string golden_text(const GoldenFile& g) {
  json doc = json::object();
  doc["command"] = g.command;
  doc["report"] = g.report;
  return doc.dump(2) + "\n";
}

json run_report(const std::string& tandem, const std::string& source_dir, const std::vector<std::string>& command) {
  std::string cmd = fmt::format("cd {} && {}", shell_quote(source_dir), shell_quote(tandem));
  std::string shown = "tandem";
  for (const auto& a : command) {
    cmd.append(" ").append(shell_quote(a));
    shown.append(" ").append(a);
  }
  // stdout is the report; stderr (timings, messages) is kept aside and named only when tandem fails.
  const std::string err_file =
      (std::filesystem::temp_directory_path() / fmt::format("tandem_golden_stderr_{}", getpid())).string();
  cmd.append(" 2>").append(shell_quote(err_file));
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw GoldenError(fmt::format("{}: expected to start it, found popen failing", tandem));
  std::string out;
  std::array<char, 65536> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::string err, line;
  {
    std::ifstream in(err_file);
    while (std::getline(in, line))
      if (!line.empty()) err = line;   // the last message
  }
  std::filesystem::remove(err_file);
  if (code != 0)
    throw GoldenError(fmt::format("`{}` (in {}): expected exit code 0, found {}: {}", shown, source_dir, code, err));
  json report;
  try {
    report = json::parse(out);
  } catch (const json::parse_error&) {
    throw GoldenError(fmt::format("`{}`: expected a JSON report on stdout, found \"{}{}\"", shown,
                                  out.substr(0, 57), out.size() > 60 ? "..." : out.substr(std::min<size_t>(out.size(), 57))));
  }
  if (!report.is_object()) throw GoldenError(fmt::format("`{}`: expected a JSON object, found {}", shown, report.type_name()));
  return pinned_form(report);
}

}  // namespace tandem::golden
