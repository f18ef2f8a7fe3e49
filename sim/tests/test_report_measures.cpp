// The report of a simulated step is trace/'s measures of the step's own timeline: written to Chrome
// trace JSON, read back and measured, the timeline gives the report's bubble, exposed communication
// and phases to the nanosecond (symmetric and full paths, tiny and DeepSeek-V3-shaped scenarios).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/report.h"
#include "sim/simulate.h"
#include "sim/timeline_sink.h"
#include "trace/measures.h"
#include "trace/trace_reader.h"
#include "trace/trace_writer.h"

using namespace tandem;

namespace {

void check_report_is_the_measures(const ir::StepProgram& program, sim::Mode mode) {
  const sim::StepProgramView view(program);
  sim::TimelineSink sink(program);
  sim::SimOptions options;
  options.mode = mode;
  options.sink = &sink;
  const sim::SimResult result = sim::simulate(view, program.cluster(), options);
  const sim::Report report = sim::make_report(result);
  const trace::Timeline back = trace::parse_trace(trace::write_trace_string(sink.timeline(sim::to_string(mode))));
  const trace::Measures m = trace::measure_timeline(back);
  CHECK(m.step.start_ns == 0);
  CHECK(m.step_ns == result.step_ns);
  REQUIRE(m.ranks.size() == result.ranks.size());
  std::vector<double> weights;
  for (size_t i = 0; i < m.ranks.size(); ++i) {
    const trace::RankMeasures& a = result.ranks[i].measures;
    const trace::RankMeasures& b = m.ranks[i];
    INFO("rank " << a.pid);
    REQUIRE(a.pid == b.pid);
    CHECK(a.stage == b.stage);
    CHECK(a.end_ns == b.end_ns);
    CHECK(a.forward_ns == b.forward_ns);
    CHECK(a.backward_input_ns == b.backward_input_ns);
    CHECK(a.backward_weight_ns == b.backward_weight_ns);
    CHECK(a.optimizer_ns == b.optimizer_ns);
    CHECK(a.other_compute_ns == b.other_compute_ns);
    CHECK(a.wait_ns == b.wait_ns);
    CHECK(a.tail_ns == b.tail_ns);
    CHECK(a.steady_ns == b.steady_ns);
    CHECK(b.compute_ns() + b.bubble_ns() + b.exposed_comm_ns() == m.step_ns);
    weights.push_back(result.ranks[i].weight);
  }
  // The report's figures are the weighted means of the same numbers, bit for bit.
  const trace::MeanMeasures mean = trace::mean_measures(m.ranks, weights);
  CHECK(report.bubble_s == mean.bubble_ns * 1e-9);
  CHECK(report.exposed_comm_s == mean.exposed_comm_ns * 1e-9);
  CHECK(report.forward_s == mean.forward_ns * 1e-9);
  CHECK(report.optimizer_s == mean.optimizer_ns * 1e-9);
  const auto stages = trace::stage_measures(m.ranks, weights);
  REQUIRE(stages.size() == report.stages.size());
  for (size_t i = 0; i < stages.size(); ++i) {
    CHECK(report.stages[i].bubble_s == stages[i].mean.bubble_ns * 1e-9);
    CHECK(report.stages[i].exposed_comm_s == stages[i].mean.exposed_comm_ns * 1e-9);
  }
}

}  // namespace

TEST_CASE("the report is the measures of the simulated timeline: tiny", "[sim][report][measures]") {
  const ir::StepProgram program(ir::load_scenario("tiny"));
  check_report_is_the_measures(program, sim::Mode::Symmetric);
  check_report_is_the_measures(program, sim::Mode::Full);
}

TEST_CASE("the report is the measures of the simulated timeline: DeepSeek-V3 shapes on 128 GPUs",
          "[sim][report][measures]") {
  const std::vector<std::string> reduced = {"cluster.nodes=16", "plan.pp=4",          "plan.ep=32",
                                            "plan.global_batch_seqs=256", "model.num_layers=8", "model.first_dense_layers=1"};
  const ir::StepProgram program(ir::load_scenario("deepseek-v3-pretrain", reduced));
  check_report_is_the_measures(program, sim::Mode::Symmetric);
}
