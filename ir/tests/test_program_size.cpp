// The program-size estimate against the programs it estimates (within 2x of their op instances and
// bytes), and the refusal of plans whose program this machine could not hold, before any is built.
#include <catch2/catch.hpp>

#include "ir/program_size.h"
#include "ir/scenario.h"
#include "ir/step_program.h"

using namespace tandem::ir;

namespace {
void check_estimate(const Scenario& s) {
  const ProgramSizeEstimate e = estimate_program_size(s);
  const StepProgram program(s);
  const double ops = double(program.total_op_instances()), bytes = double(program.memory_footprint_bytes());
  INFO(s.name << ": estimated " << e.op_instances << " ops and " << e.bytes << " bytes, built " << ops << " and " << bytes);
  CHECK(e.op_instances >= ops / 2);
  CHECK(e.op_instances <= ops * 2);
  CHECK(e.bytes >= bytes / 2);
  CHECK(e.bytes <= bytes * 2);
}

std::string refusal(const std::string& scenario, const std::vector<std::string>& overrides) {
  try {
    load_scenario(scenario, overrides);
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the program-size estimate is within 2x of the built program", "[ir][program_size]") {
  check_estimate(load_scenario("tiny"));
  check_estimate(load_scenario("tiny", {"plan.schedule=dualpipev", "plan.global_batch_seqs=64", "model.num_layers=4"}));
  check_estimate(load_scenario("deepseek-v3-pretrain"));
  check_estimate(load_scenario("deepseek-v3-pretrain", {"plan.schedule=dualpipev"}));
  check_estimate(load_scenario("tiny", {"plan.schedule=zb1p", "plan.global_batch_seqs=4096"}));
}

TEST_CASE("plans whose program this machine cannot hold are refused before it is built", "[ir][program_size]") {
  // The tiny model with 2^20 micro-batches per pipeline (2^20 x 4 sequences x dp 2): once 196 s and
  // 6.9 GB before bad_alloc.
  const std::string many = refusal("tiny", {"plan.global_batch_seqs=8388608"});
  CHECK_THAT(many, Catch::Contains("at plan: expected a step program of at most 50.0 M ops") &&
                       Catch::Contains("1048576 micro-batches"));
  // 2048 stages of 4096 layers: grew without end.
  const std::string deep = refusal("tiny", {"cluster.nodes=1024", "cluster.gpus_per_node=4", "plan.pp=2048", "plan.ep=1",
                                            "model.num_layers=4096", "plan.global_batch_seqs=8192"});
  CHECK_THAT(deep, Catch::Contains("at plan: expected a step program") && Catch::Contains("4096 layers in 2048 chunks (pp 2048)"));
  // Just under the bound is accepted.
  CHECK_NOTHROW(load_scenario("tiny", {"plan.global_batch_seqs=8192"}));
}
