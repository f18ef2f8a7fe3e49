// `tandem presets --show` (resolved JSON of any preset, exit 2 naming the option for an unknown one)
// and `tandem simulate --goodput` (the goodput table and JSON object, bad reliability fields refused).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;

TEST_CASE("tandem presets --show prints resolved presets", "[cli][presets]") {
  const auto scenario = run_tandem("presets --show deepseek-v3-pretrain", false);
  REQUIRE(scenario.exit_code == 0);
  const auto s = nlohmann::json::parse(scenario.output);
  CHECK(s["cluster"]["gpu"] == "H800");             // the cluster's base expanded
  CHECK_FALSE(s["cluster"].contains("base"));
  CHECK(s["model"]["num_layers"] == 61);             // the model's preset name expanded
  CHECK(s["plan"]["dp"] == 128);                     // derived
  const auto cluster = run_tandem("presets --show clusters/h100", false);
  REQUIRE(cluster.exit_code == 0);
  CHECK(nlohmann::json::parse(cluster.output)["gpu"] == "H100");
  const auto bare = run_tandem("presets --show deepseek-v2-lite", false);   // a model by its bare name
  REQUIRE(bare.exit_code == 0);
  CHECK(nlohmann::json::parse(bare.output).contains("routed_experts"));
  const auto bad = run_tandem("presets --show h80");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("--show") && Catch::Contains("did you mean \"clusters/h800\""));
}

TEST_CASE("tandem simulate --goodput adds the goodput at the scenario's scale", "[cli][goodput]") {
  const auto r = run_tandem("simulate tiny --json --goodput --set reliability.train_tokens=1e9", false);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  REQUIRE(j.contains("goodput"));
  const auto& g = j["goodput"];
  CHECK(g["effective_fraction"].get<double>() > 0.99);   // 4 GPUs: an interruption every few years
  CHECK(g["effective_fraction"].get<double>() < 1.0);
  CHECK(g["tokens_per_day"].get<double>() ==
        Approx(j["tokens_per_s"].get<double>() * 86400 * g["effective_fraction"].get<double>()));
  CHECK(g["days_to_train"].get<double>() == Approx(1e9 / g["tokens_per_day"].get<double>()));
  CHECK(g["interruptions_per_day"].get<double>() > 0);
  CHECK(g["checkpoint_interval_s"].get<double>() > 0);
  CHECK(j["settings"]["reliability"]["train_tokens"] == 1e9);   // the settings it ran, echoed
  const auto table = run_tandem("simulate tiny --goodput", false);
  CHECK_THAT(table.output, Catch::Contains("goodput") && Catch::Contains("interruptions per day"));
  const auto bad = run_tandem("simulate tiny --goodput --set reliability.warmup_s=-5");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("reliability.warmup_s"));
}
