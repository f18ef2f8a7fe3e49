// `tandem` end to end on inputs found by an acceptance pass: output paths that cannot be written end
// with exit code 2 before any work and leave nothing behind; the scenario is checked against the GPU
// catalogue; option values out of range are named; rank lists and number literals beyond range.
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
const std::string kSmall = " --set plan.global_batch_seqs=8 --set plan.micro_batch_seqs=1 ";
}  // namespace

TEST_CASE("unwritable output paths end with exit code 2 before any work", "[cli][errors]") {
  const fs::path dir = temp_dir("outputs");
  const std::string missing = (dir / "no-such-dir" / "t.json").string();
  const std::string a_dir = dir.string();
  struct Case {
    std::string args, says;
  };
  for (const Case& c : {Case{"simulate tiny --trace " + missing, "--trace " + missing + ": cannot write this file"},
                        Case{"simulate tiny --trace " + a_dir, "it is a directory"},
                        Case{"run tiny" + kSmall + "--trace " + missing, "does not exist"},
                        Case{"train tiny" + kSmall + "--steps 1 --trace " + missing, "--trace"},
                        Case{"train tiny" + kSmall + "--steps 1 --log " + a_dir, "--log"},
                        Case{"train tiny" + kSmall + "--steps 1 --checkpoint /proc/tandem_no_such_dir", "--checkpoint"}}) {
    INFO(c.args);
    const auto r = run_tandem(c.args);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(c.says));
    CHECK_THAT(r.output, !Catch::Contains("loss"));   // nothing trained, nothing simulated
    CHECK_THAT(r.output, !Catch::Contains("step time"));
  }
  // The checkpoint directory is not a file, and nothing is left beside the outputs.
  std::ofstream(dir / "file") << "x";
  const auto r = run_tandem("train tiny" + kSmall + "--steps 1 --checkpoint " + (dir / "file").string());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("not a directory"));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);
  fs::remove_all(dir);
}

TEST_CASE("the scenario is checked against the GPU catalogue", "[cli][errors]") {
  for (const char* cmd : {"inspect", "simulate"}) {
    INFO(cmd);
    const auto gpu = run_tandem(std::string(cmd) + " tiny --set cluster.gpu=H900");
    CHECK(gpu.exit_code == 2);
    CHECK_THAT(gpu.output, Catch::Contains("at cluster.gpu"));
    CHECK_THAT(gpu.output, Catch::Contains("H800, H100"));
    // 132 SMs for communication would leave none for compute (the report showed SM-time above 100%).
    const auto sms = run_tandem(std::string(cmd) + " deepseek-v3-pretrain --set plan.comm_sms=132");
    CHECK(sms.exit_code == 2);
    CHECK_THAT(sms.output, Catch::Contains("at plan.comm_sms"));
    CHECK_THAT(sms.output, Catch::Contains("(132)"));
    // Compute kernels launched on more SMs than the GPU has (DeepGEMM's set_num_sms asserts it too).
    const auto compute = run_tandem(std::string(cmd) + " deepseek-v3-pretrain --set plan.compute_sms=133");
    CHECK(compute.exit_code == 2);
    CHECK_THAT(compute.output, Catch::Contains("at plan.compute_sms: expected at most the H800's 132 SMs"));
    CHECK_THAT(compute.output, Catch::Contains("133"));
  }
  CHECK(run_tandem("simulate deepseek-v3-pretrain --set plan.comm_sms=131").exit_code == 0);
  CHECK(run_tandem("simulate deepseek-v3-pretrain --set plan.compute_sms=132").exit_code == 0);
}

TEST_CASE("option values out of range say what was expected and found", "[cli][errors]") {
  struct Case {
    const char* args;
    const char* says;
  };
  for (const Case& c : {Case{"train tiny --steps 0", "--steps: expected an integer in [1, 1000000000], found '0'"},
                        Case{"train tiny --steps 99999999999999999999", "found '99999999999999999999'"},
                        Case{"train tiny --threads 0", "--threads: expected an integer in [1, 1024]"},
                        Case{"train tiny --lr 0", "--lr: expected a number > 0, found '0'"},
                        Case{"train tiny --clip -1", "--clip: expected a number >= 0"},
                        Case{"train tiny --memory-limit-gib -1", "--memory-limit-gib"},
                        Case{"run tiny --steps -2", "--steps: expected an integer in [1, 1000000], found '-2'"}}) {
    INFO(c.args);
    const auto r = run_tandem(c.args);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(c.says));
    CHECK(r.output.size() < 400);   // not the largest double printed in full
  }
}

TEST_CASE("rank lists, stragglers and numbers beyond range are bad input, not failures", "[cli][errors]") {
  struct Case {
    const char* args;
    const char* says;
  };
  for (const Case& c :
       {Case{"simulate tiny --trace /dev/null --trace-ranks 0-99999999999999999999", "found rank 99999999999999999999"},
        Case{"simulate tiny --trace /dev/null --trace-ranks -1", "ranks are not negative"},
        Case{"simulate tiny --trace /dev/null --trace-ranks 0,,1", "an empty item"},
        Case{"simulate tiny --straggler 1:1e9", "FACTOR <= 1000"},
        // Every NIC of node 0 failed: node 0 is cut off (was exit code 1).
        Case{"simulate deepseek-v3-pretrain --fail-link nic:0 --fail-link nic:1 --fail-link nic:2 --fail-link nic:3 "
             "--fail-link nic:4 --fail-link nic:5 --fail-link nic:6 --fail-link nic:7",
             "no working IB rail between node 0"},
        Case{"inspect tiny --set plan.pp=1e400", "range of a double"},
        Case{"inspect tiny --set plan.global_batch_seqs=1099511627776", "= 137438953472 micro-batches"}}) {
    INFO(c.args);
    const auto r = run_tandem(c.args);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(c.says));
  }
}

TEST_CASE("a step past the simulator's clock is bad input", "[cli][errors]") {
  // One 16M-token micro-batch per GPU takes about 4.8e6 s; a straggler 1000 times slower pushes the
  // step past 2^62 ns (the clock used to wrap around and fail with an internal error).
  const auto r = run_tandem(
      "simulate deepseek-v3-pretrain --set cluster.nodes=1 --set plan.pp=1 --set plan.ep=8 --set plan.schedule=1f1b "
      "--set plan.seq_len=16777216 --set plan.global_batch_seqs=8 --straggler 0:1000");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("horizon"));
}

TEST_CASE("a calibration table of another GPU is refused", "[cli][errors]") {
  const fs::path dir = temp_dir("calibration");
  const auto table = [&](const char* gpu) {
    const fs::path p = dir / (std::string(gpu) + ".json");
    std::ofstream(p) << R"({"format": "tandem-calibration", "version": 1, "gpu": ")" << gpu
                     << R"(", "points": [{"op": "norm", "rows": 256, "cols": 64, "time_us": 5}]})";
    return p.string();
  };
  const auto other = run_tandem("simulate tiny --calibration " + table("H100"));
  CHECK(other.exit_code == 2);
  CHECK_THAT(other.output, Catch::Contains("expected the scenario's GPU H800, found a table measured on H100"));
  CHECK(run_tandem("simulate tiny --calibration " + table("H800")).exit_code == 0);
  fs::remove_all(dir);
}
