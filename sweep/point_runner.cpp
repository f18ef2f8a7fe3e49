// One sweep point simulated, its outcome recorded (point_runner.h).
#include "sweep/point_runner.h"

#include <stdexcept>

#include <fmt/format.h>

#include "hw/stage_cost.h"
#include "io/input_error.h"
#include "ir/step_program.h"
#include "sim/expert_load.h"
#include "sim/goodput.h"
#include "sim/report.h"
#include "sim/simulate.h"

namespace tandem::sweep {

using nlohmann::json;

namespace {

// The specs of a sim.* setting: a string, an array of strings, or null for none.
std::vector<std::string> specs(const json& sim, const std::string& path) {
  std::vector<std::string> out;
  if (!sim.contains(path) || sim[path].is_null()) return out;
  const json& v = sim[path];
  auto one = [&](const json& s) {
    if (!s.is_string())
      throw std::invalid_argument(fmt::format("{}: expected a string such as \"17:1.2\" or \"nic:300\", found {}", path, s.dump()));
    if (s.get<std::string>() != "none") out.push_back(s.get<std::string>());
  };
  if (v.is_array()) for (const json& s : v) one(s);
  else one(v);
  return out;
}

sim::SimOptions options_of(const SweepPoint& p) {
  sim::SimOptions o;
  for (const auto& s : specs(p.sim, "sim.straggler")) o.stragglers.push_back(sim::parse_straggler(s));
  for (const auto& s : specs(p.sim, "sim.degrade_link")) o.link_faults.push_back(hw::parse_link_fault(s, false));
  for (const auto& s : specs(p.sim, "sim.fail_link")) o.link_faults.push_back(hw::parse_link_fault(s, true));
  const auto mode = specs(p.sim, "sim.mode");
  if (mode.size() > 1) throw std::invalid_argument("sim.mode: expected one of auto, full, symmetric, classes, found a list");
  if (!mode.empty()) {
    if (mode[0] == "full") o.mode = sim::Mode::Full;
    else if (mode[0] == "symmetric") o.mode = sim::Mode::Symmetric;
    else if (mode[0] == "classes") o.mode = sim::Mode::Classes;
    else if (mode[0] == "auto") o.mode = sim::Mode::Auto;
    else throw std::invalid_argument(fmt::format("sim.mode: expected one of auto, full, symmetric, classes, found \"{}\"", mode[0]));
  }
  return o;
}

// The scenario, with a per-expert load file (plan.routing.load_file) read into plan.routing.expert_load,
// as `tandem simulate` reads it.
ir::Scenario load_point_scenario(const std::string& scenario, const SweepPoint& p) {
  ir::Scenario s = ir::load_scenario(scenario, p.overrides);
  if (s.plan.routing.kind != ir::RoutingKind::File || !s.plan.routing.expert_load.empty()) return s;
  const std::string file = s.plan.routing.load_file;
  const json routing = {{"kind", "loads"}, {"expert_load", sim::load_expert_load(file, s.model.routed_experts)}, {"load_file", file}};
  std::vector<std::string> overrides = p.overrides;
  overrides.push_back("plan.routing=" + routing.dump());
  return ir::load_scenario(scenario, overrides);
}

std::string out_of_memory_reason(const sim::Report& r) {
  std::string stages;
  int64_t peak = 0;
  for (const sim::StageReport& st : r.stages)
    if (st.out_of_memory) {
      stages += (stages.empty() ? "" : ", ") + std::to_string(st.stage);
      peak = std::max(peak, st.memory_peak_bytes);
    }
  return fmt::format("out of memory: stage{} {} need{} up to {:.1f} GiB of the GPU's {:.1f} GiB",
                     stages.find(',') == std::string::npos ? "" : "s", stages,
                     stages.find(',') == std::string::npos ? "s" : "", double(peak) / double(1ll << 30),
                     double(r.hbm_bytes) / double(1ll << 30));
}

}  // namespace

void check_sim_setting(const std::string& path, const json& value, const std::string& where) {
  SweepPoint p;
  p.sim = {{path, value}};
  try {
    options_of(p);
  } catch (const std::invalid_argument& e) {
    throw io::InputError(where, path, "a setting the simulator reads", e.what());
  }
}

json run_point(const std::string& scenario, const SweepPoint& point, const ScenarioCheck& check) {
  json record = point.describe();
  record["status"] = kStatusOk;
  record["reason"] = "";
  record["out_of_memory"] = false;
  record["report"] = nullptr;
  try {
    const sim::SimOptions options = options_of(point);
    const ir::Scenario s = load_point_scenario(scenario, point);
    if (check) check(s);
    // Built as `tandem simulate` builds it (app/program_build.h): the default split balanced on the cost model.
    const ir::StepProgram program(s, hw::modelled_op_cost(s));
    const sim::StepProgramView view(program);
    sim::Report report = sim::make_report(sim::simulate(view, program.cluster(), options));
    report.balance = sim::stage_balance(program);
    // The report as `tandem simulate --json --goodput` prints it, less the echoed settings (the
    // point's axes and overrides say them, sweep.json holds the base): goodput figures are columns too.
    json j = sim::to_json(report);
    j["goodput"] = sim::to_json(sim::goodput(sim::goodput_inputs(program, report.step_time_s, report.tokens_per_step)));
    record["report"] = std::move(j);
    record["out_of_memory"] = report.out_of_memory;
    if (report.out_of_memory) record["reason"] = out_of_memory_reason(report);
  } catch (const io::InputError& e) {
    record["status"] = kStatusRefused;
    record["reason"] = e.what();
  } catch (const std::invalid_argument& e) {
    record["status"] = kStatusRefused;
    record["reason"] = e.what();
  } catch (const std::exception& e) {
    record["status"] = kStatusFailed;
    record["reason"] = e.what();
  }
  return record;
}

}  // namespace tandem::sweep
