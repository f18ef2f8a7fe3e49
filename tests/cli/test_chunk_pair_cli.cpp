// `tandem simulate --trace-pair` and `tandem compare --map` end to end: the tiny model under DualPipe
// cut to one chunk pair of one stage, re-based to 0; a Kineto trace read through a map; bad maps and
// schedules without pairs end with exit code 2 and one line.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;
using tandem::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

std::string line_count_note(const std::string& s) { return std::to_string(std::count(s.begin(), s.end(), '\n')) + " lines"; }

}  // namespace

TEST_CASE("tandem simulate --trace-pair keeps one chunk pair of one stage from time 0", "[cli][simulate][trace_pair]") {
  const fs::path dir = temp_dir("trace_pair");
  const fs::path pair = dir / "pair.json";
  const auto r = run_tandem("simulate tiny --set plan.schedule=dualpipe --trace " + pair.string() + " --trace-pair 1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(pair));
  double first = 1e300;
  std::set<int> pids;
  std::set<std::string> kinds, chunks;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] != "X") continue;
    first = std::min(first, e["ts"].get<double>());
    pids.insert(e["pid"].get<int>());
    kinds.insert(e["args"]["op"].get<std::string>());
    chunks.insert(std::to_string(e["args"]["mb"].get<int>()) + (e["args"]["phase"] == "F" ? "F" : "B"));
  }
  CHECK(first == 0.0);
  CHECK(pids.size() == 1);                     // stage 1's first rank
  CHECK(chunks.size() == 2);                   // one forward and one backward micro-batch chunk
  CHECK(kinds.count("send") + kinds.count("recv") == 0);
  CHECK(kinds.count("all_to_all") == 1);
  CHECK(j["metadata"]["trace_pair_stage"] == "1");

  // The pair against a Kineto trace through a map: per-class rows on both sides.
  const std::string data = std::string(TANDEM_SOURCE_DIR) + "/trace/tests/data/";
  const auto c = run_tandem("compare " + pair.string() + " " + data + "kineto_pair_small.json --map " + data +
                                "kineto_pair_small.map.json --json",
                            false);
  REQUIRE(c.exit_code == 0);
  const nlohmann::json cj = nlohmann::json::parse(c.output);
  std::set<std::string> classes;
  for (const auto& row : cj["classes"]) classes.insert(row["class"].get<std::string>());
  CHECK(classes.count("wgrad_gemm") == 1);
  CHECK(classes.count("deepep_notify") == 1);
  CHECK(classes.count("unknown") == 1);

  // A map that does not compile: exit 2, one line naming the file and the JSON path, nothing printed.
  const fs::path bad = dir / "bad-map.json";
  std::ofstream(bad) << R"({"kernels": [{"match": "gemm(", "kind": "gemm", "class": "other"}]})";
  const auto b = run_tandem("compare " + pair.string() + " " + data + "kineto_pair_small.json --map " + bad.string());
  INFO(b.output);
  CHECK(b.exit_code == 2);
  CHECK_THAT(b.output, Catch::Contains(bad.string() + ": at $.kernels[0].match: expected a regular expression"));
  CHECK_THAT(line_count_note(b.output), Catch::Equals("1 lines"));
  fs::remove_all(dir);
}

TEST_CASE("tandem simulate --trace-pair refuses a schedule without overlapped pairs", "[cli][simulate][trace_pair]") {
  const fs::path dir = temp_dir("trace_pair_1f1b");
  const fs::path out = dir / "pair.json";
  const auto r = run_tandem("simulate tiny --trace " + out.string() + " --trace-pair 0");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("--trace-pair: expected a schedule that overlaps"));
  CHECK_THAT(line_count_note(r.output), Catch::Equals("1 lines"));
  CHECK(!fs::exists(out));
  fs::remove_all(dir);
}
