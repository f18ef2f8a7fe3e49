// `tandem inspect`, `simulate` and `run` with plan.tp: a plan with TP runs end to end (the CPU backend
// trains it), and a TP that does not divide what it splits is refused with exit code 2, one line naming
// plan.tp, what was expected and what was found.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;

namespace {

void check_refused(const std::string& args, const std::string& expected) {
  INFO(args);
  const auto r = run_tandem("inspect " + args);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("plan.tp"));
  CHECK_THAT(r.output, Catch::Contains(expected));
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') <= 1);
}

}  // namespace

TEST_CASE("tandem inspect and simulate run a plan with tensor parallelism", "[cli][tp]") {
  const auto r = run_tandem("inspect tiny --set plan.tp=2 --json --check", false);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  CHECK(j["plan"]["tp"] == 2);
  CHECK(j["plan"]["dp"] == 1);   // 4 GPUs / (pp 2 × tp 2)
  const auto s = run_tandem("simulate tiny --set plan.tp=2 --json", false);
  REQUIRE(s.exit_code == 0);
  CHECK(nlohmann::json::parse(s.output)["step_time_s"].get<double>() > 0);
}

TEST_CASE("tandem run trains the tiny model with tensor parallelism on the CPU backend", "[cli][tp]") {
  // pp 2 × tp 2 on tiny's 4 ranks (dp 1): two steps of the CPU backend, exit 0.
  const auto r = run_tandem("run tiny --set plan.tp=2 --steps 2", false);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("step 2:") && Catch::Contains("4 ranks"));
}

TEST_CASE("a TP that does not divide the heads, hidden size, FFN widths or scale-up domain is refused", "[cli][tp][errors]") {
  // tiny: 4 heads, hidden 64, dense FFN 128, shared expert 32, 4 GPUs per node.
  check_refused("tiny --set plan.tp=3 --set cluster.nodes=3", "a divisor of model.num_heads = 4, found 3");
  // A TP that does not divide a pipeline stage's GPUs is named, not the pp that does divide the world.
  check_refused("tiny --set plan.tp=3", "a tp that divides the world size 4 over pp = 2 (2 GPUs a stage), found 3");
  check_refused("tiny --set plan.tp=2 --set model.num_heads=3", "a divisor of model.num_heads = 3, found 2");
  check_refused("tiny --set plan.tp=2 --set model.hidden_size=65", "a divisor of model.hidden_size = 65, found 2");
  check_refused("tiny --set plan.tp=2 --set model.dense_intermediate=129", "a divisor of model.dense_intermediate = 129, found 2");
  check_refused("tiny --set plan.tp=2 --set model.moe_intermediate=33", "shared_experts × moe_intermediate) = 33, found 2");
  check_refused("tiny --set plan.tp=4 --set plan.pp=1 --set model.num_heads=8 --set cluster.gpus_per_node=2 --set cluster.nodes=2 "
                "--set cluster.nics_per_node=2 --set cluster.planes=2",
                "a divisor of the scale-up domain's 2 GPUs");
  // The CPU backend refuses the same TP (the scenario's check, before any step).
  const auto run = run_tandem("run tiny --set plan.tp=3 --set cluster.nodes=3 --steps 1");
  CHECK(run.exit_code == 2);
  CHECK_THAT(run.output, Catch::Contains("plan.tp") && Catch::Contains("a divisor of model.num_heads = 4, found 3"));
  // And a TP whose sequence split would cut sequences while the sequence-wise balance loss is on.
  const auto straddle = run_tandem("train tiny --set plan.tp=2 --set plan.micro_batch_seqs=1 --steps 1");
  CHECK(straddle.exit_code == 2);
  CHECK_THAT(straddle.output, Catch::Contains("plan.micro_batch_seqs") && Catch::Contains("a multiple of plan.tp = 2"));
  CHECK(std::count(straddle.output.begin(), straddle.output.end(), '\n') <= 1);
  // Beyond the field's range (the reader's message, with the path).
  const auto r = run_tandem("inspect tiny --set plan.tp=0");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("plan.tp"));
}
