// `tandem calibrate TRACE... --out FILE`: fits hw/'s cost models to measured timelines (tandem's own
// traces, or PyTorch-profiler traces per kind only): writes the calibration table (points by shape,
// per-class fits of the default model, fitted links) that `tandem simulate --calibration` reads, and
// prints what was fitted with its residuals (calib/, docs/calibrate.md).
#ifdef TANDEM_CALIB
#include <deque>
#include <memory>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "app/output_check.h"
#include "calib/calibrate.h"
#include "calib/calibration_report.h"
#include "io/output_file.h"
#include "trace/trace_reader.h"

namespace tandem::app {
namespace {

struct CalibrateCommandOptions {
  std::vector<std::string> traces;
  std::string out, device;
  int64_t warmup = -1;
  bool json = false;
};

void run_calibrate(const CalibrateCommandOptions& o) {
  check_output_file(o.out, "--out");
  std::deque<trace::Timeline> timelines;
  std::vector<calib::TraceInput> inputs;
  for (const std::string& path : o.traces) {
    try {
      timelines.push_back(trace::read_trace(path));
    } catch (const trace::TraceError& e) {
      throw CommandExit{kExitBadInput, fmt::format("error: {}", e.what())};
    }
    inputs.push_back({path, &timelines.back()});
  }
  calib::CalibrateOptions options;
  options.device = o.device;
  options.samples.warmup = o.warmup;
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
                  "The device model to fit, a GPU of the catalogue (default: the GPU of the traced scenario)");
  cmd->add_flag("--json", o->json, "Print the report as JSON");
  cmd->callback([o] { run_calibrate(*o); });
});

}  // namespace
}  // namespace tandem::app
#endif  // TANDEM_CALIB
