// `--device` of `tandem train` and `tandem run`: `cuda` where no GPU is usable (here: every GPU hidden
// with CUDA_VISIBLE_DEVICES="", or a binary built without CUDA) ends with exit code 2, a message naming
// --device cuda, and nothing written; an unknown device is refused by the option check.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;
namespace fs = std::filesystem;

namespace {
const std::string kSmall = " --set plan.global_batch_seqs=8 --set plan.micro_batch_seqs=1 ";

struct HiddenGpus {
  HiddenGpus() { ::setenv("CUDA_VISIBLE_DEVICES", "", 1); }
  ~HiddenGpus() { ::unsetenv("CUDA_VISIBLE_DEVICES"); }
};
}  // namespace

TEST_CASE("train and run with the cuda device and no usable GPU exit 2 with a message and write nothing", "[cli][device]") {
  const HiddenGpus hidden;
  const fs::path dir = fs::temp_directory_path() / ("tandem_device_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string log = (dir / "train.jsonl").string(), trace = (dir / "step.json").string(), ckpt = (dir / "ckpt").string();

  const auto train = run_tandem("train scenarios/tiny.json" + kSmall + "--steps 1 --device cuda --log '" + log + "' --trace '" +
                                trace + "' --checkpoint '" + ckpt + "'");
  CHECK(train.exit_code == 2);
  CHECK_THAT(train.output, Catch::Contains("--device cuda"));
  CHECK_THAT(train.output, Catch::Contains("use --device cpu"));

  const auto run = run_tandem("run scenarios/tiny.json" + kSmall + "--device cuda --trace '" + trace + "'");
  CHECK(run.exit_code == 2);
  CHECK_THAT(run.output, Catch::Contains("--device cuda"));

  CHECK(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST_CASE("the device option takes cpu or cuda", "[cli][device]") {
  const auto bad = run_tandem("run scenarios/tiny.json" + kSmall + "--device tpu");
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, Catch::Contains("--device"));
  const auto cpu = run_tandem("run scenarios/tiny.json" + kSmall + "--device cpu");
  CHECK(cpu.exit_code == 0);
  CHECK_THAT(cpu.output, Catch::Contains("step 1:"));
}
