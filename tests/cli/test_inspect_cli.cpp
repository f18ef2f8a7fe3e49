// `tandem`, `tandem inspect`: help, version, JSON report keys and values, exit code 2 with a clear
// message on bad input.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;

TEST_CASE("tandem --help and --version", "[cli]") {
  const auto help = run_tandem("--help");
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.output, Catch::Contains("inspect"));
  CHECK_THAT(help.output, Catch::Contains("deepseek-v3-pretrain"));
  const auto version = run_tandem("--version");
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.output, Catch::StartsWith("tandem "));
  CHECK(run_tandem("").exit_code == 2);              // a subcommand is required
  CHECK(run_tandem("no-such-command").exit_code == 2);
}

TEST_CASE("tandem inspect --json reports the public DeepSeek-V3 figures", "[cli][inspect]") {
  const auto r = run_tandem("inspect scenarios/deepseek-v3-pretrain.json --json --check", false);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  CHECK(double(j["params_total"]) == Approx(671e9).epsilon(0.005));
  CHECK(double(j["params_activated"]) == Approx(37e9).epsilon(0.03));
  CHECK(j["params_mtp"].get<double>() > 1e10);
  CHECK(j["flops_per_token"].get<double>() > j["flops_per_token_causal"].get<double>());
  REQUIRE(j["ranks"].size() == 16);
  for (const auto& rank : j["ranks"]) {
    CHECK(rank["weight_bytes"].get<double>() > 0);
    CHECK(rank["optimizer_bytes"].get<double>() > 0);
    CHECK(rank["activation_peak_bytes"].get<double>() > 0);
  }
  CHECK(j["check"]["ok"] == true);
  CHECK(j["check"]["critical_path_ops"].get<int64_t>() > 1000);
}

TEST_CASE("tandem inspect: table output and overrides", "[cli][inspect]") {
  const auto r = run_tandem("inspect tiny --set plan.schedule=zb1p --check");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("zb1p"));
  CHECK_THAT(r.output, Catch::Contains("check         ok"));
}

TEST_CASE("tandem inspect: bad input exits with code 2 and names the problem", "[cli][inspect][errors]") {
  const auto missing = run_tandem("inspect /nonexistent.json");
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Catch::Contains("/nonexistent.json"));
  const auto bad_set = run_tandem("inspect deepseek-v3-pretrain --set plan.pp=3");
  CHECK(bad_set.exit_code == 2);
  CHECK_THAT(bad_set.output, Catch::Contains("plan.pp"));
  CHECK_THAT(bad_set.output, Catch::Contains("expected"));
  const auto path = std::filesystem::temp_directory_path() / "tandem_cli_bad.json";
  std::ofstream(path) << R"({"model": "tiny", "cluster": "h800", "plan": {"pp": 2, "ep": 2, "seq_len": 64,)";
  const auto truncated = run_tandem("inspect " + path.string());
  CHECK(truncated.exit_code == 2);
  CHECK_THAT(truncated.output, Catch::Contains("truncated"));
  std::ofstream(path) << R"({"model": "tiny", "cluster": "h800", "plan": {"pp": 2, "ep": 2, "seq_len": 64, "global_batch_seqs": 32, "schedule": "1f1b", "zero": 1}})";
  const auto unknown = run_tandem("inspect " + path.string());
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.output, Catch::Contains("plan.zero"));
  CHECK_THAT(unknown.output, Catch::Contains("zero_stage"));
}

TEST_CASE("tandem inspect shows the balanced layer split and the stage that sets the pace", "[cli][inspect]") {
  const auto r = run_tandem("inspect deepseek-v3-pretrain --json", false);
  REQUIRE(r.exit_code == 0);
  const auto split = nlohmann::json::parse(r.output)["layer_split"];
  CHECK(split["split"] == "balanced");
  REQUIRE(split["layers_per_chunk"].size() == 16);
  int64_t layers = 0;
  for (const auto& n : split["layers_per_chunk"]) layers += n.get<int64_t>();
  CHECK(layers == 61);
  REQUIRE(split["stage_modelled_ns"].size() == 16);
  CHECK(split["max_over_mean"].get<double>() >= 1.0);
  CHECK(split["pace_stage"].get<int64_t>() >= 0);
  const auto given = run_tandem("inspect deepseek-v3-pretrain --set plan.layers_per_stage=[3,4,4,4,4,4,4,4,4,4,4,4,4,4,3,3]");
  CHECK(given.exit_code == 0);
  CHECK_THAT(given.output, Catch::Contains("layer split   given (3,4,4,"));
  CHECK_THAT(given.output, Catch::Contains("sets the pace"));
}

TEST_CASE("tandem: a DualPipe plan on 8192 GPUs that misses the global batch says which batch works", "[cli][inspect][errors]") {
  const auto r = run_tandem("inspect deepseek-v3-pretrain --set cluster.nodes=1024");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("plan.schedule"));
  CHECK_THAT(r.output, Catch::Contains("would work: global_batch_seqs = 16384 (32 micro-batches)"));
}
