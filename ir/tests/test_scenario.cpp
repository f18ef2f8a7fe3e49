// Scenario loading: presets, overrides, and a clear ScenarioError (file, JSON path, expected, found)
// for every kind of bad input.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "ir/scenario.h"

using namespace tandem::ir;
using nlohmann::json;

namespace {

json base_doc() {
  return json{{"model", "tiny"},
              {"cluster", {{"base", "h800"}, {"nodes", 1}, {"gpus_per_node", 4}, {"nics_per_node", 4}, {"planes", 4}}},
              {"plan", {{"pp", 2}, {"ep", 2}, {"seq_len", 64}, {"micro_batch_seqs", 4}, {"global_batch_seqs", 32}, {"schedule", "1f1b"}}}};
}

// Parses and returns the error, failing the test if there is none.
ScenarioError error_of(const json& doc, const std::vector<std::string>& overrides = {}) {
  try {
    parse_scenario(doc, "test.json", overrides);
  } catch (const ScenarioError& e) {
    return e;
  }
  FAIL("expected a ScenarioError");
  throw;
}

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("tandem_test_" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

}  // namespace

TEST_CASE("embedded scenarios load and resolve presets", "[ir][scenario]") {
  const Scenario s = load_scenario("deepseek-v3-pretrain");
  CHECK(s.model.hidden_size == 7168);
  CHECK(s.cluster.world_size() == 2048);
  CHECK(s.plan.pp == 16);
  CHECK(s.plan.dp == 128);               // derived: 2048 / (16 x 1)
  CHECK(s.plan.ep == 64);
  CHECK(s.plan.micro_batches() == 120);  // 15360 sequences / (128 replicas x 1 sequence)
  CHECK(s.plan.schedule == ScheduleKind::DualPipe);
  CHECK(s.plan.comm_sms == 20);
  CHECK(s.plan.max_nodes_per_token == 4);
  CHECK(s.resolved["model"]["num_layers"] == 61);
  const Scenario tiny = load_scenario("tiny");
  CHECK(tiny.model.name == "tiny");
  for (const char* name : {"clusters/h800", "clusters/h100", "clusters/h200", "models/deepseek-v3-671b", "models/deepseek-v2-lite", "models/tiny"})
    CHECK(find_preset(name) != nullptr);
}

TEST_CASE("set overrides any field and is validated like the file", "[ir][scenario]") {
  const Scenario s = load_scenario("deepseek-v3-pretrain", {"plan.pp=8", "plan.schedule=1f1b", "cluster.nodes=128"});
  CHECK(s.plan.pp == 8);
  CHECK(s.plan.dp == 128);   // 1024 / 8
  CHECK(s.plan.schedule == ScheduleKind::OneFOneB);
  const auto e = error_of(base_doc(), {"plan.pp=three"});
  CHECK(e.path() == "plan.pp");
  CHECK_THAT(e.found(), Catch::Contains("\"three\""));
  CHECK(error_of(base_doc(), {"plan.pp"}).expected().find("path=value") != std::string::npos);
  // Zero given on the command line arrives as an unsigned JSON number and must meet the lower bound too.
  for (const char* zero : {"plan.pp=0", "plan.ep=0", "cluster.nodes=0", "plan.seq_len=0"}) {
    const auto z = error_of(base_doc(), {zero});
    CHECK_THAT(z.expected(), Catch::Contains("[1,"));
    CHECK(z.found() == "the integer 0");
  }
  // A key outside model, cluster and plan is unknown on the command line as in the file.
  const auto top = error_of(base_doc(), {"foo.bar=3"});
  CHECK(top.path() == "foo");
  CHECK_THAT(top.found(), Catch::Contains("unknown key \"foo\""));
  // A part replaced by a preset name, or by {"base": ...}, is resolved like the file's.
  const Scenario v2 = parse_scenario(base_doc(), "test.json", {"model=deepseek-v2-lite", "plan.ep=1"});
  CHECK(v2.model.name == "deepseek-v2-lite");
  const Scenario based = parse_scenario(base_doc(), "test.json", {R"(model={"base": "tiny", "num_layers": 6})"});
  CHECK(based.model.num_layers == 6);
  CHECK(based.model.hidden_size == parse_scenario(base_doc(), "test.json").model.hidden_size);
  CHECK(error_of(base_doc(), {"model=tinyy"}).found() == "\"tinyy\" (did you mean \"tiny\"?)");
}

TEST_CASE("bad fields name the file, the path, what was expected and what was found", "[ir][scenario][errors]") {
  SECTION("wrong type") {
    json d = base_doc();
    d["plan"]["pp"] = "2";
    const auto e = error_of(d);
    CHECK(e.file() == "test.json");
    CHECK(e.path() == "plan.pp");
    CHECK_THAT(e.expected(), Catch::Contains("integer"));
    CHECK_THAT(e.found(), Catch::Contains("string"));
  }
  SECTION("unknown key with the nearest valid one") {
    json d = base_doc();
    d["plan"]["micro_batch_seq"] = 4;
    const auto e = error_of(d);
    CHECK(e.path() == "plan.micro_batch_seq");
    CHECK_THAT(e.expected(), Catch::Contains("micro_batch_seqs"));
  }
  SECTION("unknown key that is part of a valid one") {
    json d = base_doc();
    d["model"] = {{"base", "tiny"}, {"hidden", 64}};   // too far for a typo from "hidden_size"
    CHECK_THAT(error_of(d).expected(), Catch::Contains("a known key such as \"hidden_size\""));
    json d2 = base_doc();
    d2["plan"]["nodes_per_token"] = 2;
    CHECK_THAT(error_of(d2).expected(), Catch::Contains("\"max_nodes_per_token\""));
  }
  SECTION("micro-batch count beyond the schedule's limit names the batch, not a truncated count") {
    json d = base_doc();
    d["plan"]["global_batch_seqs"] = int64_t(1) << 40;   // 2^40 / (2 x 4) = 2^37 micro-batches
    const auto e = error_of(d);
    CHECK(e.path() == "plan.global_batch_seqs");
    CHECK_THAT(e.found(), Catch::Contains("= 137438953472 micro-batches"));
  }
  SECTION("a number beyond a double in --set") {
    try {
      parse_scenario(base_doc(), "test.json", {"plan.pp=" + std::string(400, '9')});
      FAIL("expected an InputError");
    } catch (const tandem::io::InputError& e) {   // the option is where the bad value is
      CHECK(e.where() == "--set plan.pp");
      CHECK_THAT(e.expected(), Catch::Contains("range of a double"));
    }
  }
  SECTION("unknown preset with a suggestion") {
    json d = base_doc();
    d["model"] = "deepseek-v3-617b";
    const auto e = error_of(d);
    CHECK(e.path() == "model");
    CHECK_THAT(e.found(), Catch::Contains("deepseek-v3-671b"));
  }
  SECTION("missing field") {
    json d = base_doc();
    d["plan"].erase("seq_len");
    const auto e = error_of(d);
    CHECK(e.path() == "plan.seq_len");
    CHECK_THAT(e.found(), Catch::Contains("missing"));
    json d2 = base_doc();
    d2.erase("plan");
    CHECK(error_of(d2).path() == "plan");
  }
  SECTION("zero, negative and huge sizes") {
    for (json v : {json(0), json(-4), json(1e300), json(18446744073709551615ull), json(2.5)}) {
      json d = base_doc();
      d["plan"]["seq_len"] = v;
      const auto e = error_of(d);
      CHECK(e.path() == "plan.seq_len");
      CHECK_THAT(e.expected(), Catch::Contains("integer in [1,"));
    }
    json d = base_doc();
    d["cluster"]["nic_bytes_per_s"] = -1;
    CHECK(error_of(d).path() == "cluster.nic_bytes_per_s");
  }
  SECTION("world size that does not factor into pp x dp x tp") {
    json d = base_doc();
    d["plan"]["pp"] = 3;   // 4 GPUs
    const auto e = error_of(d);
    CHECK(e.path() == "plan.pp");
    CHECK_THAT(e.expected(), Catch::Contains("divides the world size 4"));
    json d2 = base_doc();
    d2["plan"]["dp"] = 4;  // 2 x 4 = 8 != 4
    CHECK_THAT(error_of(d2).found(), Catch::Contains("2 × 4 × 1 = 8"));
  }
  SECTION("ep that does not divide the experts") {
    json d = base_doc();
    d["model"] = {{"base", "tiny"}, {"routed_experts", 9}, {"expert_groups", 3}, {"groups_per_token", 2}};
    const auto e = error_of(d);
    CHECK(e.path() == "plan.ep");
    CHECK_THAT(e.expected(), Catch::Contains("9 routed experts"));
  }
  SECTION("DualPipe with odd PP or too few micro-batches") {
    json d = base_doc();
    d["cluster"]["gpus_per_node"] = 3;
    d["cluster"]["nics_per_node"] = 3;
    d["cluster"]["planes"] = 3;
    d["plan"]["pp"] = 3;
    d["plan"]["ep"] = 1;
    d["plan"]["global_batch_seqs"] = 64;
    d["plan"]["schedule"] = "dualpipe";
    CHECK(error_of(d).path() == "plan.schedule");
    json d2 = base_doc();
    d2["plan"]["schedule"] = "dualpipe";   // 4 micro-batches for pp 2: DualPipe needs at least 2 x pp
    d2["plan"]["global_batch_seqs"] = 8;
    const auto e = error_of(d2);
    CHECK(e.path() == "plan.schedule");
    CHECK_THAT(e.found(), Catch::Contains("micro-batches"));
  }
  SECTION("layers that cannot be split as asked") {
    json d = base_doc();
    d["plan"]["layers_per_stage"] = {1, 2};   // tiny has 4 layers
    const auto e = error_of(d);
    CHECK(e.path() == "plan.layers_per_stage");
    CHECK_THAT(e.found(), Catch::Contains("sum of 3"));
    json d2 = base_doc();
    d2["plan"]["layers_per_stage"] = {4};
    CHECK_THAT(error_of(d2).found(), Catch::Contains("1 entries"));
    json d3 = base_doc();
    d3["model"] = {{"base", "tiny"}, {"num_layers", 1}, {"first_dense_layers", 1}};
    CHECK(error_of(d3).path() == "plan.pp");
  }
  SECTION("batch that does not divide into micro-batches") {
    json d = base_doc();
    d["plan"]["global_batch_seqs"] = 30;
    CHECK(error_of(d).path() == "plan.global_batch_seqs");
  }
  SECTION("top level not an object, unknown schedule") {
    CHECK(error_of(json::array()).path() == "(top level)");
    json d = base_doc();
    d["plan"]["schedule"] = "dualpipe2";
    CHECK_THAT(error_of(d).found(), Catch::Contains("did you mean \"dualpipe\""));
  }
}

TEST_CASE("bad files: missing, truncated, not JSON, too large, a directory", "[ir][scenario][errors]") {
  auto load_error = [](const std::string& path) {
    try {
      load_scenario(path);
    } catch (const tandem::io::InputError& e) {   // ScenarioError, or the file reader's refusal
      return std::string(e.what());
    }
    FAIL("expected an InputError");
    return std::string();
  };
  CHECK_THAT(load_error("/nonexistent/scenario.json"), Catch::Contains("no such file"));
  CHECK_THAT(load_error("deepseek-v2-lite"), Catch::Contains("embedded scenario (deepseek-v3-128, deepseek-v3-b200-megatron, "));
  // A model or cluster preset is a part of a scenario, not one (it used to fail on its first field).
  CHECK_THAT(load_error("models/tiny"), Catch::Contains("found a model preset, a part of a scenario (use it as {\"model\": \"tiny\", ...})"));
  CHECK_THAT(load_error(write_temp("truncated.json", R"({"model": "tiny", "plan": {"pp": )")), Catch::Contains("truncated"));
  CHECK_THAT(load_error(write_temp("garbage.json", "model = tiny\n")), Catch::Contains("invalid JSON"));
  CHECK_THAT(load_error(write_temp("empty.json", "")), Catch::Contains("found an empty document"));
  CHECK_THAT(load_error(std::filesystem::temp_directory_path().string()), Catch::Contains("a directory"));
  // A number literal beyond a double: a bad file (exit code 2), not a parser exception.
  CHECK_THAT(load_error(write_temp("bignum.json", R"({"model": "tiny", "plan": {"pp": 1)" + std::string(400, '0') + "}}")),
             Catch::Contains("range of a double"));
  // A file larger than the limit is refused before it is read (sparse file: no disk used).
  const auto big = std::filesystem::temp_directory_path() / "tandem_test_huge.json";
  { std::ofstream(big) << "{"; }
  std::filesystem::resize_file(big, uintmax_t(3) << 30);
  CHECK_THAT(load_error(big.string()), Catch::Contains("found 3221225472 bytes"));
  std::filesystem::remove(big);
}

TEST_CASE("hostile JSON: deep nesting, duplicate keys and long values, in files and in --set", "[ir][scenario][errors]") {
  auto refusal = [](const std::string& path, const std::vector<std::string>& overrides = {}) {
    try {
      load_scenario(path, overrides);
    } catch (const tandem::io::InputError& e) {
      return std::string(e.what());
    }
    FAIL("expected an InputError");
    return std::string();
  };
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  // 100,000 nested arrays (200 KB) once overflowed the stack: now one short line.
  const std::string in_file = refusal(write_temp("deep.json", "{\"model\": \"tiny\", \"cluster\": " + deep + "}"));
  CHECK_THAT(in_file, Catch::Contains("deep.json: at cluster[0][0]") && Catch::Contains("nested at most 128 levels deep"));
  CHECK(in_file.size() < 400);
  const std::string in_set = refusal("tiny", {"plan.layers_per_stage=" + deep});
  CHECK_THAT(in_set, Catch::StartsWith("--set plan.layers_per_stage: at [0][0]") && Catch::Contains("nested at most 128"));
  CHECK(in_set.size() < 400);
  // A path of 100,000 parts is refused before it is built.
  std::string long_path = "plan";
  for (int i = 0; i < 100000; ++i) long_path += ".a";
  CHECK_THAT(refusal("tiny", {long_path + "=1"}), Catch::Contains("a path of at most 16 dotted parts"));
  // Duplicate keys: the last one used to win silently.
  const std::string twice = refusal(write_temp("twice.json", "{\"model\": \"tiny\", \"cluster\": \"h800\",\n"
                                                             " \"plan\": {\"pp\": 2,\n   \"pp\": 4}}"));
  CHECK_THAT(twice, Catch::Contains("twice.json: at plan.pp (line 3 col 4)") &&
                        Catch::Contains("the key \"pp\" a second time (first at line 2 col 11)"));
  CHECK_THAT(refusal("tiny", {R"(plan.routing={"kind": "zipf", "kind": "balanced"})"}),
             Catch::Contains("--set plan.routing: at kind") && Catch::Contains("a second time"));
  // A long value is cut in the message; a --set value that is not JSON is still a string.
  const std::string long_value = refusal("tiny", {"plan.schedule=" + std::string(100000, 'x')});
  CHECK_THAT(long_value, Catch::Contains("plan.schedule") && Catch::Contains("..."));
  CHECK(long_value.size() < 600);
  CHECK(load_scenario("tiny", {"plan.schedule=1f1b"}).plan.schedule == ScheduleKind::OneFOneB);
  CHECK_THAT(refusal("tiny", {"plan.pp=1e999"}), Catch::Contains("range of a double"));
}

TEST_CASE("plan.compute_sms: read, refused below 0, by default the SMs communication leaves under DualPipe", "[ir][scenario]") {
  CHECK(parse_scenario(base_doc(), "test.json").plan.compute_sms == 0);
  CHECK(parse_scenario(base_doc(), "test.json", {"plan.compute_sms=100"}).plan.compute_sms == 100);
  const auto e = error_of(base_doc(), {"plan.compute_sms=-1"});
  CHECK(e.path() == "plan.compute_sms");
  CHECK(e.found() == "the integer -1");
  // The default on a 132-SM GPU: 132 - comm_sms when DualPipe(V) overlaps the expert all-to-all with
  // compute, all 132 otherwise (no overlap, or no all-to-all); a value given is kept.
  ParallelPlan p;
  p.comm_sms = 20;
  p.schedule = ScheduleKind::DualPipe;
  CHECK(compute_sms_budget(p, 132, true) == 112);
  CHECK(compute_sms_budget(p, 132, false) == 132);
  p.schedule = ScheduleKind::DualPipeV;
  p.comm_sms = 24;
  CHECK(compute_sms_budget(p, 132, true) == 108);
  for (ScheduleKind k : {ScheduleKind::OneFOneB, ScheduleKind::ZeroBubble1P}) {
    p.schedule = k;
    CHECK(compute_sms_budget(p, 132, true) == 132);
  }
  p.compute_sms = 120;
  CHECK(compute_sms_budget(p, 132, true) == 120);
  p.schedule = ScheduleKind::DualPipe;
  CHECK(compute_sms_budget(p, 132, true) == 120);
}

TEST_CASE("values once accepted without a word are refused, naming the field", "[ir][scenario][errors]") {
  SECTION("zipf routing without its exponent (it used to simulate balanced routing)") {
    const auto e = error_of(base_doc(), {R"(plan.routing={"kind": "zipf"})"});
    CHECK(e.path() == "plan.routing.zipf_exponent");
    CHECK_THAT(e.expected(), Catch::Contains("an exponent for kind \"zipf\""));
    CHECK(parse_scenario(base_doc(), "test.json", {R"(plan.routing={"kind": "zipf", "zipf_exponent": 1.2})"}).plan.routing.zipf_exponent == 1.2);
  }
  SECTION("a field of another routing kind") {
    CHECK(error_of(base_doc(), {R"(plan.routing={"kind": "balanced", "zipf_exponent": 1})"}).path() == "plan.routing.zipf_exponent");
    CHECK(error_of(base_doc(), {R"(plan.routing={"kind": "zipf", "zipf_exponent": 1, "expert_load": [1, 2]})"}).path() ==
          "plan.routing.expert_load");
    CHECK(error_of(base_doc(), {R"(plan.routing={"kind": "balanced", "load_file": "x.json"})"}).path() == "plan.routing.load_file");
  }
  SECTION("no SMs for the all-to-all kernels (it made communication free)") {
    const auto e = error_of(base_doc(), {"plan.comm_sms=0"});
    CHECK(e.path() == "plan.comm_sms");
    CHECK_THAT(e.expected(), Catch::Contains("at least 1 SM"));
    CHECK(e.found() == "0");
    // A model without MoE layers (the MTP module's is one) has no all-to-all: 0 is fine there.
    CHECK_NOTHROW(parse_scenario(base_doc(), "test.json", {"plan.comm_sms=0", "model.first_dense_layers=4", "model.mtp_depth=0"}));
    CHECK(error_of(base_doc(), {"plan.comm_sms=0", "model.first_dense_layers=4"}).path() == "plan.comm_sms");
  }
  SECTION("a dense model with an MTP module but no routed experts (the MTP layer is MoE: it crashed the build)") {
    const auto e = error_of(base_doc(), {"model.routed_experts=0", "model.experts_per_token=0", "model.first_dense_layers=4"});
    CHECK(e.path() == "model.routed_experts");
    CHECK_THAT(e.expected(), Catch::Contains("the MTP module's MoE layer"));
    CHECK_NOTHROW(parse_scenario(base_doc(), "test.json", {"model.routed_experts=0", "model.experts_per_token=0",
                                                           "model.first_dense_layers=4", "model.mtp_depth=0", "plan.ep=1"}));
  }
  SECTION("clusters the topology model cannot build (simulate refused them without naming the file)") {
    const auto nics = error_of(base_doc(), {"cluster.nics_per_node=2", "cluster.planes=2"});
    CHECK(nics.file() == "test.json");
    CHECK(nics.path() == "cluster.nics_per_node");
    CHECK_THAT(nics.expected(), Catch::Contains("one NIC per GPU: gpus_per_node = 4"));
    CHECK(error_of(base_doc(), {"cluster.planes=3", "cluster.nics_per_node=4"}).path() == "cluster.planes");
    CHECK(error_of(base_doc(), {"cluster.switch_tiers=3"}).path() == "cluster.switch_tiers");
  }
}
