// Sweep definitions and their points, checked by hand: grid order (first axis slowest), zip axes
// moving together, per-point overrides, derived global batches, and bad definitions (io::InputError).
#include <catch2/catch.hpp>

#include "io/input_error.h"
#include "sweep/sweep_definition.h"
#include "sweep/sweep_points.h"

using namespace tandem::sweep;
using nlohmann::json;

namespace {
// DeepSeek-V3's published shape: 256 nodes of 8 GPUs, pp 16 (dp 128), 1 sequence per micro-batch,
// 15360 sequences per step.
BaseShape deepseek_shape() {
  BaseShape b;
  b.nodes = 256;
  b.gpus_per_node = 8;
  b.pp = 16;
  b.tp = 1;
  b.micro_batch_seqs = 1;
  b.global_batch_seqs = 15360;
  return b;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tandem::io::InputError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("axis options split values at top-level commas and read JSON or strings") {
  const SweepAxis a = parse_axis_option("plan.schedule=1f1b,dualpipe", "--grid");
  CHECK(a.path == "plan.schedule");
  CHECK(a.values == std::vector<json>{"1f1b", "dualpipe"});
  const SweepAxis b = parse_axis_option("plan.routing={\"kind\":\"zipf\",\"zipf_exponent\":1.2},{\"kind\":\"balanced\"}", "--grid");
  REQUIRE(b.values.size() == 2);
  CHECK(b.values[0]["zipf_exponent"] == 1.2);
  const SweepAxis c = parse_axis_option("cluster.nic_bytes_per_s=25e9,5e10", "--grid");
  CHECK(c.values[0].get<double>() == 25e9);
  const SweepAxis d = parse_axis_option("sim.straggler=[\"1:1.5\",\"2:2\"],none", "--zip");
  CHECK(d.values[0].is_array());
  CHECK(d.values[1] == "none");
}

TEST_CASE("a grid expands with the first axis slowest, and zip axes are one more dimension") {
  // 2 x 3 grid times a zip of 2: 12 points. Point 7 = digits (1, 0, 1) over sizes (2, 3, 2):
  // 1*6 + 0*2 + 1 = 7.
  const SweepDefinition d = definition_from_options(
      "tiny", {"cluster.nodes=1,2", "plan.schedule=1f1b,zb1p,dualpipev"}, {"plan.ep=1,2", "plan.comm_sms=10,20"}, {"plan.pp=2"}, {});
  const auto points = expand_points(d, deepseek_shape());
  REQUIRE(points.size() == 12);
  CHECK(points[0].axes == json{{"cluster.nodes", 1}, {"plan.schedule", "1f1b"}, {"plan.ep", 1}, {"plan.comm_sms", 10}});
  CHECK(points[7].axes == json{{"cluster.nodes", 2}, {"plan.schedule", "1f1b"}, {"plan.ep", 2}, {"plan.comm_sms", 20}});
  CHECK(points[11].axes == json{{"cluster.nodes", 2}, {"plan.schedule", "dualpipev"}, {"plan.ep", 2}, {"plan.comm_sms", 20}});
  // Fixed settings first, then the axes in order.
  CHECK(points[7].overrides == std::vector<std::string>{"plan.pp=2", "cluster.nodes=2", "plan.schedule=\"1f1b\"", "plan.ep=2",
                                                        "plan.comm_sms=20"});
  for (size_t i = 0; i < points.size(); ++i) CHECK(points[i].index == int64_t(i));
}

TEST_CASE("sim.* settings go to the simulation's options, not the scenario") {
  const SweepDefinition d = definition_from_options("tiny", {"sim.straggler=none,\"1:1.5\""}, {}, {"sim.mode=full"}, {});
  const auto points = expand_points(d, deepseek_shape());
  REQUIRE(points.size() == 2);
  CHECK(points[1].sim == json{{"sim.mode", "full"}, {"sim.straggler", "1:1.5"}});
  CHECK(points[1].overrides.empty());
}

TEST_CASE("derived global batch: kept, or scaled with the GPUs, to a multiple of dp x micro-batch") {
  SweepDefinition d = definition_from_options("deepseek-v3-pretrain", {"cluster.nodes=128,256,384"}, {}, {}, {"keep_global_batch"});
  auto points = expand_points(d, deepseek_shape());
  // dp = nodes*8/16: 64, 128, 192. 15360 is a multiple of each (240, 120, 80 micro-batches).
  CHECK(points[0].derived == json{{"plan.global_batch_seqs", 15360}});
  CHECK(points[2].derived == json{{"plan.global_batch_seqs", 15360}});
  CHECK(points[2].overrides.back() == "plan.global_batch_seqs=15360");

  d = definition_from_options("deepseek-v3-pretrain", {"cluster.nodes=100"}, {}, {}, {"keep_global_batch"});
  // dp = 800/16 = 50: multiples 15350 and 15400 around 15360; 15350 is nearer.
  CHECK(expand_points(d, deepseek_shape())[0].derived == json{{"plan.global_batch_seqs", 15350}});

  d = definition_from_options("deepseek-v3-pretrain", {"cluster.nodes=128,512"}, {}, {}, {"scale_global_batch"});
  points = expand_points(d, deepseek_shape());
  CHECK(points[0].derived == json{{"plan.global_batch_seqs", 7680}});    // 15360 x 1024/2048
  CHECK(points[1].derived == json{{"plan.global_batch_seqs", 30720}});   // 15360 x 4096/2048

  // A point that sets the batch itself keeps it; a shape pp does not divide is left to the reader.
  d = definition_from_options("deepseek-v3-pretrain", {"cluster.nodes=3"}, {}, {"plan.global_batch_seqs=960"}, {"keep_global_batch"});
  CHECK(expand_points(d, deepseek_shape())[0].derived.empty());
  d = definition_from_options("deepseek-v3-pretrain", {"plan.pp=3"}, {}, {}, {"keep_global_batch"});
  CHECK(expand_points(d, deepseek_shape())[0].derived.empty());   // 2048 GPUs are not a multiple of 3
}

TEST_CASE("nearest multiple: ties go down, never below one step") {
  CHECK(nearest_multiple(15360, 50) == 15350);
  CHECK(nearest_multiple(25, 10) == 20);
  CHECK(nearest_multiple(26, 10) == 30);
  CHECK(nearest_multiple(3, 10) == 10);
}

TEST_CASE("a sweep file: axes in order, per-point overrides on matching points, derived rules") {
  const json doc = json::parse(R"({
    "scenario": "tiny",
    "set": {"plan.comm_sms": 24},
    "grid": [{"path": "plan.schedule", "values": ["1f1b", "dualpipev"]}, {"path": "plan.pp", "values": [1, 2]}],
    "derived": ["keep_global_batch"],
    "overrides": [{"when": {"plan.schedule": "dualpipev"}, "set": {"plan.micro_batch_seqs": 2}}]
  })");
  const SweepDefinition d = parse_sweep_document(doc, "s.json");
  REQUIRE(d.grid.size() == 2);
  CHECK(d.grid[0].path == "plan.schedule");
  // tiny: 1 node of 4 GPUs, global batch 32, micro-batch 4 (base shape written out here).
  BaseShape tiny;
  tiny.nodes = 1;
  tiny.gpus_per_node = 4;
  tiny.pp = 2;
  tiny.micro_batch_seqs = 4;
  tiny.global_batch_seqs = 32;
  const auto points = expand_points(d, tiny);
  REQUIRE(points.size() == 4);
  CHECK(points[1].overrides == std::vector<std::string>{"plan.comm_sms=24", "plan.schedule=\"1f1b\"", "plan.pp=2",
                                                        "plan.global_batch_seqs=32"});
  // dualpipev, pp 2: dp 2, micro-batch 2 from the override: 32 is a multiple of 4.
  CHECK(points[3].overrides == std::vector<std::string>{"plan.comm_sms=24", "plan.schedule=\"dualpipev\"", "plan.pp=2",
                                                        "plan.micro_batch_seqs=2", "plan.global_batch_seqs=32"});
  // The canonical form reads back as the same definition.
  const SweepDefinition again = parse_sweep_document(d.to_json(), "s.json");
  CHECK(again.to_json() == d.to_json());
}

TEST_CASE("bad sweep definitions are refused in one line naming the place") {
  CHECK_THAT(message_of([] { definition_from_options("tiny", {"plan.ep="}, {}, {}, {}); }),
             Catch::Contains("--grid: at plan.ep: expected at least one value"));
  CHECK_THAT(message_of([] { definition_from_options("tiny", {"plan.ep=1,,2"}, {}, {}, {}); }),
             Catch::Contains("an empty value"));
  CHECK_THAT(message_of([] { definition_from_options("tiny", {"plan.ep"}, {}, {}, {}); }), Catch::Contains("path=value"));
  CHECK_THAT(message_of([] { definition_from_options("tiny", {}, {}, {}, {}); }), Catch::Contains("at least one axis"));
  CHECK_THAT(message_of([] { definition_from_options("tiny", {}, {"plan.ep=1,2", "plan.pp=1,2,4"}, {}, {}); }),
             Catch::Contains("at plan.pp: expected 2 values, as many as the first zip axis plan.ep has, found 3 values"));
  CHECK_THAT(message_of([] { definition_from_options("tiny", {"plan.ep=1", "plan.ep=2"}, {}, {}, {}); }),
             Catch::Contains("each path varied by one axis only"));
  CHECK_THAT(message_of([] { definition_from_options("tiny", {"sim.stragler=1:2"}, {}, {}, {}); }),
             Catch::Contains("one of the simulation's options"));
  CHECK_THAT(message_of([] { definition_from_options("tiny", {"plan.ep=1"}, {}, {}, {"keep_batch"}); }),
             Catch::Contains("keep_global_batch or scale_global_batch"));
  CHECK_THAT(message_of([] { parse_sweep_document(json::parse(R"({"scenario": "tiny", "grid": [{"path": "plan.ep", "values": []}]})"), "s.json"); }),
             Catch::Contains("s.json: at grid[0].values: expected at least one value, found an empty array"));
  CHECK_THAT(message_of([] { parse_sweep_document(json::parse(R"({"scenario": "tiny", "grid": [], "axes": 1})"), "s.json"); }),
             Catch::Contains("the unknown key \"axes\""));
  CHECK_THAT(message_of([] {
               parse_sweep_document(json::parse(R"({"scenario": "tiny", "grid": [{"path": "plan.ep", "values": [1]}],
                                                    "overrides": [{"when": {"plan.pp": 2}, "set": {}}]})"), "s.json");
             }),
             Catch::Contains("which no axis varies"));
  // 1001 x 1000 points is over the bound.
  SweepDefinition big;
  big.source = "the command line";
  big.grid = {{"a.b", std::vector<json>(1001, 1)}, {"a.c", std::vector<json>(1000, 1)}};
  CHECK_THAT(message_of([&] { check_definition(big); }), Catch::Contains("at most 1000000 points"));
}
