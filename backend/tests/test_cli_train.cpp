// `tandem train` and `tandem run` end to end: the JSON log, the trace file, and bad input (missing or
// malformed data, a plan the CPU backend cannot run, a model that does not fit, a damaged checkpoint)
// ending with exit code 2 and nothing written.
#include <catch2/catch.hpp>

#ifdef TANDEM_BIN
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend_test_util.h"
#include "trace/trace_reader.h"

using namespace tandem;
using namespace tandem::backend::test;
namespace fs = std::filesystem;

namespace {
struct Result {
  int code = -1;
  std::string output;
};

Result tandem_cmd(const std::string& args) {
  const std::string cmd = "cd '" + source_dir() + "' && '" + TANDEM_BIN + "' " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const std::string kSmall = " --set plan.global_batch_seqs=8 --set plan.micro_batch_seqs=1 ";

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().filename().string()] = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return out;
}
}  // namespace

TEST_CASE("tandem train writes one JSON object per step and a trace of the first steps", "[cli]") {
  const auto dir = temp_dir("cli_train");
  const auto r = tandem_cmd("train scenarios/tiny.json" + kSmall + "--steps 3 --log " + (dir / "log.jsonl").string() +
                            " --trace " + (dir / "t.json").string() + " --checkpoint " + (dir / "ck").string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  std::ifstream log(dir / "log.jsonl");
  std::string line;
  int64_t step = 0;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j.at("step").get<int64_t>() == ++step);
    CHECK(j.at("loss").get<double>() > 0);
    CHECK(j.contains("tokens_per_s"));
  }
  CHECK(step == 3);
  const auto tl = trace::read_trace((dir / "t.json").string());
  CHECK(tl.metadata.source == trace::TraceSource::Cpu);
  CHECK(tl.process_names.size() == 4);
  CHECK(fs::exists(dir / "ck" / "ckpt-00000003.tdmckpt"));
  CHECK(r.output.find("steps 1..3: loss") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("tandem run executes one step and writes its timeline", "[cli]") {
  const auto dir = temp_dir("cli_run");
  const auto r = tandem_cmd("run scenarios/tiny.json" + kSmall + "--trace " + (dir / "t.json").string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  const auto tl = trace::read_trace((dir / "t.json").string());
  size_t ops = 0;
  const auto program = tiny();
  for (const auto& role : program->roles()) ops += 2 * role.ops.size();   // two ranks per pipeline position
  CHECK(tl.events.size() == ops);
  fs::remove_all(dir);
}

TEST_CASE("bad input to tandem train exits with 2 and writes nothing", "[cli]") {
  const auto dir = temp_dir("cli_bad");
  const std::string log = " --log " + (dir / "log.jsonl").string();
  auto expect_bad = [&](const std::string& args, const std::string& message) {
    const auto r = tandem_cmd("train scenarios/tiny.json" + kSmall + "--steps 2" + log + " " + args);
    INFO(args << "\n" << r.output);
    CHECK(r.code == 2);
    CHECK(r.output.find(message) != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "log.jsonl"));
  };
  expect_bad("--data " + (dir / "missing.tok").string(), "expected a token file, found no such file");
  {
    std::ofstream(dir / "text.tok") << "these are not tokens, just some words in a file";
  }
  expect_bad("--data " + (dir / "text.tok").string(), "expected the magic");
  expect_bad("--set model.score_function=softmax", "the CPU backend cannot run this plan");
  expect_bad("--memory-limit-gib 0.001", "does not fit in memory");
  expect_bad("--set model.vocab_size=256", "larger than the model's vocab_size 256");
  const auto big = tandem_cmd("train deepseek-v3-pretrain --steps 1");
  CHECK(big.code == 2);
  CHECK(big.output.find("cannot run this plan") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("resuming from a truncated checkpoint is an error that overwrites nothing", "[cli]") {
  const auto dir = temp_dir("cli_resume");
  const std::string ck = (dir / "ck").string();
  REQUIRE(tandem_cmd("train scenarios/tiny.json" + kSmall + "--steps 2 --checkpoint " + ck).code == 0);
  // A newer checkpoint cut short (as a crash of a non-atomic writer would leave it).
  std::string bytes = snapshot(ck).at("ckpt-00000002.tdmckpt");
  std::ofstream(dir / "ck" / "ckpt-00000005.tdmckpt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const auto before = snapshot(ck);
  const auto r = tandem_cmd("train scenarios/tiny.json" + kSmall + "--steps 8 --resume " + ck + " --checkpoint " + ck +
                            " --checkpoint-every 1 --log " + (dir / "log.jsonl").string());
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(r.output.find("ckpt-00000005.tdmckpt") != std::string::npos);
  CHECK(r.output.find("truncated") != std::string::npos);
  CHECK(snapshot(ck) == before);
  CHECK_FALSE(fs::exists(dir / "log.jsonl"));
  // Resuming from the complete one works and continues at step 3.
  const auto ok = tandem_cmd("train scenarios/tiny.json" + kSmall + "--steps 3 --resume " + (dir / "ck" / "ckpt-00000002.tdmckpt").string());
  CHECK(ok.code == 0);
  CHECK(ok.output.find("steps 3..3") != std::string::npos);
  fs::remove_all(dir);
}
TEST_CASE("a resumed run continues its log at the checkpoint's step with each step logged once", "[cli]") {
  const auto dir = temp_dir("cli_resume_log");
  const std::string ck = (dir / "ck").string(), log = (dir / "log.jsonl").string();
  const auto first = tandem_cmd("train scenarios/tiny.json" + kSmall + "--steps 4 --checkpoint " + ck +
                                " --checkpoint-every 2 --log " + log);
  INFO(first.output);
  REQUIRE(first.code == 0);
  const auto read_log = [&] {
    std::vector<nlohmann::json> lines;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  };
  const auto whole = read_log();
  REQUIRE(whole.size() == 4);
  // As a kill during step 4 leaves it: steps 1..3 whole and half a line of step 4.
  {
    std::ifstream in(log, std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    size_t cut = 0;
    for (int newline = 0; newline < 3; ++newline) cut = bytes.find('\n', cut) + 1;
    std::ofstream(log, std::ios::binary | std::ios::trunc) << bytes.substr(0, cut + 20);
  }
  const auto resumed = tandem_cmd("train scenarios/tiny.json" + kSmall + "--steps 4 --resume " + ck +
                                  "/ckpt-00000002.tdmckpt --log " + log);
  INFO(resumed.output);
  REQUIRE(resumed.code == 0);
  CHECK(resumed.output.find("steps 3..4") != std::string::npos);
  const auto again = read_log();
  REQUIRE(again.size() == 4);
  for (size_t i = 0; i < again.size(); ++i) {
    CHECK(again[i].at("step").get<int64_t>() == int64_t(i) + 1);
    // Resume is bit-exact: the steps run again have the first run's losses.
    CHECK(again[i].at("loss").get<double>() == whole[i].at("loss").get<double>());
  }
  fs::remove_all(dir);
}
#endif
