// `tandem calibrate KINETO --map MAP --shapes PAIR` end to end: a Kineto trace lined up with tandem's
// simulated chunk pair gives a table that `tandem simulate --calibration` reads; bad --shapes inputs end
// with exit code 2 and one line; the shipped H800 table (data/calibrations/) is accepted by the
// DeepSeek-V3 scenario and is remade from DeepSeek's profile when ../shared/data holds it.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;
using tandem::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

int64_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

}  // namespace

TEST_CASE("a Kineto trace lined up with a simulated pair calibrates the simulation", "[cli][calibrate][kineto]") {
  const fs::path dir = temp_dir("kineto_calibration");
  const fs::path pair = dir / "pair.json", table = dir / "c.json";
  REQUIRE(run_tandem("simulate tiny --set plan.schedule=dualpipe --trace " + pair.string() + " --trace-pair 1").exit_code == 0);
  const std::string data = std::string(TANDEM_SOURCE_DIR) + "/trace/tests/data/";
  const std::string kineto = data + "kineto_pair_small.json", map = data + "kineto_pair_small.map.json";
  const auto c = run_tandem("calibrate " + kineto + " --map " + map + " --shapes " + pair.string() +
                                " --device H800 --json --out " + table.string(),
                            false);
  INFO(c.output);
  REQUIRE(c.exit_code == 0);
  const nlohmann::json report = nlohmann::json::parse(c.output);
  CHECK(report["shapes_from"] == pair.string());
  REQUIRE(report["lineup"].is_array());
  CHECK_FALSE(report["lineup"].empty());
  const nlohmann::json written = nlohmann::json::parse(std::ifstream(table));
  CHECK_THAT(written["source"].get<std::string>(), Catch::Contains("lined up by class with the ops of " + pair.string()));
  const auto s = run_tandem("simulate tiny --set plan.schedule=dualpipe --calibration " + table.string());
  INFO(s.output);
  CHECK(s.exit_code == 0);

  // Bad --shapes: a file that is not there, and tandem's own trace as the measurement.
  const auto missing = run_tandem("calibrate " + kineto + " --map " + map + " --shapes " + (dir / "none.json").string() +
                                  " --device H800 --out " + (dir / "x.json").string());
  CHECK(missing.exit_code == 2);
  CHECK(lines(missing.output) == 1);
  CHECK_FALSE(fs::exists(dir / "x.json"));
  const auto own = run_tandem("calibrate " + pair.string() + " --shapes " + pair.string() + " --out " + (dir / "x.json").string());
  CHECK(own.exit_code == 2);
  CHECK_THAT(own.output, Catch::Contains("--shapes: expected a Kineto trace"));
  CHECK(lines(own.output) == 1);
  CHECK_FALSE(fs::exists(dir / "x.json"));
  fs::remove_all(dir);
}

TEST_CASE("the shipped H800 table is accepted and remade from DeepSeek's profile", "[cli][calibrate][kineto][h800]") {
  const std::string root = TANDEM_SOURCE_DIR;
  const std::string shipped = root + "/data/calibrations/h800-deepseek-v3.json";
  const auto s = run_tandem("simulate deepseek-v3-pretrain --calibration " + shipped);
  INFO(s.output);
  CHECK(s.exit_code == 0);
  const std::string profile = root + "/../shared/data/deepseek-h800-train-profile.json";
  if (!fs::exists(profile)) {
    WARN("skipped: " << profile << " is absent (the profile lives in ../shared/data beside the repository)");
    return;
  }
  const fs::path dir = temp_dir("h800_calibration");
  const fs::path pair = dir / "pair.json", table = dir / "h800.json";
  REQUIRE(run_tandem("simulate deepseek-v3-pretrain --trace " + pair.string() + " --trace-pair 8").exit_code == 0);
  const auto c = run_tandem("calibrate " + profile + " --map " + root + "/data/kineto-maps/deepseek-h800.json --shapes " +
                                pair.string() + " --device H800 --out " + table.string(),
                            false);
  INFO(c.output);
  REQUIRE(c.exit_code == 0);
  // The same points and fits as the shipped table (its source line names other paths).
  nlohmann::json made = nlohmann::json::parse(std::ifstream(table)), ship = nlohmann::json::parse(std::ifstream(shipped));
  made.erase("source");
  ship.erase("source");
  INFO("a different table means the shipped one is stale: remake it with trace/bench/h800-calibrate.sh");
  CHECK(made == ship);
  fs::remove_all(dir);
}
