// `tandem inspect` and `tandem simulate` with the plans of Megatron-LM recipes: interleaved 1F1B with
// virtual stages, recomputation by module and the BF16 recipe run end to end; virtual stages that do
// not divide the layers per stage, an unknown recompute module and an unknown precision recipe end
// with exit code 2 and one line naming the JSON path, what was expected and what was found.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;

namespace {

void check_refused(const std::string& args, const std::string& path, const std::string& expected, const std::string& found) {
  INFO(args);
  const auto r = run_tandem("inspect " + args);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("at " + path + ":"));
  CHECK_THAT(r.output, Catch::Contains(expected));
  CHECK_THAT(r.output, Catch::Contains(found));
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') <= 1);
}

}  // namespace

TEST_CASE("tandem inspect and simulate run interleaved 1F1B, recomputation by module and BF16", "[cli][plans]") {
  const auto r = run_tandem("inspect tiny --set plan.schedule=interleaved --set plan.virtual_stages=2 --json --check", false);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  CHECK(j["plan"]["schedule"] == "interleaved");
  for (const char* set : {"--set plan.schedule=interleaved --set plan.virtual_stages=2", "--set plan.recompute=[\\\"full\\\"]",
                          "--set plan.precision=bf16"}) {
    INFO(set);
    const auto s = run_tandem(std::string("simulate tiny --json ") + set, false);
    REQUIRE(s.exit_code == 0);
    CHECK(nlohmann::json::parse(s.output)["step_time_s"].get<double>() > 0);
  }
}

TEST_CASE("bad virtual stages, recompute modules and precision recipes are refused with their path", "[cli][plans][errors]") {
  // tiny: 4 layers; pp 2 gives 2 layers per stage.
  check_refused("tiny --set plan.schedule=interleaved --set plan.virtual_stages=3", "plan.virtual_stages",
                "a divisor of the 2 layers per stage (4 layers over pp = 2)", "found 3");
  check_refused("tiny --set plan.schedule=interleaved", "plan.virtual_stages", "at least 2 with schedule \"interleaved\"", "found 1");
  check_refused("tiny --set plan.virtual_stages=2", "plan.virtual_stages", "1 unless plan.schedule is \"interleaved\"",
                "found 2 with schedule \"1f1b\"");
  check_refused("tiny --set plan.recompute=[\\\"norm\\\",\\\"attention\\\"]", "plan.recompute[1]",
                "a module name (norm, mla_up_proj, core_attn, moe_act, mlp, full)", "found the string \"attention\"");
  check_refused("tiny --set plan.precision=fp4", "plan.precision", "a recipe (fp8, bf16)", "found the string \"fp4\"");
}
