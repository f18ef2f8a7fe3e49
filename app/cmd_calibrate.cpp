// `tandem calibrate TRACE... --out FILE`: fits hw/'s cost models to measured timelines (tandem's own
// traces, or PyTorch-profiler traces per kind only): writes the calibration table (points by shape,
// per-class fits of the default model, fitted links) that `tandem simulate --calibration` reads, and
// prints what was fitted with its residuals (calib/, docs/calibrate.md).
#ifdef TANDEM_CALIB
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "app/output_check.h"
#include "calib/calibrate.h"
#include "calib/calibration_report.h"
#include "hw/host_spec.h"
#include "io/output_file.h"
#include "trace/kineto_map.h"
#include "trace/trace_reader.h"

namespace tandem::app {
namespace {

struct CalibrateCommandOptions {
  std::vector<std::string> traces;
  std::string out, device, host, map, shapes;
  int64_t warmup = -1;
  bool json = false;
};

void run_calibrate(const CalibrateCommandOptions& o) {
  check_output_file(o.out, "--out");
  std::optional<trace::KinetoMap> map;
  if (!o.map.empty()) map = trace::load_kineto_map(o.map);   // io::InputError: exit 2
  std::deque<trace::Timeline> timelines;
  std::vector<calib::TraceInput> inputs;
  for (const std::string& path : o.traces) {
    try {
      timelines.push_back(trace::read_trace(path, nullptr, map ? &*map : nullptr));
    } catch (const trace::TraceError& e) {
      throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
    }
    inputs.push_back({path, &timelines.back()});
  }
  calib::CalibrateOptions options;
  options.device = o.device;
  // The host device's model is the description `tandem probe` wrote (--host, else probe's default place).
  const auto gpu = timelines.front().metadata.extra.find("gpu");
  const bool on_host = o.device.empty() ? gpu != timelines.front().metadata.extra.end() && hw::is_host_device(gpu->second)
                                        : hw::is_host_device(o.device);
  std::optional<hw::HostSpec> host;
  if (!o.host.empty() && !on_host)
    throw CommandExit{kExitBadInput, "error: --host: expected traces of the host device (cluster.gpu \"host\") or "
                                     "--device host, found another device"};
  if (on_host) {
    const std::string path = o.host.empty() ? hw::default_host_spec_path() : o.host;
    if (!o.host.empty() || (!path.empty() && std::filesystem::exists(path))) host = hw::load_host_spec(path);
    if (host) options.host = &*host;
  }
  options.samples.warmup = o.warmup;
  // A Kineto trace's shapes: tandem's own trace of the same step, lined up class by class.
  std::optional<trace::Timeline> shapes;
  if (!o.shapes.empty()) {
    try {
      shapes = trace::read_trace(o.shapes, nullptr, nullptr);
    } catch (const trace::TraceError& e) {
      throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
    }
    options.shapes = &*shapes;
    options.shapes_path = o.shapes;
  }
  const calib::Calibration c = calib::calibrate(inputs, options);   // io::InputError: exit 2
  io::write_output_file(o.out, calib::calibration_file(c).dump(1) + "\n");
  if (o.json) {
    nlohmann::ordered_json j = calib::calibration_report_json(c);
    j["out"] = o.out;
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{}", calib::calibration_table(c));
    fmt::print("\n{:<14} {} ({} points, {} fitted classes, {} fitted links)\n", "table", o.out, c.samples.shapes.size(),
               [&] {
                 size_t n = 0;
                 for (const auto& f : c.classes) n += f.fit ? 1 : 0;
                 return n;
               }(),
               [&] {
                 size_t n = 0;
                 for (const auto& l : c.links) n += l.fit ? 1 : 0;
                 return n;
               }());
  }
}

const RegisterCommand reg(45, "calibrate", [](CLI::App& root) {
  auto o = std::make_shared<CalibrateCommandOptions>();
  CLI::App* cmd = root.add_subcommand(
      "calibrate",
      "Fit the simulator's cost models to measured traces: a calibration table of shape -> time, the default "
      "model's overhead and efficiency per op class, link bandwidth and latency, with the fits' residuals");
  cmd->add_option("traces", o->traces, "Measured traces (tandem run --trace; PyTorch-profiler traces per kind only)")
      ->required();
  cmd->add_option("--out", o->out, "Write the calibration table (JSON) to FILE")->required();
  cmd->add_option("--warmup", o->warmup,
                  "Steps dropped at the start of each trace (default: 1 when it holds 3 or more, else 0)")
      ->check(integer_in(0, 1000000));
  cmd->add_option("--device", o->device,
                  "The device model to fit, a GPU of the catalogue or host (default: the GPU of the traced scenario)");
  cmd->add_option("--map", o->map,
                  "Kineto mapping file (kernel name patterns -> op kinds, stream roles, phases; default: the built-in "
                  "map, docs/timeline.md)");
  cmd->add_option("--host", o->host,
                  "Host description written by `tandem probe`, the model of the host device (default: the file probe "
                  "writes, $HOME/.config/tandem/host.json)");
  cmd->add_option("--shapes", o->shapes,
                  "tandem's own trace of the step a Kineto trace measured (simulate --trace-pair): its kernels are "
                  "lined up with these ops by kernel class, giving points by shape and per-class fits");
  cmd->add_flag("--json", o->json, "Print the report as JSON");
  cmd->callback([o] { run_calibrate(*o); });
});

}  // namespace
}  // namespace tandem::app
#endif  // TANDEM_CALIB
