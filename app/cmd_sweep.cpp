// `tandem sweep SCENARIO --grid path=v1,v2 ... [--out DIR]` or `tandem sweep SWEEP.json`: one full
// simulation per point of a grid (or zip) of scenario settings, on local threads (--jobs) and over MPI
// ranks; resumable; results.jsonl, results.csv, SVG plots, and a ranking (--top K --by FIGURE), also
// of a finished sweep's directory without re-running it.
#ifdef TANDEM_SWEEP
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "app/output_check.h"
#include "io/input_error.h"
#include "io/json_document.h"
#include "io/output_file.h"
#include "sweep/mpi_world.h"
#include "sweep/point_runner.h"
#include "sweep/ranking.h"
#include "sweep/results_table.h"
#include "sweep/sweep_definition.h"
#include "sweep/sweep_directory.h"
#include "sweep/sweep_plots.h"
#include "sweep/sweep_run.h"

namespace tandem::app {
namespace {

using nlohmann::json;

struct SweepOptions {
  std::string target;   // scenario or sweep file
  std::vector<std::string> grid, zip, set, derive, plots;
  std::string out = "sweep-results";
  int jobs = 1;
  bool mpi = false, quiet = false;
  int top = 0;
  std::string by = "tokens_per_s_per_gpu";
};

// A path the scenario reader does not know (plan.foo, a field inside a number) is bad input for the
// whole sweep, not a refusal of each point: tried once per path with the axis's first value.
void check_scenario_paths(const sweep::SweepDefinition& d) {
  std::vector<std::string> fixed;
  for (const auto& [path, value] : d.fixed)
    if (!sweep::is_sim_path(path)) fixed.push_back(path + "=" + value.dump());
  std::vector<std::pair<std::string, json>> tried;
  for (const sweep::SweepAxis* a : d.axes()) tried.emplace_back(a->path, a->values.front());
  for (const auto& o : d.overrides) tried.insert(tried.end(), o.set.begin(), o.set.end());
  for (const auto& [path, value] : tried) {
    if (sweep::is_sim_path(path)) continue;
    std::vector<std::string> overrides = fixed;
    overrides.push_back(path + "=" + value.dump());
    try {
      ir::load_scenario(d.scenario, overrides);
    } catch (const io::InputError& e) {
      const bool unknown = e.found().rfind("the unknown key", 0) == 0 || e.expected().rfind("an object to set a field in", 0) == 0;
      if (unknown) throw io::InputError(d.source, path, "a path the scenario has (" + e.expected() + ")", e.found());
    }
  }
  // The simulation's own settings are checked by the parsers that read them.
  for (const sweep::SweepAxis* a : d.axes())
    if (sweep::is_sim_path(a->path))
      for (const json& v : a->values) sweep::check_sim_setting(a->path, v, d.source);
  for (const auto& [path, value] : d.fixed)
    if (sweep::is_sim_path(path)) sweep::check_sim_setting(path, value, d.source);
}

// Axis order: the sweep's own (DIR/sweep.json) when there, else the records'.
std::vector<std::string> stored_axis_paths(const sweep::SweepDirectory& dir, const std::vector<json>& records) {
  std::error_code ec;
  if (std::filesystem::exists(dir.file("sweep.json"), ec)) {
    const json def = io::read_json_document(dir.file("sweep.json"), 16u << 20, "a sweep definition");
    std::vector<std::string> out;
    for (const char* part : {"grid", "zip"})
      if (def.contains(part) && def[part].is_array())
        for (const json& a : def[part])
          if (a.is_object() && a.contains("path") && a["path"].is_string()) out.push_back(a["path"].get<std::string>());
    if (!out.empty()) return out;
  }
  return sweep::axis_paths_of(records);
}

void write_plots(const sweep::SweepDirectory& dir, const std::vector<json>& records, const std::vector<std::string>& axes,
                 const std::vector<sweep::PlotSpec>& plots) {
  // Drawn first, written after: a figure no point has refuses every plot, leaving none half-written.
  std::vector<std::pair<std::string, std::string>> files;
  for (const sweep::PlotSpec& p : plots) files.emplace_back(dir.file(p.file_name()), sweep::figure_plot_svg(records, p, axes));
  files.emplace_back(dir.file("pareto-gpus.svg"), sweep::pareto_svg(records, sweep::ParetoX::Gpus));
  files.emplace_back(dir.file("pareto-cost.svg"), sweep::pareto_svg(records, sweep::ParetoX::Cost));
  for (const auto& [path, text] : files) io::write_output_file(path, text);
}

void print_top(const SweepOptions& o, const std::vector<json>& records, const std::vector<std::string>& axes) {
  const auto top = sweep::top_points(records, o.by, size_t(o.top));
  size_t fitting = 0;
  for (const json& r : records) fitting += r["status"] == sweep::kStatusOk && !r.value("out_of_memory", false);
  fmt::print("{}", sweep::top_table(top, axes, o.by, fitting, records.size()));
}

// No scenario: rank or plot the records of a finished sweep in --out.
void from_directory(const SweepOptions& o) {
  if (o.top == 0 && o.plots.empty())
    throw io::InputError("tandem sweep", "", "a scenario or sweep file to run, or --top K / --plot to read --out's results",
                         "neither");
  const sweep::SweepDirectory dir(o.out);
  const std::vector<json> records = sweep::read_results(dir.file("results.jsonl"));
  const std::vector<std::string> axes = stored_axis_paths(dir, records);
  std::vector<sweep::PlotSpec> plots;
  for (const auto& p : o.plots) plots.push_back(sweep::parse_plot_spec(p, axes));
  if (!plots.empty()) write_plots(dir, records, axes, plots);
  if (o.top > 0) print_top(o, records, axes);
}

void run_sweep(const SweepOptions& o) {
  if (o.target.empty()) return from_directory(o);
  // Bad input first, before any process starts work or writes.
  sweep::SweepDefinition d;
  if (sweep::looks_like_sweep_file(o.target)) {
    if (!o.grid.empty() || !o.zip.empty() || !o.derive.empty() || !o.set.empty())
      throw io::InputError(o.target, "", "the axes and settings in the sweep file only (no --grid, --zip, --set, --derive)",
                           "options beside a sweep file");
    d = sweep::read_sweep_file(o.target);
  } else {
    d = sweep::definition_from_options(o.target, o.grid, o.zip, o.set, o.derive);
  }
  std::vector<std::string> fixed;
  for (const auto& [path, value] : d.fixed)
    if (!sweep::is_sim_path(path)) fixed.push_back(path + "=" + value.dump());
  const ir::Scenario base = ir::load_scenario(d.scenario, fixed);
  check_scenario_paths(d);
  std::vector<std::string> axes;
  for (const sweep::SweepAxis* a : d.axes()) axes.push_back(a->path);
  std::vector<sweep::PlotSpec> plots;
  for (const auto& p : o.plots) plots.push_back(sweep::parse_plot_spec(p, axes));
  const std::vector<sweep::SweepPoint> points = sweep::expand_points(d, sweep::BaseShape::of(base));

  // Processes: one, or the ranks of an MPI job.
  int launched_size = 0;
  const bool launched = sweep::MpiWorld::launched(launched_size);
  if ((o.mpi || launched) && !sweep::MpiWorld::built())
    throw CommandExit{kExitBadInput, fmt::format("error: {}: this tandem was built without MPI; install libopenmpi-dev and "
                                                 "openmpi-bin and rebuild (scripts/setup.sh), or run without mpirun",
                                                 o.mpi ? "--mpi" : fmt::format("started as one of {} MPI processes", launched_size))};
  std::unique_ptr<sweep::MpiWorld> world;
  if (o.mpi || launched) world = std::make_unique<sweep::MpiWorld>();
  const int rank = world ? world->rank() : 0, ranks = world ? world->size() : 1;
  const auto all_ok = [&](bool ok) { return world ? world->all_ok(ok) : ok; };

  const sweep::SweepDirectory dir(o.out);
  bool ok = true;
  std::string refusal;
  if (rank == 0) {
    try {
      // The base scenario as resolved: a changed scenario file makes another sweep too.
      json definition = d.to_json();
      definition["base_scenario"] = base.resolved;
      dir.prepare(definition);
    } catch (const io::InputError& e) {
      ok = false;
      refusal = e.what();
    }
  }
  if (!all_ok(ok)) throw CommandExit{kExitBadInput, rank == 0 ? "error: " + refusal : ""};

  const sweep::ScenarioCheck check = [](const ir::Scenario& s) { check_against_hardware(s); };
  sweep::RunCounts counts;
  std::string failure;
  try {
    counts = sweep::run_points(d.scenario, points, dir, check, {o.jobs, rank, ranks, !o.quiet && rank == 0});
  } catch (const std::exception& e) {
    ok = false;
    failure = e.what();
  }
  if (!all_ok(ok)) throw CommandExit{1, failure.empty() ? "" : "error: " + failure};
  if (rank != 0) return;

  const std::vector<json> records = sweep::gather_records(points, dir);
  io::write_output_file(dir.file("results.jsonl"), sweep::results_jsonl(records));
  io::write_output_file(dir.file("results.csv"), sweep::results_csv(records, axes));
  write_plots(dir, records, axes, plots);
  size_t fit = 0, oom = 0, refused = 0, failed = 0;
  for (const json& r : records) {
    if (r["status"] == sweep::kStatusRefused) ++refused;
    else if (r["status"] == sweep::kStatusFailed) ++failed;
    else if (r.value("out_of_memory", false)) ++oom;
    else ++fit;
  }
  fmt::print(stderr, "sweep: {} points ({} simulated now{}, {} already stored): {} fit in memory, {} out of memory, {} refused, {} failed\n",
             records.size(), counts.ran, ranks > 1 ? fmt::format(" by rank 0 of {}", ranks) : "", counts.stored, fit, oom,
             refused, failed);
  fmt::print(stderr, "sweep: {} and {}\n", dir.file("results.csv"), dir.file("results.jsonl"));
  if (o.top > 0) print_top(o, records, axes);
}

const RegisterCommand reg(25, "sweep", [](CLI::App& root) {
  auto opts = std::make_shared<SweepOptions>();
  CLI::App* cmd = root.add_subcommand(
      "sweep",
      "Simulate every point of a grid of scenario settings (what-if studies): results.jsonl, results.csv, SVG "
      "plots, a ranking; resumable, parallel on local cores (--jobs) and over MPI (mpirun -n K)");
  cmd->add_option("scenario", opts->target,
                  "Base scenario (file or embedded name) with --grid/--zip, or a sweep file (JSON, docs/sweep.md); "
                  "leave out to rank or plot the results already in --out");
  cmd->add_option("--grid", opts->grid, "An axis: path=v1,v2,... (every combination with the other grid axes; repeatable)");
  cmd->add_option("--zip", opts->zip, "An axis varied together with the other --zip axes (equal lengths; repeatable)");
  cmd->add_option("--set", opts->set, "A setting of every point, e.g. --set plan.comm_sms=24 (repeatable)");
  cmd->add_option("--derive", opts->derive,
                  "A derived value: keep_global_batch (the base's global batch, rounded to a multiple of dp x "
                  "micro-batch) or scale_global_batch (the base's x GPUs / base GPUs)");
  cmd->add_option("--out", opts->out, "Directory of the sweep's results (default sweep-results; reruns continue there)");
  cmd->add_option("--jobs", opts->jobs, "Points simulated at once on this machine (threads)")->check(integer_in(1, 1024));
  cmd->add_flag("--mpi", opts->mpi, "Share the points among MPI ranks (implied when started by mpirun)");
  cmd->add_option("--plot", opts->plots, "Also draw FIGURE:AXIS[:SERIES_AXIS] as DIR/plot-*.svg (repeatable)");
  cmd->add_option("--top", opts->top, "Print the best K points that fit in memory")->check(integer_in(1, 1'000'000));
  cmd->add_option("--by", opts->by, "The figure --top ranks by (default tokens_per_s_per_gpu)");
  cmd->add_flag("--quiet", opts->quiet, "No progress line");
  cmd->callback([opts] { run_sweep(*opts); });
});

}  // namespace
}  // namespace tandem::app
#endif  // TANDEM_SWEEP
