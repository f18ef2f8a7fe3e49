// The calibration table file and the printed report of `tandem calibrate` (see calibration_report.h).
#include "calib/calibration_report.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/calibration.h"

namespace tandem::calib {
namespace {

// Microseconds to print and write: nanosecond resolution, no float noise.
double us(double ns) { return std::round(ns) / 1e3; }

// 6 significant digits, the precision fits are written with.
double sig6(double v) { return v == 0 ? 0 : std::stod(fmt::format("{:.6g}", v)); }

std::string steps_text(const Samples& s) {
  if (s.source == "kineto") return "no steps (Kineto: one recording)";
  std::string text = fmt::format("{} step{} held", s.steps_held, s.steps_held == 1 ? "" : "s");
  if (s.warmup > 0)
    text += fmt::format(", the first {} dropped as warm-up ({})", s.warmup, s.warmup_default ? "default; --warmup N to choose" : "--warmup");
  else
    text += s.warmup_default ? ", none dropped as warm-up (fewer than 3 steps)" : ", none dropped (--warmup 0)";
  return text;
}

std::string time_text(double ns) {
  if (ns >= 1e9) return fmt::format("{:.3f} s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.3f} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.3f} us", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

std::string bandwidth_text(double bytes_per_s) {
  if (bytes_per_s >= 1e9) return fmt::format("{:.2f} GB/s", bytes_per_s / 1e9);
  return fmt::format("{:.2f} MB/s", bytes_per_s / 1e6);
}

std::string percent(double v) { return fmt::format("{:.2f}%", v * 100); }

}  // namespace

nlohmann::ordered_json calibration_file(const Calibration& c) {
  nlohmann::ordered_json j;
  j["format"] = "tandem-calibration";
  j["version"] = hw::kCalibrationVersion;
  if (!c.device.empty()) j["gpu"] = c.device;
  std::string inputs;
  for (const std::string& p : c.inputs) inputs += (inputs.empty() ? "" : ", ") + p;
  j["source"] = fmt::format("tandem calibrate of {} ({} trace{}{}; {}{})", inputs, c.samples.source,
                            c.samples.scenario.empty() ? "" : " of ", c.samples.scenario, steps_text(c.samples),
                            c.shapes_path.empty() ? "" : "; kernels lined up by class with the ops of " + c.shapes_path);
  nlohmann::ordered_json fits = nlohmann::ordered_json::object();
  for (const ClassFit& f : c.classes) {
    if (!f.fit) continue;
    fits[f.name] = {{"overhead_us", us(f.fit->intercept)},
                    {"time_scale", sig6(f.fit->slope)},
                    {"points", f.fit->points},
                    {"rms_relative_error", sig6(f.fit->rms_relative_error)},
                    {"max_relative_error", sig6(f.fit->max_relative_error)}};
  }
  if (!fits.empty()) j["fits"] = fits;
  nlohmann::ordered_json links = nlohmann::ordered_json::object();
  for (const LinkClassFit& l : c.links) {
    if (!l.fit) continue;
    links[l.name] = {{"bytes_per_s", sig6(l.bytes_per_s())},
                     {"latency_us", us(l.fit->intercept)},
                     {"points", l.fit->points},
                     {"rms_relative_error", sig6(l.fit->rms_relative_error)},
                     {"max_relative_error", sig6(l.fit->max_relative_error)}};
  }
  if (!links.empty()) j["links"] = links;
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  // A point's time is positive (the table refuses 0): at least 1 ns.
  for (const ShapeSample& s : c.samples.shapes)
    points.push_back(hw::calibration_point(s.payload, us(std::max(1.0, s.time_ns))));
  j["points"] = points;
  return j;
}

std::string calibration_table(const Calibration& c) {
  const Samples& s = c.samples;
  std::string out;
  std::string inputs;
  for (const std::string& p : c.inputs) inputs += (inputs.empty() ? "" : ", ") + p;
  out += fmt::format("{:<14} {} ({} trace{}{})\n", "traces", inputs, s.source, s.scenario.empty() ? "" : " of ",
                     s.scenario);
  out += fmt::format("{:<14} {}\n", "steps", steps_text(s));
  out += fmt::format("{:<14} {} events read, {} op executions measured\n", "ops", s.events, s.ops_used);
  if (!s.unknown_kinds.empty()) {
    int64_t n = 0;
    for (const auto& [name, count] : s.unknown_kinds) n += count;
    out += fmt::format("{:<14} {} kernels of {} names with no known kind: counted, left out (e.g. {})\n", "unknown",
                       n, s.unknown_kinds.size(), s.unknown_kinds.begin()->first.substr(0, 60));
  }
  if (s.zero_time > 0) out += fmt::format("{:<14} {} shapes or ops with a median time of 0: left out\n", "zero time", s.zero_time);
  if (!s.kinds.empty()) {
    out += c.lineup.empty() ? "\nper kind only (the trace carries no shapes: nothing to fit or key by shape)\n"
                            : "\nper kind, as the trace holds them\n";
    out += fmt::format("{:<30} {:>8} {:>14} {:>14}\n", "kind (class)", "count", "median", "total");
    for (const KindSample& k : s.kinds)
      out += fmt::format("{:<30} {:>8} {:>14} {:>14}\n", k.kind, k.count, time_text(k.median_ns), time_text(k.total_ns));
  }
  if (!c.lineup.empty()) {
    out += fmt::format("\nkernel classes lined up with the ops of {} (paired by rank of time where the counts "
                       "agree, by phase where each phase's do; else fitted from the totals)\n", c.shapes_path);
    out += fmt::format("{:<18} {:>8} {:>10} {:>14} {:>14}  {}\n", "class", "kernels", "sim ops", "measured", "simulated", "lined up");
    for (const ClassLineup& l : c.lineup)
      out += fmt::format("{:<18} {:>8} {:>10} {:>14} {:>14}  {}\n", l.name, l.measured, l.simulated, time_text(l.measured_ns),
                         time_text(l.simulated_ns), l.paired ? (l.by_phase ? "paired by phase" : "paired") : "totals");
  }
  if (!s.shapes.empty()) {
    out += fmt::format("{:<14} {} shapes ({} ops of the program)\n", "points", s.shapes.size(), [&] {
      int64_t n = 0;
      for (const ShapeSample& x : s.shapes) n += x.identities;
      return n;
    }());
  }
  out += fmt::format("{:<14} {}{}\n", "device model", c.device.empty() ? "none" : c.device,
                     c.device_from_option ? " (--device)" : c.device.empty() ? "" : " (the traced scenario's GPU)");
  if (!c.device_missing.empty() && !s.shapes.empty()) {
    out += fmt::format("\nop classes: not fitted: {}; the points alone are written\n", c.device_missing);
  } else if (!c.classes.empty()) {
    out += "\nop classes: time = overhead + scale x (default model's time beyond its launch cost), least squares in "
           "relative error\n";
    out += fmt::format("{:<14} {:>6} {:>12} {:>12} {:>10} {:>10} {:>9} {:>9}\n", "class", "shapes", "overhead",
                       "default", "scale", "eff", "rms err", "max err");
    for (const ClassFit& f : c.classes) {
      if (f.fit)
        out += fmt::format("{:<14} {:>6} {:>12} {:>12} {:>10.4g} {:>10.4g} {:>9} {:>9}{}\n", f.name, f.shapes,
                           time_text(f.fit->intercept), time_text(f.default_overhead_ns), f.fit->slope, f.efficiency(),
                           percent(f.fit->rms_relative_error), percent(f.fit->max_relative_error),
                           f.fit->intercept_at_zero ? "  (overhead fitted < 0: fixed at 0)" : "");
      else
        out += fmt::format("{:<14} {:>6} kept at the default: {}\n", f.name, f.shapes, f.kept_because);
    }
  }
  if (!c.links.empty()) {
    out += "\nlinks: time = latency + bus bytes / bandwidth (from the last member's start), least squares in relative "
           "error\n";
    out += fmt::format("{:<14} {:>6} {:>6} {:>14} {:>12} {:>9} {:>9}\n", "link", "ops", "sizes", "bandwidth",
                       "latency", "rms err", "max err");
    for (const LinkClassFit& l : c.links) {
      if (l.fit)
        out += fmt::format("{:<14} {:>6} {:>6} {:>14} {:>12} {:>9} {:>9}{}\n", l.name, l.ops, l.sizes,
                           bandwidth_text(l.bytes_per_s()), time_text(l.fit->intercept),
                           percent(l.fit->rms_relative_error), percent(l.fit->max_relative_error),
                           l.fit->intercept_at_zero ? "  (latency fitted < 0: fixed at 0)" : "");
      else
        out += fmt::format("{:<14} {:>6} {:>6} kept at the cluster's: {}\n", l.name, l.ops, l.sizes, l.kept_because);
    }
  }
  return out;
}

nlohmann::ordered_json calibration_report_json(const Calibration& c) {
  const Samples& s = c.samples;
  nlohmann::ordered_json j;
  j["traces"] = c.inputs;
  j["source"] = s.source;
  j["scenario"] = s.scenario;
  j["steps_held"] = s.steps_held;
  j["warmup_steps"] = s.warmup;
  j["warmup_default"] = s.warmup_default;
  j["events"] = s.events;
  j["ops_measured"] = s.ops_used;
  j["points"] = s.shapes.size();
  j["zero_time"] = s.zero_time;
  j["unknown_kinds"] = s.unknown_kinds;
  j["device"] = c.device;
  if (!c.device_missing.empty()) j["device_missing"] = c.device_missing;
  nlohmann::ordered_json classes = nlohmann::ordered_json::array();
  for (const ClassFit& f : c.classes) {
    nlohmann::ordered_json x = {{"class", f.name}, {"shapes", f.shapes}, {"default_overhead_s", f.default_overhead_ns * 1e-9}};
    if (f.fit) {
      x["overhead_s"] = f.fit->intercept * 1e-9;
      x["time_scale"] = f.fit->slope;
      x["efficiency"] = f.efficiency();
      x["overhead_fixed_at_zero"] = f.fit->intercept_at_zero;
      x["rms_relative_error"] = f.fit->rms_relative_error;
      x["max_relative_error"] = f.fit->max_relative_error;
    } else {
      x["kept_default"] = f.kept_because;
    }
    classes.push_back(x);
  }
  j["classes"] = classes;
  nlohmann::ordered_json links = nlohmann::ordered_json::array();
  for (const LinkClassFit& l : c.links) {
    nlohmann::ordered_json x = {{"link", l.name}, {"ops", l.ops}, {"sizes", l.sizes}};
    if (l.fit) {
      x["bytes_per_s"] = l.bytes_per_s();
      x["latency_s"] = l.fit->intercept * 1e-9;
      x["latency_fixed_at_zero"] = l.fit->intercept_at_zero;
      x["rms_relative_error"] = l.fit->rms_relative_error;
      x["max_relative_error"] = l.fit->max_relative_error;
    } else {
      x["kept_default"] = l.kept_because;
    }
    links.push_back(x);
  }
  j["links"] = links;
  nlohmann::ordered_json kinds = nlohmann::ordered_json::array();
  for (const KindSample& k : s.kinds)
    kinds.push_back({{"kind", k.kind}, {"count", k.count}, {"median_s", k.median_ns * 1e-9}, {"total_s", k.total_ns * 1e-9}});
  j["kinds"] = kinds;
  if (!c.lineup.empty()) {
    nlohmann::ordered_json lineup = nlohmann::ordered_json::array();
    for (const ClassLineup& l : c.lineup)
      lineup.push_back({{"class", l.name}, {"measured", l.measured}, {"simulated", l.simulated},
                        {"measured_s", l.measured_ns * 1e-9}, {"simulated_s", l.simulated_ns * 1e-9},
                        {"lined_up", l.paired ? (l.by_phase ? "phase" : "class") : "totals"}});
    j["shapes_from"] = c.shapes_path;
    j["lineup"] = lineup;
  }
  return j;
}

}  // namespace tandem::calib
