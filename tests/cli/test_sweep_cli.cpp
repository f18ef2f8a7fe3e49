// `tandem sweep` end to end on the tiny scenario: results.jsonl and results.csv content, a point's
// report equal to `tandem simulate`'s, --jobs 1 and 2 byte-identical, resume after deleted point files,
// a changed definition refused, ranking from a finished directory, sim.* axes, bad input (exit 2).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;
using tandem::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(p));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

size_t lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

const std::string kGrid = "sweep scenarios/tiny.json --grid plan.pp=1,2 --grid plan.schedule=1f1b,zb1p --quiet";

}  // namespace

TEST_CASE("sweep writes one row per point: axes, outcome, the report of tandem simulate", "[cli][sweep]") {
  const fs::path dir = temp_dir("sweep_rows");
  const auto r = run_tandem(kGrid + " --out " + (dir / "out").string());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("4 points (4 simulated now, 0 already stored): 4 fit in memory"));
  const auto records = read_jsonl(dir / "out" / "results.jsonl");
  REQUIRE(records.size() == 4);
  // Point 3 = (pp 2, zb1p): the last of pp's values, the last of schedule's.
  CHECK(records[3]["point"] == 3);
  CHECK(records[3]["axes"] == nlohmann::json{{"plan.pp", 2}, {"plan.schedule", "zb1p"}});
  CHECK(records[3]["status"] == "ok");
  const auto sim = run_tandem("simulate scenarios/tiny.json --set plan.pp=2 --set plan.schedule=zb1p --json --goodput", false);
  REQUIRE(sim.exit_code == 0);
  // Every figure of the point's report is simulate's (which also echoes its settings and more).
  const nlohmann::json simulated = nlohmann::json::parse(sim.output);
  CHECK(records[3]["report"].size() > 20);
  for (const auto& [key, value] : records[3]["report"].items()) {
    INFO(key);
    CHECK(simulated.value(key, nlohmann::json()) == value);
  }

  const std::string csv = read_file(dir / "out" / "results.csv");
  CHECK(lines(csv) == 5);
  CHECK_THAT(csv, Catch::StartsWith("point,plan.pp,plan.schedule,status,reason,out_of_memory,bubble_fraction,"));
  CHECK_THAT(csv, Catch::Contains("\n3,2,zb1p,ok,,false,"));
  CHECK_THAT(csv, Catch::Contains(",goodput.effective_fraction,"));
  for (const char* f : {"sweep.json", "pareto-gpus.svg", "pareto-cost.svg", "points/000003.json"})
    CHECK(fs::exists(dir / "out" / f));
  fs::remove_all(dir);
}

TEST_CASE("sweep results are the same with 1 and 2 jobs, and after a resumed run", "[cli][sweep]") {
  const fs::path dir = temp_dir("sweep_jobs");
  const std::string one = (dir / "one").string(), two = (dir / "two").string();
  REQUIRE(run_tandem(kGrid + " --jobs 1 --out " + one).exit_code == 0);
  REQUIRE(run_tandem(kGrid + " --jobs 2 --out " + two).exit_code == 0);
  const std::string jsonl = read_file(fs::path(one) / "results.jsonl"), csv = read_file(fs::path(one) / "results.csv");
  CHECK(read_file(fs::path(two) / "results.jsonl") == jsonl);
  CHECK(read_file(fs::path(two) / "results.csv") == csv);

  // A killed sweep: two points' files gone, the combined outputs too. The rerun runs those two only.
  fs::remove(fs::path(two) / "points" / "000001.json");
  fs::remove(fs::path(two) / "points" / "000002.json");
  fs::remove(fs::path(two) / "results.jsonl");
  fs::remove(fs::path(two) / "results.csv");
  std::ofstream(fs::path(two) / "points" / "000000.json.123-0.tmp") << "{\"point\"";   // a write cut short
  const auto again = run_tandem(kGrid + " --jobs 2 --out " + two);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("4 points (2 simulated now, 2 already stored)"));
  CHECK(read_file(fs::path(two) / "results.jsonl") == jsonl);
  CHECK(read_file(fs::path(two) / "results.csv") == csv);
  CHECK_FALSE(fs::exists(fs::path(two) / "points" / "000000.json.123-0.tmp"));

  // A different sweep in the same directory is refused, naming what changed; nothing is rewritten.
  const auto changed = run_tandem("sweep scenarios/tiny.json --grid plan.pp=1,2 --grid plan.schedule=1f1b --quiet --out " + two);
  CHECK(changed.exit_code == 2);
  CHECK(lines(changed.output) == 1);
  CHECK_THAT(changed.output, Catch::Contains("sweep.json: at grid[1].values"));
  CHECK(read_file(fs::path(two) / "results.csv") == csv);
  fs::remove_all(dir);
}

TEST_CASE("sweep --top ranks the points of a finished directory without running them", "[cli][sweep]") {
  const fs::path dir = temp_dir("sweep_top");
  const std::string out = (dir / "out").string();
  REQUIRE(run_tandem(kGrid + " --out " + out).exit_code == 0);
  const auto records = read_jsonl(fs::path(out) / "results.jsonl");
  fs::remove_all(fs::path(out) / "points");   // nothing to resume from: --top reads results.jsonl
  const auto top = run_tandem("sweep --top 2 --by step_time_s --out " + out + " --plot tokens_per_s:plan.pp:plan.schedule", false);
  REQUIRE(top.exit_code == 0);
  CHECK_THAT(top.output, Catch::StartsWith("top 2 of 4 points that fit in memory (4 in all) by step_time_s (lower is better)\n"
                                           "rank  point  plan.pp  plan.schedule  step_time_s\n"));
  // The fastest point by hand from the records.
  int64_t best = 0;
  for (const auto& r : records)
    if (r["report"]["step_time_s"].get<double>() < records[size_t(best)]["report"]["step_time_s"].get<double>())
      best = r["point"].get<int64_t>();
  CHECK_THAT(top.output, Catch::Contains(fmt::format("\n1     {}  ", best)));
  CHECK(fs::exists(fs::path(out) / "plot-tokens_per_s-vs-plan.pp-by-plan.schedule.svg"));
  fs::remove_all(dir);
}

TEST_CASE("sweep records refusals and runs stragglers as an axis", "[cli][sweep]") {
  const fs::path dir = temp_dir("sweep_refusals");
  const fs::path file = dir / "s.json";
  std::ofstream(file) << R"({"scenario": "tiny", "set": {"sim.mode": "full"},
    "grid": [{"path": "plan.ep", "values": [2, 3]}, {"path": "sim.straggler", "values": [null, "1:2"]}]})";
  const auto r = run_tandem("sweep " + file.string() + " --quiet --out " + (dir / "out").string());
  REQUIRE(r.exit_code == 0);
  const auto records = read_jsonl(dir / "out" / "results.jsonl");
  REQUIRE(records.size() == 4);
  // ep 3 does not divide dp 2: refused with the scenario reader's reason, in the CSV too.
  CHECK(records[2]["status"] == "refused");
  CHECK_THAT(records[2]["reason"].get<std::string>(), Catch::Contains("plan.ep"));
  CHECK_THAT(read_file(dir / "out" / "results.csv"), Catch::Contains("\n2,3,,refused,\"preset:tiny: at plan.ep"));
  // A GPU at half speed makes the step longer.
  CHECK(records[1]["report"]["step_time_s"].get<double>() > records[0]["report"]["step_time_s"].get<double>());
  CHECK(records[1]["report"]["mode"] == "full");
  fs::remove_all(dir);
}

TEST_CASE("sweep refuses bad input with exit code 2 and one line", "[cli][sweep]") {
  const fs::path dir = temp_dir("sweep_bad");
  const std::string out = " --out " + (dir / "out").string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sweep scenarios/tiny.json --grid plan.foo=1,2", "at plan.foo: expected a path the scenario has"},
      {"sweep scenarios/tiny.json --grid plan.ep=", "expected at least one value"},
      {"sweep scenarios/tiny.json --zip plan.ep=1,2 --zip plan.pp=1", "expected 2 values, as many as the first zip axis plan.ep has"},
      {"sweep scenarios/tiny.json --grid sim.straggler=1:x", "at sim.straggler: expected a setting the simulator reads"},
      {"sweep scenarios/tiny.json --grid plan.ep=1 --plot tokens_per_s:plan.pp", "expected an axis of the sweep (plan.ep)"},
      {"sweep scenarios/no-such.json --grid plan.ep=1", "no such file or scenario"},
      {"sweep --top 3", "results.jsonl"},
      {"sweep", "a scenario or sweep file to run"},
  };
  for (const auto& [args, expected] : cases) {
    INFO(args);
    const auto r = run_tandem(args + out);
    CHECK(r.exit_code == 2);
    CHECK(lines(r.output) == 1);
    CHECK_THAT(r.output, Catch::Contains(expected));
  }
  std::ofstream(dir / "bad.json") << "{\"scenario\": \"tiny\", \"grid\": [";
  const auto r = run_tandem("sweep " + (dir / "bad.json").string() + out);
  CHECK(r.exit_code == 2);
  CHECK(lines(r.output) == 1);
  fs::remove_all(dir);
}
