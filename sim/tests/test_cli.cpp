// End-to-end tests of `tandem simulate` (the built binary, path in TANDEM_BIN): the report keys, bit-for-
// bit identical output and timeline across runs, the timeline's fields, and exit code 2 on bad input.
// Tagged [.cli]: CTest runs them as one test with TANDEM_BIN set (sim/CMakeLists.txt).
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace {

struct Output {
  int code = -1;
  std::string text;   // stdout and stderr
};

Output tandem(const std::string& args, bool with_stderr = true) {
  const char* bin = std::getenv("TANDEM_BIN");
  REQUIRE(bin != nullptr);
  const std::string cmd = std::string(bin) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  Output out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.text.append(buf.data(), n);
  const int status = pclose(p);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/tandem_sim_cli_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST_CASE("tandem simulate --json prints every report key", "[.cli]") {
  const Output o = tandem("simulate tiny --json", false);
  REQUIRE(o.code == 0);
  const auto j = nlohmann::json::parse(o.text);
  for (const char* key : {"step_time_s", "tokens_per_s", "tokens_per_s_per_gpu", "mfu_bf16", "mfu_fp8", "mfu_bf16_causal",
                          "mfu_fp8_causal", "gpu_hours_per_trillion_tokens", "bubble_fraction", "exposed_comm_fraction",
                          "phases", "sm_time", "links", "memory_peak_bytes", "out_of_memory", "stages"})
    CHECK(j.contains(key));
  for (const char* key : {"forward_s", "backward_input_s", "backward_weight_s", "bubble_s", "steady_s", "optimizer_s"})
    CHECK(j["phases"].contains(key));
  for (const char* key : {"compute", "comm", "idle"}) CHECK(j["sm_time"].contains(key));
  CHECK(j["links"].contains("nvlink_util"));
  CHECK(j["links"].contains("ib_util"));
  CHECK(j["step_time_s"].get<double>() > 0);
  CHECK(j["mode"] == "symmetric");
}

TEST_CASE("tandem simulate gives the same report and timeline bytes twice", "[.cli]") {
  const std::string a = temp_path("a.json"), b = temp_path("b.json");
  const Output x = tandem("simulate tiny --full --json --trace " + a, false);
  const Output y = tandem("simulate tiny --full --json --trace " + b, false);
  REQUIRE(x.code == 0);
  REQUIRE(y.code == 0);
  CHECK(x.text == y.text);
  const std::string ta = slurp(a), tb = slurp(b);
  CHECK(ta.size() > 1000);
  CHECK(ta == tb);
  // The timeline: complete events with pid = rank, tid = stream and the args of DESIGN.md.
  const auto t = nlohmann::json::parse(ta);
  REQUIRE(t.contains("traceEvents"));
  CHECK(t["metadata"]["source"] == "sim");
  size_t complete = 0, flows = 0;
  for (const auto& e : t["traceEvents"]) {
    if (e["ph"] == "s") ++flows;
    if (e["ph"] != "X") continue;
    ++complete;
    CHECK(e["pid"].get<int>() < 4);
    CHECK(e["tid"].get<int>() < 3);
    for (const char* arg : {"op", "id", "stage"}) CHECK(e["args"].contains(arg));
  }
  CHECK(complete > 100);
  CHECK(flows > 0);   // sends linked to their receives
  std::remove(a.c_str());
  std::remove(b.c_str());
}

TEST_CASE("tandem simulate keeps only the chosen ranks in the timeline", "[.cli]") {
  const std::string a = temp_path("r.json");
  REQUIRE(tandem("simulate tiny --full --trace " + a + " --trace-ranks 1,3", false).code == 0);
  const auto t = nlohmann::json::parse(slurp(a));
  for (const auto& e : t["traceEvents"])
    if (e["ph"] == "X") CHECK((e["pid"] == 1 || e["pid"] == 3));
  std::remove(a.c_str());
}

TEST_CASE("tandem simulate refuses bad input with exit code 2", "[.cli]") {
  struct Case {
    const char* args;
    const char* says;
  };
  for (const Case& c : {Case{"simulate tiny --straggler 3", "expected RANK:FACTOR"},
                        Case{"simulate tiny --degrade-link nic:0=2", "factor in (0, 1]"},
                        Case{"simulate tiny --trace-ranks 9 --trace /dev/null", "--trace-ranks '9'"},
                        Case{"simulate tiny --symmetric --straggler 1:1.5", "symmetric path needs"},
                        Case{"simulate tiny --full --symmetric", "excludes"},
                        Case{"simulate tiny --classes --symmetric", "excludes"},
                        Case{"simulate tiny --classes --straggler 9:1.5", "straggler rank 9 is outside"},
                        Case{"simulate tiny --calibration /nonexistent.json", "/nonexistent.json: at (file): expected a calibration table"},
                        Case{"simulate tiny --expert-load /nonexistent.txt", "/nonexistent.txt: at (file): expected"},
                        Case{"simulate tiny --set plan.pp=-1", "plan.pp"},
                        Case{"simulate no-such-scenario", "no-such-scenario"},
                        Case{"simulate deepseek-v3-pretrain --full --trace /dev/null --trace-ranks all",
                             "keep fewer ranks"},
                        Case{"simulate tiny --time-limit 0", "--time-limit: expected a number > 0, found '0'"},
                        Case{"simulate tiny --time-limit soon", "--time-limit: expected a number > 0, found 'soon'"}}) {
    INFO(c.args);
    const Output o = tandem(c.args);
    CHECK(o.code == 2);
    CHECK(o.text.find(c.says) != std::string::npos);
  }
}

TEST_CASE("tandem simulate --expert-load replaces a scenario's zipf routing", "[.cli]") {
  const std::string loads = temp_path("loads.txt");
  std::ofstream(loads) << "8 1 1 1 1 1 1 1\n";
  const Output zipf = tandem("simulate tiny --json --set plan.routing.kind=zipf --set plan.routing.zipf_exponent=1.0", false);
  REQUIRE(zipf.code == 0);
  const Output o = tandem("simulate tiny --json --set plan.routing.kind=zipf --set plan.routing.zipf_exponent=1.0 --expert-load " + loads, false);
  REQUIRE(o.code == 0);
  const Output same = tandem("simulate tiny --json --expert-load " + loads, false);
  REQUIRE(same.code == 0);
  // The file's loads are simulated whatever routing the scenario held.
  CHECK(nlohmann::json::parse(o.text)["step_time_s"] == nlohmann::json::parse(same.text)["step_time_s"]);
  CHECK(nlohmann::json::parse(o.text)["step_time_s"] != nlohmann::json::parse(zipf.text)["step_time_s"]);
  std::remove(loads.c_str());
}

TEST_CASE("tandem simulate --classes is the path auto takes for skewed routing and gives the full path's step", "[.cli]") {
  const std::string zipf = " --json --set plan.routing.kind=zipf --set plan.routing.zipf_exponent=1.0";
  const Output automatic = tandem("simulate tiny" + zipf, false);
  const Output classes = tandem("simulate tiny --classes" + zipf, false);
  const Output full = tandem("simulate tiny --full" + zipf, false);
  REQUIRE(automatic.code == 0);
  REQUIRE(classes.code == 0);
  REQUIRE(full.code == 0);
  const auto a = nlohmann::json::parse(automatic.text), c = nlohmann::json::parse(classes.text),
             f = nlohmann::json::parse(full.text);
  CHECK(a["mode"] == "classes");
  CHECK(c["mode"] == "classes");
  CHECK(f["mode"] == "full");
  CHECK(c["step_time_s"] == a["step_time_s"]);
  CHECK(c["step_time_s"] == f["step_time_s"]);
}

TEST_CASE("tandem simulate runs the what-if options on the full path", "[.cli]") {
  const Output o = tandem("simulate tiny --json --straggler 1:1.5 --degrade-link nvlink:0=0.5", false);
  REQUIRE(o.code == 0);
  const auto j = nlohmann::json::parse(o.text);
  CHECK(j["mode"] == "full");
  const Output base = tandem("simulate tiny --json", false);
  CHECK(j["step_time_s"].get<double>() > nlohmann::json::parse(base.text)["step_time_s"].get<double>());
}

TEST_CASE("tandem simulate --progress prints progress lines on stderr without a terminal", "[.cli]") {
  // The replay reports at its start and at its end; line mode prints the first and the last whatever the interval.
  const Output o = tandem("simulate tiny --full --progress");
  REQUIRE(o.code == 0);
  CHECK(o.text.find("simulate: 0.000 s simulated, 0 events (0/s), 0% of ") != std::string::npos);
  const size_t end = o.text.find("100% of ");
  REQUIRE(end != std::string::npos);
  CHECK(o.text.find(" ops, done in ", end) != std::string::npos);
  // Without --progress and without a terminal: no progress lines.
  CHECK(tandem("simulate tiny --full").text.find("s simulated, ") == std::string::npos);
}

TEST_CASE("tandem simulate --time-limit ends a large run with one line, exit code 3 and nothing written", "[.cli]") {
  // Building DeepSeek-V3's 128-rank program alone takes longer than 1 ms: the replay stops at its first check.
  const std::string trace = temp_path("limited_trace.json");
  std::remove(trace.c_str());
  const Output o = tandem("simulate scenarios/deepseek-v3-128.json --full --straggler 5:1.5 --time-limit 0.001 --json --trace " + trace +
                          " --trace-ranks 0");
  CHECK(o.code == 3);
  CHECK(o.text.rfind("error: --time-limit 0.001 s: the time limit was reached after ", 0) == 0);
  CHECK(o.text.find("nothing written (exit code 3)") != std::string::npos);
  CHECK(std::count(o.text.begin(), o.text.end(), '\n') == 1);   // one line, no report
  std::ifstream in(trace);
  CHECK_FALSE(in.good());
}
