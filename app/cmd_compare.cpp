// `tandem compare PREDICTED MEASURED`: a predicted timeline (`tandem simulate --trace`) against a
// measured one (`tandem run --trace`, or a PyTorch-profiler trace): step time, phases, bubble, exposed
// communication, per-kind, per-class and per-stream busy time, the largest op errors (trace/compare.h).
// --json, --svg (bars per op kind), --max-error E for CI (exit 1 when the step error is larger), --map
// (how a Kineto trace's kernels, streams and phases map, trace/kineto_map.h).
#ifdef TANDEM_TRACE
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "app/output_check.h"
#include "io/rank_list.h"
#include "io/input_error.h"
#include "io/output_file.h"
#include "trace/compare_report.h"
#include "trace/compare_svg.h"
#include "trace/kineto_map.h"
#include "trace/trace_reader.h"

namespace tandem::app {
namespace {

struct CompareCommandOptions {
  std::string predicted, measured, svg, ranks, map;
  bool json = false;
  double max_error = -1;   // < 0: not given
  int64_t step = -1;
};

// The ranks of one side's list; "all" (or nothing) leaves the side whole.
std::vector<int32_t> ranks_of(const std::string& text) {
  std::vector<int32_t> out;
  if (text == "all") return out;
  for (int64_t r : io::parse_rank_list(text, 0, "--ranks")) out.push_back(int32_t(r));
  return out;
}

// Reads one side; Kineto kernels no rule of the map recognised are said on stderr (they stay
// "unknown", counted in the kernel class table).
trace::Timeline read_side(const std::string& path, const trace::KinetoMap& map) {
  try {
    trace::ReadStats stats;
    trace::Timeline tl = trace::read_trace(path, &stats, &map);
    if (stats.unknown_kernels > 0) {
      fmt::print(stderr, "note: {}: {} kernels of {} names that no rule of the {} map recognises, such as: {}\n", path,
                 stats.unknown_kernels, stats.unknown_kernel_names, map.source,
                 io::cut_for_message(stats.unknown_kernel_examples.front(), 120));
    }
    return tl;
  } catch (const trace::TraceError& e) {
    throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
  }
}

void run_compare(const CompareCommandOptions& o) {
  if (!o.svg.empty()) check_output_file(o.svg, "--svg");
  trace::CompareOptions options;
  options.step = o.step;
  if (!o.ranks.empty()) {
    try {
      // "LIST" keeps the same ranks on both sides; "PREDICTED:MEASURED" chooses each side's.
      const size_t colon = o.ranks.find(':');
      options.predicted_ranks = ranks_of(o.ranks.substr(0, colon));
      options.measured_ranks = colon == std::string::npos ? options.predicted_ranks : ranks_of(o.ranks.substr(colon + 1));
    } catch (const std::invalid_argument& e) {
      throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
    }
  }
  const trace::KinetoMap map = o.map.empty() ? trace::builtin_kineto_map() : trace::load_kineto_map(o.map);
  const trace::Timeline predicted = read_side(o.predicted, map);
  const trace::Timeline measured = read_side(o.measured, map);
  const trace::Comparison c = trace::compare_timelines(predicted, o.predicted, measured, o.measured, options);
  if (!o.svg.empty()) io::write_output_file(o.svg, trace::compare_svg(c));
  if (o.json)
    fmt::print("{}\n", trace::to_json(c).dump(2));
  else
    fmt::print("{}", trace::to_table(c));
  if (o.max_error >= 0) {
    const auto e = c.step.error();
    if (!e || std::fabs(*e) > o.max_error)
      throw CommandExit{1, e ? fmt::format("step time error {:+.1f}% exceeds --max-error {}", *e * 100, o.max_error)
                             : fmt::format("step time error undefined (measured step 0 s) with --max-error {}", o.max_error)};
  }
}

const RegisterCommand reg(50, "compare", [](CLI::App& root) {
  auto o = std::make_shared<CompareCommandOptions>();
  CLI::App* cmd = root.add_subcommand(
      "compare",
      "Compare a predicted timeline with a measured one: step time, phases, bubble, exposed communication, busy time "
      "per op kind and stream, the largest op errors");
  cmd->add_option("predicted", o->predicted, "Predicted trace (tandem simulate --trace)")->required();
  cmd->add_option("measured", o->measured, "Measured trace (tandem run --trace, or a PyTorch-profiler trace)")->required();
  cmd->add_flag("--json", o->json, "Print the comparison as JSON");
  cmd->add_option("--svg", o->svg, "Write a bar chart of busy time per op kind (SVG) to FILE");
  cmd->add_option("--max-error", o->max_error, "Exit with code 1 when |step time error| exceeds E (0.1 = 10%)")
      ->check(number_above(0, true));
  cmd->add_option("--ranks", o->ranks,
                  "Ranks to compare: a list like 0,2-3 for both sides, or PREDICTED:MEASURED lists such as 37:0 or all:0 "
                  "(default: every rank; with identity matching, the ranks both hold)");
  cmd->add_option("--map", o->map,
                  "Kineto map (JSON): regular expressions giving kernels their op kind and class, stream roles and "
                  "phases from annotations (default: the built-in map; data/kineto-maps/ has one for DeepSeek's H800 "
                  "profile)");
  cmd->add_option("--step", o->step, "The step to compare of a trace holding several (default: its last)")
      ->check(integer_in(0, 1000000000));
  cmd->callback([o] { run_compare(*o); });
});

}  // namespace
}  // namespace tandem::app
#endif  // TANDEM_TRACE
