// The report of a comparison (trace/compare.h): an aligned text table with times in a unit chosen by
// their size, and JSON in seconds with errors as signed fractions (null where the measured value is 0).
#include "trace/compare_report.h"

#include <cmath>

#include <fmt/format.h>

namespace tandem::trace {
namespace {

// "12.345 ms": three decimals in s, ms, us, or whole ns, by the size of the value.
std::string time_text(double s) {
  const double a = std::fabs(s);
  if (a >= 1.0) return fmt::format("{:.3f} s", s);
  if (a >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  if (a >= 1e-6) return fmt::format("{:.3f} us", s * 1e6);
  return fmt::format("{:.0f} ns", s * 1e9);
}

std::string error_text(const SidePair& p) {
  const auto e = p.error();
  return e ? fmt::format("{:+.1f}%", *e * 100) : std::string("n/a");
}

std::string side_text(const CompareSide& s) {
  std::string out = fmt::format("{}  ({}", s.path, s.source == TraceSource::Unknown ? "unknown source" : to_string(s.source));
  if (!s.scenario.empty()) out += fmt::format(", scenario {}", s.scenario);
  out += fmt::format(", rank{} {}", s.ranks.size() == 1 ? "" : "s", rank_ranges(s.ranks));
  if (s.step >= 0) out += s.steps_held > 1 ? fmt::format(", step {} of {} held", s.step, s.steps_held) : fmt::format(", step {}", s.step);
  return out + fmt::format(", {} ops)", s.ops);
}

std::string list_text(const OpList& l) {
  std::string out;
  for (const auto& f : l.first) out += fmt::format("\n    {}", f);
  if (l.count > int64_t(l.first.size())) out += fmt::format("\n    ... and {} more", l.count - int64_t(l.first.size()));
  return out;
}

std::string matching_text(const Comparison& c) {
  if (c.matching == Matching::Identity) return "identity (rank, step, id)";
  return fmt::format("kind order (n-th rank, stream role, kind{}{}, n-th occurrence)", c.by_phase ? ", phase" : "",
                     c.by_layer ? ", layer" : "");
}

constexpr int kNameWidth = 22, kTimeWidth = 14, kErrorWidth = 10;

std::string row_text(const std::string& name, const SidePair& p) {
  return fmt::format("{:<{}} {:>{}} {:>{}} {:>{}}", name, kNameWidth, time_text(p.predicted_s), kTimeWidth,
                     time_text(p.measured_s), kTimeWidth, error_text(p), kErrorWidth);
}

std::string header_text(const std::string& title, const std::string& extra = {}) {
  return fmt::format("{:<{}} {:>{}} {:>{}} {:>{}}{}\n", title, kNameWidth, "predicted", kTimeWidth, "measured", kTimeWidth,
                     "error", kErrorWidth, extra);
}

nlohmann::json error_json(const SidePair& p) {
  const auto e = p.error();
  return e ? nlohmann::json(*e) : nlohmann::json(nullptr);
}

nlohmann::json pair_json(const SidePair& p) {
  return {{"predicted_s", p.predicted_s}, {"measured_s", p.measured_s}, {"error", error_json(p)}};
}

nlohmann::json list_json(const OpList& l) { return {{"count", l.count}, {"first", l.first}}; }

nlohmann::json side_json(const CompareSide& s) {
  nlohmann::json j = {{"path", s.path},
                      {"source", std::string(to_string(s.source))},
                      {"scenario", s.scenario},
                      {"ranks", s.ranks},
                      {"steps_held", s.steps_held},
                      {"ops", s.ops}};
  j["step"] = s.step >= 0 ? nlohmann::json(s.step) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json rows_json(const std::vector<CompareRow>& rows, const char* key, bool counts) {
  nlohmann::json out = nlohmann::json::array();
  for (const CompareRow& r : rows) {
    nlohmann::json j = pair_json(r.time);
    j[key] = r.name;
    if (counts) j["count"] = {{"predicted", r.predicted_count}, {"measured", r.measured_count}};
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

std::string to_table(const Comparison& c) {
  std::string out;
  out += fmt::format("predicted  {}\nmeasured   {}\n", side_text(c.predicted), side_text(c.measured));
  out += fmt::format("matching   {}: {} ops matched, {} only predicted, {} only measured", matching_text(c), c.matched,
                     c.only_predicted.count, c.only_measured.count);
  if (c.matching == Matching::Identity)
    out += c.name_mismatches.count == 0 ? ", names agree" : fmt::format(", {} names differ", c.name_mismatches.count);
  out += "\n";
  if (c.only_predicted.count) out += fmt::format("  only predicted:{}\n", list_text(c.only_predicted));
  if (c.only_measured.count) out += fmt::format("  only measured:{}\n", list_text(c.only_measured));
  if (c.name_mismatches.count) out += fmt::format("  names differ:{}\n", list_text(c.name_mismatches));

  out += "\n";
  out += header_text("");
  out += row_text("step time", c.step);
  if (c.step.predicted_s > 0 && c.step.measured_s > 0)
    out += fmt::format("   (measured / predicted {:.4g}x)", c.step.measured_s / c.step.predicted_s);
  out += "\n\n";
  out += header_text("per rank (mean)");
  for (const CompareRow& r : c.phases) out += row_text(r.name, r.time) + "\n";

  const auto counted = [&](const char* title, const std::vector<CompareRow>& rows) {
    out += "\n";
    out += header_text(title, fmt::format(" {:>17}", "count pred/meas"));
    for (const CompareRow& r : rows)
      out += row_text(r.name, r.time) + fmt::format(" {:>17}", fmt::format("{}/{}", r.predicted_count, r.measured_count)) + "\n";
  };
  counted("op kind (sum of ranks)", c.kinds);
  counted("kernel class", c.classes);
  counted("stream (sum of ranks)", c.streams);

  if (!c.top_ops.empty()) {
    out += "\n";
    out += header_text("largest op errors", "  rank  op");
    for (const OpPair& o : c.top_ops)
      out += row_text(o.kind, o.time) + fmt::format("  {:>4}  {}", o.rank, o.name) +
             (o.id >= 0 ? fmt::format(" (id {})", o.id) : std::string()) + "\n";
  }
  return out;
}

nlohmann::json to_json(const Comparison& c) {
  nlohmann::json j;
  j["predicted"] = side_json(c.predicted);
  j["measured"] = side_json(c.measured);
  j["matching"] = {{"method", std::string(to_string(c.matching))},
                   {"by_phase", c.by_phase},
                   {"by_layer", c.by_layer},
                   {"matched", c.matched},
                   {"only_predicted", list_json(c.only_predicted)},
                   {"only_measured", list_json(c.only_measured)},
                   {"name_mismatches", list_json(c.name_mismatches)}};
  j["step_time"] = pair_json(c.step);
  j["step_time"]["measured_over_predicted"] =
      c.step.predicted_s > 0 ? nlohmann::json(c.step.measured_s / c.step.predicted_s) : nlohmann::json(nullptr);
  j["phases"] = rows_json(c.phases, "phase", false);
  j["kinds"] = rows_json(c.kinds, "kind", true);
  j["classes"] = rows_json(c.classes, "class", true);
  j["streams"] = rows_json(c.streams, "stream", true);
  nlohmann::json top = nlohmann::json::array();
  for (const OpPair& o : c.top_ops) {
    nlohmann::json t = pair_json(o.time);
    t["name"] = o.name;
    t["kind"] = o.kind;
    t["rank"] = o.rank;
    t["id"] = o.id >= 0 ? nlohmann::json(o.id) : nlohmann::json(nullptr);
    top.push_back(std::move(t));
  }
  j["top_ops"] = std::move(top);
  return j;
}

}  // namespace tandem::trace
