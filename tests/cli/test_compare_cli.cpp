// `tandem compare` end to end: the tiny scenario simulated and run for real lines up op for op by
// identity; --max-error's exit codes; --svg written whole; bad input (missing file, not a trace,
// options out of range, an unwritable --svg) ends with exit code 2 and one line.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;
using tandem::testing::temp_dir;
namespace fs = std::filesystem;

namespace {


// The tiny scenario, small enough to run in a test: predicted (simulate, every rank) and measured (run).
struct TinyTraces {
  fs::path dir, predicted, measured;
};
const TinyTraces& tiny_traces() {
  static const TinyTraces t = [] {
    TinyTraces t;
    t.dir = temp_dir("compare");
    t.predicted = t.dir / "p.json";
    t.measured = t.dir / "m.json";
    const std::string small = " --set plan.global_batch_seqs=8 --set plan.micro_batch_seqs=1";
    const auto sim = run_tandem("simulate tiny --full" + small + " --trace " + t.predicted.string());
    INFO(sim.output);
    REQUIRE(sim.exit_code == 0);
    const auto run = run_tandem("run tiny" + small + " --trace " + t.measured.string());
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    return t;
  }();
  return t;
}

}  // namespace

TEST_CASE("tandem compare lines the tiny simulation up with its run op for op", "[cli][compare]") {
  const TinyTraces& t = tiny_traces();
  const auto r = run_tandem("compare " + t.predicted.string() + " " + t.measured.string() + " --json", false);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json j = nlohmann::json::parse(r.output);
  CHECK(j["matching"]["method"] == "identity");
  CHECK(j["matching"]["only_predicted"]["count"] == 0);
  CHECK(j["matching"]["only_measured"]["count"] == 0);
  CHECK(j["matching"]["name_mismatches"]["count"] == 0);
  CHECK(j["predicted"]["ops"] == j["measured"]["ops"]);
  CHECK(j["matching"]["matched"] == j["measured"]["ops"]);
  CHECK(j["matching"]["matched"].get<int64_t>() > 100);
  CHECK(j["predicted"]["source"] == "sim");
  CHECK(j["measured"]["source"] == "cpu");
  CHECK(j["step_time"]["predicted_s"].get<double>() > 0);
  CHECK(j["step_time"]["measured_s"].get<double>() > 0);
  CHECK(j["kinds"].size() >= 5);
  CHECK(j["top_ops"].size() == 10);
  // Each kind's counts agree: every op is on both sides.
  for (const auto& k : j["kinds"]) CHECK(k["count"]["predicted"] == k["count"]["measured"]);

  const auto table = run_tandem("compare " + t.predicted.string() + " " + t.measured.string());
  REQUIRE(table.exit_code == 0);
  CHECK_THAT(table.output, Catch::Contains("identity (rank, step, id)"));
  CHECK_THAT(table.output, Catch::Contains("0 only predicted, 0 only measured, names agree"));
  CHECK_THAT(table.output, Catch::Contains("measured / predicted"));

  // Ranks chosen per side: rank 1 of each, then every predicted rank against rank 1 of the run.
  const auto one = run_tandem("compare " + t.predicted.string() + " " + t.measured.string() + " --json --ranks 1:1", false);
  REQUIRE(one.exit_code == 0);
  const nlohmann::json j1 = nlohmann::json::parse(one.output);
  CHECK(j1["predicted"]["ranks"] == nlohmann::json::array({1}));
  CHECK(j1["matching"]["only_predicted"]["count"] == 0);
  CHECK(j1["matching"]["matched"].get<int64_t>() < j["matching"]["matched"].get<int64_t>());
  const auto all = run_tandem("compare " + t.predicted.string() + " " + t.measured.string() + " --json --ranks all:1", false);
  REQUIRE(all.exit_code == 0);
  const nlohmann::json ja = nlohmann::json::parse(all.output);
  CHECK(ja["predicted"]["ranks"].size() == 4);
  CHECK(ja["measured"]["ranks"] == nlohmann::json::array({1}));
  CHECK(ja["matching"]["only_predicted"]["count"].get<int64_t>() > 0);   // ranks 0, 2 and 3 have no partner
}

TEST_CASE("tandem compare --max-error exits 1 when the step error is larger", "[cli][compare]") {
  const TinyTraces& t = tiny_traces();
  // A trace against itself: error 0.
  const auto same = run_tandem("compare " + t.measured.string() + " " + t.measured.string() + " --max-error 0");
  CHECK(same.exit_code == 0);
  // An H800 prediction against a CPU run is far off.
  const auto off = run_tandem("compare " + t.predicted.string() + " " + t.measured.string() + " --max-error 0.35");
  CHECK(off.exit_code == 1);
  CHECK_THAT(off.output, Catch::Contains("exceeds --max-error 0.35"));
  CHECK_THAT(off.output, Catch::Contains("step time"));   // the report is printed first
}

TEST_CASE("tandem compare --svg writes the chart whole", "[cli][compare]") {
  const TinyTraces& t = tiny_traces();
  const fs::path svg = t.dir / "kinds.svg";
  const auto r = run_tandem("compare " + t.predicted.string() + " " + t.measured.string() + " --svg " + svg.string());
  REQUIRE(r.exit_code == 0);
  std::ifstream in(svg);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().rfind("<svg", 0) == 0);
  CHECK_THAT(text.str(), Catch::Contains(">gemm</text>"));
  CHECK_THAT(text.str(), Catch::EndsWith("</svg>\n"));
}

TEST_CASE("tandem compare refuses bad input with exit code 2 and one line", "[cli][compare][errors]") {
  const TinyTraces& t = tiny_traces();
  const fs::path dir = temp_dir("compare_errors");
  std::ofstream(dir / "notes.txt") << "not a trace\n";
  std::ofstream(dir / "empty.json") << "{\"traceEvents\": []}\n";
  const std::string p = t.predicted.string(), m = t.measured.string();
  struct Case {
    std::string args, says;
  };
  for (const Case& c : {Case{"compare " + p + " " + (dir / "missing.json").string(), "missing.json"},
                        Case{"compare " + p + " " + (dir / "notes.txt").string(), "notes.txt"},
                        Case{"compare " + p + " " + (dir / "empty.json").string(),
                             "empty.json: expected a trace with at least one op, found 0 events"},
                        Case{"compare " + p + " " + m + " --max-error -1", "--max-error: expected a number >= 0, found '-1'"},
                        Case{"compare " + p + " " + m + " --max-error x", "--max-error"},
                        Case{"compare " + p + " " + m + " --ranks 0-x", "--ranks '0-x': expected ranks and ranges"},
                        Case{"compare " + p + " " + m + " --ranks 9", "--ranks: expected ranks that " + p},
                        Case{"compare " + p + " " + m + " --step 3", "--step: expected a trace holding several steps"},
                        Case{"compare " + p + " " + m + " --svg " + (dir / "no-dir" / "c.svg").string(), "--svg"}}) {
    INFO(c.args);
    const auto r = run_tandem(c.args);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(c.says));
    CHECK_THAT(r.output, !Catch::Contains("step time"));   // nothing half-printed
  }
  // A different world: the simulation of 4 ranks against a trace of 1 GPU.
  const fs::path one = dir / "one.json";
  std::ofstream(one) << R"({"traceEvents":[{"ph":"X","name":"L0.q_up","pid":0,"tid":0,"ts":0,"dur":1,)"
                        R"("args":{"op":"gemm","id":0,"step":0}}],"metadata":{"source":"cpu","gpus":"1"}})";
  const auto world = run_tandem("compare " + p + " " + one.string());
  CHECK(world.exit_code == 2);
  CHECK_THAT(world.output, Catch::Contains(one.string() + ": at metadata.gpus: expected the world of 4 GPUs of " + p));
  fs::remove_all(dir);
}
