// The machines end to end: `tandem presets` lists and shows the machine presets (inspect names the scale-up
// domain), `tandem simulate` flags every figure of a GPU that borrows the H800's efficiencies (table '*' and
// the JSON borrowed_efficiency object) and not the H800's, and a scale-up domain that does not divide the GPU
// count is exit code 2 with one line naming the JSON path, what was expected and what was found.
#include <algorithm>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;

TEST_CASE("tandem presets lists and shows the machine presets", "[cli][presets][machines]") {
  const auto list = run_tandem("presets", false);
  REQUIRE(list.exit_code == 0);
  for (const char* name : {"b200", "gb200-nvl72", "gb300-nvl72", "h20", "mi300x", "mi325x", "mi355x", "ascend-910b",
                           "ascend-910c", "cloudmatrix384", "a100"})
    CHECK_THAT(list.output, Catch::Contains(std::string("clusters/") + name + "\n"));
  const auto nvl72 = run_tandem("presets --show clusters/gb200-nvl72", false);
  REQUIRE(nvl72.exit_code == 0);
  const auto c = nlohmann::json::parse(nvl72.output);
  CHECK(c["gpu"] == "GB200");
  CHECK(c["gpus_per_domain"] == 72);
  CHECK(c["nodes"].get<int>() * c["gpus_per_node"].get<int>() == 2304);
  const auto mesh = run_tandem("presets --show clusters/mi300x", false);
  REQUIRE(mesh.exit_code == 0);
  CHECK(nlohmann::json::parse(mesh.output)["scaleup_fabric"] == "mesh");
  // inspect names the domain when it is not one switched server.
  const auto inspect = run_tandem("inspect deepseek-v3-pretrain --set cluster=gb200-nvl72 --set plan.pp=18", false);
  REQUIRE(inspect.exit_code == 0);
  CHECK_THAT(inspect.output, Catch::Contains("(2304 GPUs 576 x 4 in scale-up domains of 72 (switch)"));
}

TEST_CASE("tandem simulate flags the figures that rest on borrowed efficiencies", "[cli][simulate][machines]") {
  // The tiny scenario on 4 MI300X of one Infinity Fabric mesh.
  const std::string mi300x = "simulate tiny --set cluster.gpu=MI300X --set cluster.scaleup_fabric=mesh";
  const auto table = run_tandem(mi300x, false);
  REQUIRE(table.exit_code == 0);
  CHECK_THAT(table.output, Catch::Contains("step time *") && Catch::Contains("MFU, BF16 peak *") &&
                               Catch::Contains("bubble *") && Catch::Contains("exposed communication *") &&
                               Catch::Contains("* rests on efficiencies fitted on the H800") &&
                               Catch::Contains("borrowed for the MI300X"));
  const auto json = run_tandem(mi300x + " --json", false);
  REQUIRE(json.exit_code == 0);
  const auto j = nlohmann::json::parse(json.output);
  REQUIRE(j.contains("borrowed_efficiency"));
  CHECK(j["borrowed_efficiency"]["from_gpu"] == "H800");
  CHECK(j["borrowed_efficiency"]["gpu"] == "MI300X");
  const auto& figures = j["borrowed_efficiency"]["figures"];
  for (const char* f : {"step_time_s", "mfu_bf16", "bubble_fraction", "exposed_comm_fraction"})
    CHECK(std::find(figures.begin(), figures.end(), f) != figures.end());
  // Every named top-level figure is one the report has.
  for (const auto& f : figures) {
    const std::string name = f.get<std::string>();
    if (name.find('.') == std::string::npos && name.find('[') == std::string::npos) CHECK(j.contains(name));
  }
  // The H800's own efficiencies: no flag.
  const auto h800 = run_tandem("simulate tiny --json", false);
  REQUIRE(h800.exit_code == 0);
  CHECK_FALSE(nlohmann::json::parse(h800.output).contains("borrowed_efficiency"));
  CHECK_THAT(run_tandem("simulate tiny", false).output, !Catch::Contains("borrowed"));
}

TEST_CASE("a scale-up domain that does not divide the GPU count is refused in one line", "[cli][simulate][machines][errors]") {
  // deepseek-v3-pretrain runs on 2048 GPUs: 72-GPU domains do not tile them.
  const auto r = run_tandem("simulate deepseek-v3-pretrain --set cluster.gpus_per_domain=72");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("cluster.gpus_per_domain") && Catch::Contains("a divisor of the GPU count 2048") &&
                           Catch::Contains("72"));
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  const auto fabric = run_tandem("inspect tiny --set cluster.scaleup_fabric=ring");
  CHECK(fabric.exit_code == 2);
  CHECK_THAT(fabric.output, Catch::Contains("cluster.scaleup_fabric") && Catch::Contains("ring"));
}
