// `tandem` end to end when its files fail it: outputs complete or absent after a write error (a file
// size limit under the trace, the checkpoint and the log; /dev/full under standard output, with and
// without a trace beside it), empty paths, FIFOs, devices and directories where files belong, and
// checkpoints of another model.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_shell;
using tandem::testing::run_tandem;
using tandem::testing::tandem_bin;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("tandem_cli_io_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Every file of a directory with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().filename().string()] = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return out;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// The tiny model with a batch that trains in a fraction of a second per step.
const std::string kSmall = " --set plan.global_batch_seqs=8 --set plan.micro_batch_seqs=1 ";

// `tandem ARGS` under a file size limit of `blocks` (ulimit -f: 512-byte blocks in dash, 1024 in bash),
// which makes a write past it fail (EFBIG) the way a full disk does.
tandem::testing::CommandResult run_limited(int blocks, const std::string& args) {
  return run_shell("ulimit -f " + std::to_string(blocks) + "; " + tandem_bin() + " " + args + " 2>&1");
}

}  // namespace

TEST_CASE("standard output that cannot be written ends with exit code 1 and one line", "[cli][io]") {
  // stderr to the pipe, stdout to the full device.
  for (const char* args : {"simulate tiny --json", "inspect tiny", "presets"}) {
    INFO(args);
    const auto r = run_shell(tandem_bin() + " " + args + " 2>&1 >/dev/full");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: cannot write standard output: No space left on device"));
  }
  CHECK(run_shell(tandem_bin() + " simulate tiny --json >/dev/null 2>&1").exit_code == 0);
}

TEST_CASE("a report that cannot be printed leaves no trace behind", "[cli][io]") {
  const fs::path dir = temp_dir("report");
  const std::string d = dir.string();
  for (const std::string& cmd : {std::string("simulate tiny --json"), std::string("simulate tiny"), "run tiny" + kSmall}) {
    INFO(cmd);
    const auto r = run_shell(tandem_bin() + " " + cmd + " --trace " + d + "/t.json 2>&1 >/dev/full");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.rfind("error: cannot write standard output: No space left on device\n") != std::string::npos);
    CHECK(snapshot(dir).empty());   // no trace, no temporary file
  }
  // With the report written, both are there.
  const auto ok = run_shell(tandem_bin() + " simulate tiny --json --trace " + d + "/t.json 2>/dev/null");
  CHECK(ok.exit_code == 0);
  CHECK(nlohmann::json::parse(ok.output).contains("step_time_s"));
  CHECK(fs::file_size(dir / "t.json") > 1000);
  fs::remove_all(dir);
}

TEST_CASE("an empty path is refused with exit code 2 naming the option", "[cli][io]") {
  struct Case {
    std::string args, option;
  };
  for (const Case& c : {Case{"train tiny" + kSmall + "--steps 1 --checkpoint ''", "--checkpoint"},
                        Case{"train tiny" + kSmall + "--steps 1 --log ''", "--log"},
                        Case{"train tiny" + kSmall + "--steps 1 --trace ''", "--trace"},
                        Case{"train tiny" + kSmall + "--steps 1 --resume ''", "--resume"},
                        Case{"train tiny" + kSmall + "--steps 1 --data ''", "--data"},
                        Case{"run tiny" + kSmall + "--trace ''", "--trace"},
                        Case{"simulate tiny --trace ''", "--trace"},
                        Case{"simulate tiny --calibration ''", "--calibration"},
                        Case{"inspect ''", "scenario"}}) {
    INFO(c.args);
    const auto r = run_tandem(c.args);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output == "error: " + c.option + ": expected a value, found an empty string\n");
    CHECK(count_lines(r.output) == 1);
  }
}

TEST_CASE("after a write error the trace and the checkpoint are absent and the log holds whole lines", "[cli][io]") {
  const fs::path dir = temp_dir("limits");
  const std::string d = dir.string();
  // The tiny trace is about 700 KB and a checkpoint 4.8 MB: 64 blocks (32 KB or 64 KB) hold neither.
  SECTION("the trace of simulate and run") {
    for (const std::string& cmd : {std::string("simulate tiny"), "run tiny" + kSmall}) {
      INFO(cmd);
      const auto r = run_limited(64, cmd + " --trace " + d + "/t.json");
      INFO(r.output);
      CHECK(r.exit_code == 1);
      CHECK_THAT(r.output, Catch::Contains("error: cannot write " + d + "/t.json: File too large"));
      CHECK(snapshot(dir).empty());   // no trace, no temporary file
      // Nor a report: it is printed only once the trace is written.
      CHECK_THAT(r.output, !Catch::Contains("step time") && !Catch::Contains("step 1:"));
    }
  }
  SECTION("a checkpoint: the good one stays and no smaller one appears") {
    REQUIRE(run_tandem("train tiny" + kSmall + "--steps 1 --checkpoint " + d + "/ck").exit_code == 0);
    const auto before = snapshot(dir / "ck");
    REQUIRE(before.size() == 1);
    const auto r = run_limited(64, "train tiny" + kSmall + "--steps 2 --resume " + d + "/ck --checkpoint " + d + "/ck");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: cannot write " + d + "/ck/ckpt-00000002.tdmckpt: File too large"));
    CHECK(snapshot(dir / "ck") == before);
  }
  SECTION("the log") {
    // 2 blocks (1 or 2 KB) take a few of its 270-byte lines: the run stops at the first that fails.
    const auto r = run_limited(2, "train tiny" + kSmall + "--steps 30 --log " + d + "/log.jsonl");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: cannot write " + d + "/log.jsonl: File too large"));
    CHECK_THAT(r.output, !Catch::Contains("steps 1..30"));
    std::ifstream log(dir / "log.jsonl");
    std::string line;
    int64_t step = 0;
    while (std::getline(log, line)) CHECK(nlohmann::json::parse(line).at("step").get<int64_t>() == ++step);
    CHECK(step >= 2);
    CHECK(step < 30);
  }
  fs::remove_all(dir);
}

TEST_CASE("a checkpoint of another model or plan is refused before anything is written", "[cli][io]") {
  const fs::path dir = temp_dir("resume");
  const std::string ck = (dir / "ck").string(), log = (dir / "log.jsonl").string();
  REQUIRE(run_tandem("train tiny" + kSmall + "--steps 2 --checkpoint " + ck).exit_code == 0);
  const auto before = snapshot(ck);
  struct Case {
    std::string set, says;
  };
  for (const Case& c : {Case{"--set model.num_layers=2", "model.num_layers: 4 in the checkpoint, 2 in this run"},
                        Case{"--set model.hidden_size=32", "model.hidden_size: 64 in the checkpoint, 32 in this run"},
                        Case{"--set model.route_scale=2.5", "model.route_scale: 1.0 in the checkpoint, 2.5 in this run"},
                        Case{"--set plan.seq_len=32", "plan.seq_len: 64 in the checkpoint, 32 in this run"}}) {
    INFO(c.set);
    const auto r = run_tandem("train tiny" + kSmall + c.set + " --steps 4 --resume " + ck + " --checkpoint " + ck + " --log " + log);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("ckpt-00000002.tdmckpt: written for another model or plan: " + c.says));
    CHECK(snapshot(ck) == before);   // the good checkpoint is not shadowed by a newer one of another model
    CHECK_FALSE(fs::exists(log));
  }
  // Another layout of the same model is the same training: one rank resumes what four wrote.
  const auto one_rank = run_tandem("train tiny" + kSmall +
                                   "--set plan.pp=1 --set plan.dp=1 --set plan.ep=1 --set cluster.gpus_per_node=1 "
                                   "--set cluster.nics_per_node=1 --set cluster.planes=1 --steps 3 --resume " + ck);
  INFO(one_rank.output);
  CHECK(one_rank.exit_code == 0);
  CHECK_THAT(one_rank.output, Catch::Contains("steps 3..3"));
  fs::remove_all(dir);
}

TEST_CASE("a directory where a checkpoint file belongs is bad input found before training", "[cli][io]") {
  const fs::path dir = temp_dir("ckdir");
  const std::string ck = (dir / "ck").string();
  REQUIRE(run_tandem("train tiny" + kSmall + "--steps 1 --checkpoint " + ck).exit_code == 0);
  // The newest "checkpoint" of the directory is a directory: named, not skipped for an older one.
  fs::create_directories(dir / "ck" / "ckpt-00000009.tdmckpt");
  const auto resume = run_tandem("train tiny" + kSmall + "--steps 12 --resume " + ck);
  INFO(resume.output);
  CHECK(resume.exit_code == 2);
  CHECK_THAT(resume.output, Catch::Contains("ckpt-00000009.tdmckpt: at (file): expected a checkpoint file, found a directory"));
  // A directory under the name of a checkpoint this run would write (it failed with exit code 1 after training).
  fs::create_directories(dir / "out" / "ckpt-00000002.tdmckpt");
  const auto write = run_tandem("train tiny" + kSmall + "--steps 2 --checkpoint " + (dir / "out").string());
  INFO(write.output);
  CHECK(write.exit_code == 2);
  CHECK_THAT(write.output, Catch::Contains("where this run writes step 2's checkpoint, found a directory"));
  CHECK_THAT(write.output, !Catch::Contains("loss"));
  fs::remove_all(dir);
}

TEST_CASE("FIFOs and devices as input files are refused before they are opened", "[cli][io]") {
  const fs::path dir = temp_dir("inputs");
  const std::string fifo = (dir / "fifo").string(), zero = (dir / "zero").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", zero);
  struct Case {
    std::string args, says;
  };
  for (const Case& c : {Case{"--data " + fifo, fifo + ": at (file): expected a token file, found a FIFO"},
                        Case{"--data " + zero, zero + ": at (file): expected a token file, found a character device"},
                        Case{"--resume " + fifo, fifo + ": at (file): expected a checkpoint file, found a FIFO"},
                        Case{"--resume " + zero, zero + ": at (file): expected a checkpoint file, found a character device"}}) {
    INFO(c.args);
    // A hang would end at the timeout with exit code 124 instead of blocking the test.
    const auto r = run_shell("timeout 60 " + tandem_bin() + " train tiny" + kSmall + "--steps 1 " + c.args + " 2>&1");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output == "error: " + c.says + "\n");
  }
  fs::remove_all(dir);
}

TEST_CASE("a trace written to a FIFO reaches its reader whole", "[cli][io]") {
  // The output check must not open the FIFO to try it: closing that write end ended the reader's
  // input, and the trace's own open then waited for a reader that was gone (a hang).
  const fs::path dir = temp_dir("fifo_out");
  const std::string fifo = (dir / "trace.fifo").string(), out = (dir / "received.json").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto r = run_shell("(timeout 60 cat '" + fifo + "' > '" + out + "' &) ; timeout 60 " + tandem_bin() +
                           " simulate tiny --trace '" + fifo + "' 2>&1 >/dev/null; sleep 1");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const auto direct = run_shell(tandem_bin() + " simulate tiny --trace " + (dir / "direct.json").string() + " >/dev/null 2>&1");
  REQUIRE(direct.exit_code == 0);
  fs::remove(fifo);   // snapshot reads every file: a FIFO would wait for a writer
  const auto files = snapshot(dir);
  CHECK(files.at("received.json").size() > 1000);
  CHECK(files.at("received.json") == files.at("direct.json"));
  fs::remove_all(dir);
}
