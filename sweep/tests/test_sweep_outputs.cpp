// The sweep's outputs from hand-made records: CSV columns and quoting, JSONL round trip, ranking
// (direction, memory filter), the Pareto front, and SVG that is well-formed (every tag closed).
#include <filesystem>
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>

#include "io/input_error.h"
#include "sweep/ranking.h"
#include "sweep/results_table.h"
#include "sweep/svg_chart.h"
#include "sweep/sweep_plots.h"

using namespace tandem::sweep;
using nlohmann::json;

namespace {

json record(int64_t point, int64_t ep, const char* schedule, double tokens_per_s, int64_t gpus, bool oom,
            const char* status = "ok") {
  json r = {{"point", point}, {"axes", {{"plan.ep", ep}, {"plan.schedule", schedule}}}, {"overrides", json::array()},
            {"sim", json::object()}, {"derived", json::object()}, {"status", status}, {"reason", ""},
            {"out_of_memory", oom}, {"report", nullptr}};
  if (std::string(status) == "ok")
    r["report"] = {{"gpus", gpus},
                   {"tokens_per_s", tokens_per_s},
                   {"tokens_per_s_per_gpu", tokens_per_s / double(gpus)},
                   {"gpu_hours_per_trillion_tokens", 1e12 / tokens_per_s * double(gpus) / 3600},
                   {"phases", {{"forward_s", 1.5}}},
                   {"memory_peak_bytes", {10, 30, 20}},
                   {"stages", {{{"stage", 0}}}}};
  else
    r["reason"] = "file: at plan.ep: expected a divisor of dp = 2, found 4";
  return r;
}

// Every element opened is closed in order (self-closing ones count as both), text has no raw '<'.
bool well_formed_svg(const std::string& svg) {
  std::vector<std::string> open;
  const std::regex tag("<(/?)([a-zA-Z]+)[^>]*?(/?)>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tag); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    if (m[3] == "/") continue;
    if (m[1] == "/") {
      if (open.empty() || open.back() != m[2]) return false;
      open.pop_back();
    } else {
      open.push_back(m[2]);
    }
  }
  return open.empty() && svg.rfind("<svg", 0) == 0;
}

}  // namespace

TEST_CASE("report figures: nested objects flattened, number lists as their largest, object lists left out") {
  const auto figures = report_figures(record(0, 1, "1f1b", 1000, 4, false)["report"]);
  std::vector<std::string> names;
  for (const auto& [n, v] : figures) names.push_back(n);
  CHECK(names == std::vector<std::string>{"gpu_hours_per_trillion_tokens", "gpus", "memory_peak_bytes", "phases.forward_s",
                                          "tokens_per_s", "tokens_per_s_per_gpu"});
  CHECK(figures[2].second == 30);
}

TEST_CASE("results.csv: axes, outcome columns, then figures, and refused rows keep their reason") {
  const std::vector<json> records = {record(0, 1, "1f1b", 1000, 4, false), record(1, 4, "1f1b", 0, 4, false, "refused")};
  const std::string csv = results_csv(records, {"plan.ep", "plan.schedule"});
  const std::string header =
      "point,plan.ep,plan.schedule,status,reason,out_of_memory,gpu_hours_per_trillion_tokens,gpus,memory_peak_bytes,"
      "phases.forward_s,tokens_per_s,tokens_per_s_per_gpu\n";
  // 1e12 / 1000 x 4 / 3600 = 1111111.111... GPU-hours.
  const std::string row0 = "0,1,1f1b,ok,,false,1111111.111111111,4,30,1.5,1000.0,250.0\n";
  const std::string row1 = "1,4,1f1b,refused,\"file: at plan.ep: expected a divisor of dp = 2, found 4\",false,,,,,,\n";
  CHECK(csv == header + row0 + row1);
}

TEST_CASE("results.jsonl reads back as written, and a line that is not a record names its line") {
  const std::vector<json> records = {record(0, 1, "1f1b", 1000, 4, false), record(1, 2, "zb1p", 900, 4, true)};
  const auto dir = std::filesystem::temp_directory_path() / ("tandem_sweep_jsonl_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "results.jsonl").string();
  std::ofstream(path) << results_jsonl(records);
  CHECK(read_results(path) == records);
  CHECK(axis_paths_of(records) == std::vector<std::string>{"plan.ep", "plan.schedule"});
  std::ofstream(path) << results_jsonl(records) << "{\"point\": 2}\n";
  try {
    read_results(path);
    FAIL("no error");
  } catch (const tandem::io::InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("results.jsonl:3"));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("ranking keeps the points that fit, in the figure's direction, ties by point") {
  const std::vector<json> records = {record(0, 1, "1f1b", 1000, 4, false), record(1, 2, "1f1b", 3000, 4, true),
                                     record(2, 4, "1f1b", 2000, 4, false), record(3, 8, "1f1b", 0, 4, false, "refused"),
                                     record(4, 1, "zb1p", 2000, 4, false)};
  auto top = top_points(records, "tokens_per_s_per_gpu", 2);
  REQUIRE(top.size() == 2);
  CHECK(top[0]["point"] == 2);   // 500 per GPU; point 1 (750) is out of memory
  CHECK(top[1]["point"] == 4);   // tie with point 2, later index
  top = top_points(records, "gpu_hours_per_trillion_tokens", 1);   // lower is better
  CHECK(top[0]["point"] == 2);
  CHECK(lower_is_better("step_time_s"));
  CHECK_FALSE(lower_is_better("mfu_fp8"));
  CHECK_THROWS_WITH(top_points(records, "tokens_per_gpu", 1),
                    Catch::Contains("--by: expected a figure of the report such as tokens_per_s, found \"tokens_per_gpu\""));
  const std::string table = top_table(top, {"plan.ep", "plan.schedule"}, "gpu_hours_per_trillion_tokens", 3, 5);
  CHECK_THAT(table, Catch::StartsWith("top 1 of 3 points that fit in memory (5 in all) by gpu_hours_per_trillion_tokens (lower is better)"));
}

TEST_CASE("Pareto front: fewer GPUs or more tokens/s") {
  // (GPUs, tokens/s): (8, 10) front; (16, 9) dominated; (16, 30) front; (32, 30) dominated; (64, 50) front.
  const std::vector<std::pair<double, double>> xy = {{16, 9}, {8, 10}, {32, 30}, {16, 30}, {64, 50}};
  CHECK(pareto_front(xy) == std::vector<size_t>{1, 3, 4});
}

TEST_CASE("plots are well-formed SVG with their points, and bad plot specs are refused") {
  const std::vector<json> records = {record(0, 1, "1f1b", 1000, 4, false), record(1, 2, "1f1b", 1500, 8, true),
                                     record(2, 1, "zb1p", 1100, 4, false), record(3, 2, "zb1p", 0, 8, false, "refused")};
  const std::vector<std::string> axes = {"plan.ep", "plan.schedule"};
  const PlotSpec spec = parse_plot_spec("tokens_per_s:plan.ep:plan.schedule", axes);
  CHECK(spec.file_name() == "plot-tokens_per_s-vs-plan.ep-by-plan.schedule.svg");
  const std::string svg = figure_plot_svg(records, spec, axes);
  CHECK(well_formed_svg(svg));
  CHECK_THAT(svg, Catch::Contains("plan.schedule=1f1b"));
  CHECK_THAT(svg, Catch::Contains("hollow: out of memory (1); not drawn: refused or failed (1)"));
  // Three points drawn: one line with two points, one with one.
  CHECK(std::count(svg.begin(), svg.end(), '\n') > 10);
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  CHECK(circles == 3);
  // Categories along x when the axis is not numeric.
  CHECK(well_formed_svg(figure_plot_svg(records, parse_plot_spec("tokens_per_s:plan.schedule", axes), axes)));
  const std::string pareto = pareto_svg(records, ParetoX::Gpus);
  CHECK(well_formed_svg(pareto));
  CHECK_THAT(pareto, Catch::Contains("2 points that fit in memory, 1 on the front"));
  CHECK(well_formed_svg(pareto_svg(records, ParetoX::Cost)));
  // Escaped text stays well-formed.
  XyChart c;
  c.title = "a <b> & \"c\"";
  c.series = {{"x<y", {{0, 1}, {1, 2}}, true}};
  CHECK(well_formed_svg(xy_chart_svg(c)));
  CHECK_THAT(xy_chart_svg(c), Catch::Contains("a &lt;b&gt; &amp; &quot;c&quot;"));

  CHECK_THROWS_WITH(parse_plot_spec("tokens_per_s", axes), Catch::Contains("figure:axis"));
  CHECK_THROWS_WITH(parse_plot_spec("tokens_per_s:plan.eps", axes), Catch::Contains("did you mean \"plan.ep\""));
  CHECK_THROWS_WITH(figure_plot_svg(records, parse_plot_spec("tokens_per_z:plan.ep", axes), axes), Catch::Contains("no point with it"));
}

TEST_CASE("nice ticks cover the range at 1, 2, 5 x 10^k") {
  CHECK(nice_ticks(0, 10) == std::vector<double>{0, 2, 4, 6, 8, 10});
  CHECK(nice_ticks(0, 3000) == std::vector<double>{0, 1000, 2000, 3000});   // 600 a step: rounded up to 1000
  CHECK(nice_ticks(0, 0.9) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8});
  CHECK(tick_label(25000) == "25k");
  CHECK(tick_label(2e6) == "2M");
}
