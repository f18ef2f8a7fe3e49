// `tandem simulate SCENARIO`: replays the scenario's training step on the model of its cluster and
// prints the report (table, or JSON with --json); --trace writes the Timeline (Chrome trace JSON).
// What-if options: stragglers, degraded or failed links, a calibration table; --full/--symmetric/--classes
// choose the path (default: symmetric when routing is balanced and nothing is degraded, else classes split
// where stragglers and faults set ranks apart, full only when every rank is a class of its own).
#ifdef TANDEM_SIM
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cmd_simulate_trace.h"
#include "app/command_registry.h"
#include "app/output_check.h"
#include "app/program_build.h"
#include "hw/calibration.h"
#include "hw/gpu_catalogue.h"
#include "hw/host_spec.h"
#include "io/output_file.h"
#include "io/progress_line.h"
#include "io/standard_output.h"
#include "ir/chunk_pair.h"
#include "ir/step_program.h"
#include "sim/expert_load.h"
#include "sim/goodput.h"
#include "sim/rank_classes.h"
#include "sim/report.h"
#include "sim/simulate.h"
#include "trace/trace_writer.h"

namespace tandem::app {
namespace {

struct SimulateOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  bool json = false, full = false, symmetric = false, classes = false, goodput = false;
  std::string trace_file, trace_ranks, calibration, expert_load, host;
  std::vector<std::string> stragglers, degraded, failed;
  int64_t trace_pair = -1;   // --trace-pair STAGE; -1: the whole step
  bool progress = false;     // progress lines also where stderr is not a terminal
  double time_limit_s = 0;   // --time-limit; 0: none
};

// The scenario, with a per-expert load file (--expert-load, or plan.routing.load_file) read into
// plan.routing.expert_load.
ir::Scenario load_with_routing(const SimulateOptions& o) {
  ir::Scenario s = ir::load_scenario(o.scenario, o.overrides);
  check_against_hardware(s);
  std::string file = o.expert_load;
  if (file.empty() && s.plan.routing.kind == ir::RoutingKind::File && s.plan.routing.expert_load.empty())
    file = s.plan.routing.load_file;
  if (file.empty()) return s;
  const std::vector<double> loads = sim::load_expert_load(file, s.model.routed_experts);   // io::InputError: exit 2
  // The loads replace the whole routing model: a field of the scenario's own kind (a zipf exponent)
  // left beside kind "loads" would be refused as a field of another kind.
  const nlohmann::json routing = {{"kind", "loads"}, {"expert_load", loads}, {"load_file", file}};
  std::vector<std::string> overrides = o.overrides;
  overrides.push_back("plan.routing=" + routing.dump());
  return ir::load_scenario(o.scenario, overrides);
}

void run_simulate(const SimulateOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  const ir::StepProgram program = make_step_program(load_with_routing(o));
  sim::SimOptions options;
  // The limit counts from the command's start; the replay checks it as it runs (docs/simulator.md).
  if (o.time_limit_s > 0)
    options.deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(std::min(o.time_limit_s, 1e9)));   // 1e9 s: past any run
  options.mode = o.full        ? sim::Mode::Full
                 : o.symmetric ? sim::Mode::Symmetric
                 : o.classes   ? sim::Mode::Classes
                               : sim::Mode::Auto;
  hw::CalibrationTable calibration;
  hw::HostSpec host;
  const bool on_host = hw::is_host_device(program.cluster().gpu);
  if (on_host) {
    // No silent default: the machine is what `tandem probe` measured, or the command says how to get it.
    std::string path = o.host.empty() ? hw::default_host_spec_path() : o.host;
    if (o.host.empty() && (path.empty() || !std::filesystem::exists(path)))
      throw CommandExit{kExitBadInput,
                        fmt::format("error: --host: expected the host description that cluster.gpu \"host\" needs "
                                    "(run `tandem probe`, which writes {}, or give --host FILE), found {}",
                                    path.empty() ? "$HOME/.config/tandem/host.json" : path,
                                    path.empty() ? "neither $XDG_CONFIG_HOME nor $HOME set" : "no such file")};
    host = hw::load_host_spec(path);   // io::InputError: exit 2
    options.host = &host;
  } else if (!o.host.empty()) {
    throw CommandExit{kExitBadInput, fmt::format("error: --host: expected a scenario on cluster.gpu \"host\" "
                                                 "(e.g. --set cluster=host), found cluster.gpu \"{}\"",
                                                 program.cluster().gpu)};
  }
  try {
    for (const auto& s : o.stragglers) options.stragglers.push_back(sim::parse_straggler(s));
    for (const auto& s : o.degraded) options.link_faults.push_back(hw::parse_link_fault(s, false));
    for (const auto& s : o.failed) options.link_faults.push_back(hw::parse_link_fault(s, true));
    if (!o.calibration.empty()) {
      calibration = hw::CalibrationTable::load(o.calibration);
      // Times measured on one GPU say nothing of another.
      const bool same_device = on_host ? hw::is_host_device(calibration.gpu())
                                       : hw::find_gpu(calibration.gpu()) == hw::find_gpu(program.cluster().gpu);
      if (!calibration.gpu().empty() && !same_device)
        throw std::invalid_argument(fmt::format("{}: gpu: expected the scenario's GPU {}, found a table measured on {}",
                                                o.calibration, program.cluster().gpu, calibration.gpu()));
      options.calibration = &calibration;
    }
  } catch (const std::invalid_argument& e) {
    throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
  }
  const sim::StepProgramView view(program);
  std::unique_ptr<TimelineSink> sink;
  std::optional<ir::ChunkPair> trace_pair;
  if (!o.trace_file.empty()) {
    sink = std::make_unique<TimelineSink>(program);
    options.sink = sink.get();
    try {
      if (o.trace_pair >= 0) {
        trace_pair = ir::steady_chunk_pair(program, o.trace_pair, "--trace-pair");
        options.trace_ranks = {view.representative(size_t(o.trace_pair))};
      } else if (!o.trace_ranks.empty()) {
        options.trace_ranks = io::parse_rank_list(o.trace_ranks, program.num_ranks(), "--trace-ranks");
      } else if (options.mode == sim::Mode::Full && program.num_ranks() > 64) {
        // A whole large step is gigabytes of trace: keep one rank per stage unless asked.
        for (size_t role = 0; role < program.roles().size(); ++role) options.trace_ranks.push_back(view.representative(role));
        fmt::print(stderr, "note: tracing one rank per stage ({} ranks); choose others with --trace-ranks\n",
                   options.trace_ranks.size());
      }
    } catch (const std::invalid_argument& e) {
      throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
    }
    // A timeline is held in memory before it is written (about 500 bytes per event with its payload
    // args: 374 MB for DeepSeek-V3's 758,420): refuse sizes that would not fit rather than run out of
    // memory at the end.
    // The path the replay will take (sim::choose_path, as simulate() takes it): one rank per role, one
    // per class, or every rank. A path that does not fit is refused below by simulate(), with its message.
    sim::PathChoice path;
    try {
      path = sim::choose_path(view, program.cluster(), options);
    } catch (const std::invalid_argument& e) {
      throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
    }
    double events = 0;
    if (options.trace_ranks.empty() && path.mode == sim::Mode::Classes) {
      for (const auto& ranks : path.classes.ranks) events += double(program.program_of(ranks.front()).ops.size());
    } else if (options.trace_ranks.empty()) {
      for (size_t role = 0; role < program.roles().size(); ++role) {
        std::vector<int64_t> ranks;
        view.ranks_of_role(role, ranks);
        events += double(program.roles()[role].ops.size()) *
                  (path.mode == sim::Mode::Symmetric ? 1.0 : double(ranks.size()));
      }
    } else {
      for (int64_t r : options.trace_ranks) events += double(program.program_of(r).ops.size());
    }
    constexpr double kMaxTraceEvents = 12e6;
    if (events > kMaxTraceEvents)
      throw CommandExit{kExitBadInput,
                        fmt::format("error: the timeline would hold {:.0f} events (about {:.1f} GB in memory); keep "
                                    "fewer ranks with --trace-ranks (at most {:.0f} events)",
                                    events, events * 500e-9, kMaxTraceEvents)};
    check_output_file(o.trace_file, "--trace");
  }
  sim::SimResult result;
  try {
    // Large clusters on the full path take seconds to minutes: a progress line on a terminal (lines
    // into a log with --progress): simulated time, events and their rate, ops issued, time left.
    io::ProgressLine progress("simulate", true, o.progress);
    options.progress = [&progress](const sim::SimProgress& p) {
      progress.update_text([&p] { return sim::progress_text("simulate", p); }, p.finished);
    };
    // Links fitted by `tandem calibrate` set the cluster's NVLink and IB efficiency and latency.
    ir::ClusterConfig cluster = program.cluster();
    if (options.calibration) options.calibration->apply_links(cluster, options.network);
    result = sim::simulate(view, cluster, options);
  } catch (const std::invalid_argument& e) {
    throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
  } catch (const sim::TimeLimitReached& e) {
    throw CommandExit{kExitTimeLimit, fmt::format("error: --time-limit {:g} s: {}; nothing written (exit code {})",
                                                  o.time_limit_s, e.what(), kExitTimeLimit)};
  }
  sim::Report report = sim::make_report(result);
  report.balance = sim::stage_balance(program);
  // Both outputs or neither: the trace is written to its temporary file first (a full disk there prints no
  // report), the report is printed and flushed, and only then is the trace renamed into place (a report
  // that cannot be printed leaves no trace).
  std::optional<io::OutputFile> trace_out;
  size_t trace_events = 0;
  if (sink) {
    trace::Timeline tl = sink->timeline(report.mode);
    if (trace_pair) keep_chunk_pair(tl, program, options.trace_ranks.front(), *trace_pair);
    trace_out.emplace(o.trace_file);
    trace::write_trace(tl, *trace_out);
    trace_events = tl.events.size();
  }
  // NVLink follows the GPU unless the scenario sets it; a set value that differs is simulated as set and said.
  const double nvlink = hw::nvlink_bytes_per_s(program.cluster());
  const hw::GpuSpec* spec = hw::find_gpu(program.cluster().gpu);
  const double gpu_nvlink = spec ? spec->nvlink_bytes_per_s : nvlink;
  const bool nvlink_set = program.cluster().nvlink_bytes_per_s > 0;
  if (o.json) {
    nlohmann::json j = sim::to_json(report);
    j["nvlink"] = {{"bytes_per_s", nvlink}, {"source", nvlink_set ? "cluster.nvlink_bytes_per_s" : "gpu"},
                   {"gpu_bytes_per_s", gpu_nvlink}, {"differs_from_gpu", nvlink != gpu_nvlink}};
    // The settings it ran: the scenario with bases and presets expanded and --set applied (docs/simulator.md).
    j["settings"] = program.scenario().resolved;
    if (o.goodput) j["goodput"] = sim::to_json(sim::goodput(sim::goodput_inputs(program, report.step_time_s, report.tokens_per_step)));
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{}", sim::to_table(report));
    if (nvlink != gpu_nvlink)
      fmt::print("{:<32} {:.0f} GB/s per GPU as cluster.nvlink_bytes_per_s sets it; the {}'s is {:.0f} GB/s\n", "NVLink (what-if)",
                 nvlink * 1e-9, program.cluster().gpu, gpu_nvlink * 1e-9);
    if (o.goodput) fmt::print("{}", sim::to_table(sim::goodput(sim::goodput_inputs(program, report.step_time_s, report.tokens_per_step))));
  }
  if (trace_out) {
    if (!o.json) fmt::print("{:<32} {} ({} events)\n", "timeline", o.trace_file, trace_events);
    io::flush_standard_output();
    trace_out->commit();
  }
  fmt::print(stderr, "simulated in {:.3f} s\n", report.wall_s);
}

const RegisterCommand reg(20, "simulate", [](CLI::App& root) {
  auto opts = std::make_shared<SimulateOptions>();
  CLI::App* cmd = root.add_subcommand(
      "simulate",
      "Simulate one training step of a scenario on its cluster: step time, tokens/s, MFU, bubbles, exposed "
      "communication, memory per stage");
  cmd->add_option("scenario", opts->scenario, "Scenario JSON file, or an embedded scenario name (tandem presets)")
      ->required();
  cmd->add_option("--set", opts->overrides, "Override a field, e.g. --set plan.pp=8 (repeatable)");
  cmd->add_flag("--json", opts->json, "Print the report as JSON");
  cmd->add_flag("--goodput", opts->goodput,
                "Add the goodput at the scenario's scale: interruptions per day, checkpoint interval, effective "
                "training-time fraction, tokens per day, days to train reliability.train_tokens (docs/goodput.md)");
  auto* full = cmd->add_flag("--full", opts->full, "Simulate every rank (the class path gives the same report, faster)");
  auto* sym = cmd->add_flag("--symmetric", opts->symmetric,
                            "Simulate one rank per pipeline stage (balanced routing only; the default when it applies)");
  auto* cls = cmd->add_flag("--classes", opts->classes,
                            "Simulate one rank per class of ranks that behave alike (split where stragglers or faults "
                            "set ranks apart; the default unless the symmetric path applies)");
  full->excludes(sym);
  full->excludes(cls);
  sym->excludes(cls);
  auto* trace = cmd->add_option("--trace", opts->trace_file, "Write the timeline (Chrome trace JSON, Perfetto) to FILE");
  auto* trace_ranks = cmd->add_option("--trace-ranks", opts->trace_ranks,
                                      "Ranks to keep in the timeline: 'all' or a list like 0,128-135 (default: every "
                                      "simulated rank, one per stage for full runs over 64 GPUs)");
  cmd->add_option("--trace-pair", opts->trace_pair,
                  "Keep in the timeline only one steady-state forward+backward chunk pair (DualPipe) of pipeline stage "
                  "STAGE's first rank, without pipeline send/receive, times from the pair's start: the window a "
                  "profiler capture of one pair holds")
      ->check(integer_in(0, ir::kMaxPipelineRanks))
      ->excludes(trace_ranks)
      ->needs(trace);
  cmd->add_option("--straggler", opts->stragglers, "A slow GPU, RANK:FACTOR, e.g. 17:1.2 (repeatable)");
  cmd->add_option("--degrade-link", opts->degraded,
                  "A slower link: nic:GPU=F, nvlink:GPU=F or leaf:PLANE.LEAF=F with 0 < F <= 1 (repeatable)");
  cmd->add_option("--fail-link", opts->failed, "A failed NIC or leaf link: nic:GPU or leaf:PLANE.LEAF (repeatable)");
  cmd->add_option("--calibration", opts->calibration, "Calibration table (JSON, shape -> measured time)");
  cmd->add_option("--host", opts->host,
                  "Host description written by `tandem probe` for cluster.gpu \"host\" (default: the file probe "
                  "writes, $HOME/.config/tandem/host.json)");
  cmd->add_flag("--progress", opts->progress,
                "Print progress lines on stderr (simulated time, events, events/s, share of ops, time left) also "
                "when it is not a terminal (on a terminal one line is always shown for runs over a second)");
  cmd->add_option("--time-limit", opts->time_limit_s,
                  "End the run after SECONDS of wall time (from the command's start) with one line on stderr and "
                  "exit code 3, writing no report or timeline")
      ->check(number_above(0, false));
  cmd->add_option("--expert-load", opts->expert_load,
                  "Skewed routing from a file of per-expert loads (JSON array or numbers, one per routed expert)");
  cmd->callback([opts] { run_simulate(*opts); });
});

}  // namespace
}  // namespace tandem::app
#endif  // TANDEM_SIM
