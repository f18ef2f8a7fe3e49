// `tandem` end to end on hostile JSON and on values once accepted without a word: every one ends with
// exit code 2 and one line naming the file or option and the JSON path, and `inspect` refuses what
// `simulate` refuses, the same way.
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;
using tandem::testing::temp_dir;
namespace fs = std::filesystem;

namespace {
std::string write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}
size_t lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }
const std::string kDeep = std::string(100000, '[') + std::string(100000, ']');
// On the command line: 50,000 levels (100 KB; one argument may hold at most 128 KiB).
const std::string kDeepArg = std::string(50000, '[') + std::string(50000, ']');
const std::string kCalibrationHead = R"({"format": "tandem-calibration", "version": 1, "points": )";
}  // namespace

TEST_CASE("100,000 nested arrays in every JSON input file, 50,000 in --set: exit code 2 and one short line", "[cli][errors][json]") {
  const fs::path dir = temp_dir("deep");
  struct Case {
    std::string args, says;
  };
  const std::string scenario = write(dir / "deep.json", R"({"model": "tiny", "cluster": "h800", "plan": )" + kDeep + "}");
  const std::string calibration = write(dir / "cal.json", kCalibrationHead + kDeep + "}");
  const std::string loads = write(dir / "loads.json", kDeep);
  for (const Case& c : {Case{"inspect " + scenario, scenario + ": at plan[0]"},
                        Case{"simulate " + scenario, scenario + ": at plan[0]"},
                        Case{"simulate tiny --set plan.layers_per_stage=" + kDeepArg, "--set plan.layers_per_stage: at [0][0]"},
                        Case{"inspect tiny --set plan.routing=" + kDeepArg, "--set plan.routing: at [0][0]"},
                        Case{"simulate tiny --calibration " + calibration, calibration + ": at points[0][0]"},
                        Case{"simulate tiny --expert-load " + loads, loads + ": at [0][0]"}}) {
    INFO(c.args.substr(0, 200));
    const auto r = run_tandem(c.args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(c.says) && Catch::Contains("nested at most 128 levels deep"));
    CHECK(lines(r.output) == 1);
    CHECK(r.output.size() < 400);
  }
  fs::remove_all(dir);
}

TEST_CASE("duplicate keys, numbers beyond a double and long values: exit code 2 naming the place", "[cli][errors][json]") {
  const fs::path dir = temp_dir("json");
  const std::string twice = write(dir / "twice.json", "{\"model\": \"tiny\", \"cluster\": \"h800\",\n"
                                                      " \"plan\": {\"pp\": 2, \"pp\": 4}}");
  const auto dup = run_tandem("inspect " + twice);
  CHECK(dup.exit_code == 2);
  CHECK_THAT(dup.output, Catch::Contains(twice + ": at plan.pp (line 2 col 20)") &&
                             Catch::Contains("the key \"pp\" a second time (first at line 2 col 11)"));
  // 1e999 in a calibration table: once a library exception and exit code 1.
  const std::string huge = write(dir / "cal.json", kCalibrationHead + R"([{"op": "norm", "rows": 8, "cols": 8, "time_us": 1e999}]})");
  const auto big = run_tandem("simulate tiny --calibration " + huge);
  CHECK(big.exit_code == 2);
  CHECK_THAT(big.output, Catch::Contains(huge + ": at points[0].time_us") && Catch::Contains("range of a double"));
  CHECK(lines(big.output) == 1);
  // A 100 KB value is cut in the message.
  const auto long_value = run_tandem("simulate tiny --set plan.schedule=" + std::string(100000, 'x'));
  CHECK(long_value.exit_code == 2);
  CHECK_THAT(long_value.output, Catch::Contains("at plan.schedule"));
  CHECK(long_value.output.size() < 600);
  fs::remove_all(dir);
}

TEST_CASE("quietly accepted values are refused by inspect and simulate alike", "[cli][errors]") {
  struct Case {
    std::string set, says;
  };
  for (const Case& c : {Case{R"(--set 'plan.routing={"kind": "zipf"}')", "at plan.routing.zipf_exponent"},
                        Case{"--set plan.comm_sms=0", "at plan.comm_sms: expected at least 1 SM"},
                        Case{"--set cluster.nics_per_node=2 --set cluster.planes=2", "at cluster.nics_per_node: expected one NIC per GPU"},
                        Case{"--set cluster.switch_tiers=3", "at cluster.switch_tiers"},
                        Case{"--set plan.global_batch_seqs=8388608", "at plan: expected a step program of at most"},
                        Case{"--set cluster.nodes=1024 --set plan.pp=2048 --set plan.ep=1 --set model.num_layers=4096 "
                             "--set plan.global_batch_seqs=8192",
                             "4096 layers in 2048 chunks (pp 2048)"}}) {
    for (const char* cmd : {"inspect", "simulate"}) {
      INFO(cmd << " tiny " << c.set);
      const auto r = run_tandem(std::string(cmd) + " tiny " + c.set);
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.output, Catch::StartsWith("error: preset:tiny: ") && Catch::Contains(c.says));
      CHECK(lines(r.output) == 1);
    }
  }
}
