// Scenarios and parts that extend a preset or a file ("base"): merge-patch semantics, bases in files
// found beside the scenario, --set on top, and the refusals (unknown base, cycle, wrong kind).
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "ir/scenario.h"
#include "ir/scenario_base.h"

using namespace tandem::ir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A fresh folder for one test's files.
fs::path folder(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tandem_base_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string write(const fs::path& path, const json& doc) {
  std::ofstream(path, std::ios::binary) << doc.dump(2);
  return path.string();
}

ScenarioError load_error(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_scenario(path, overrides);
  } catch (const ScenarioError& e) {
    return e;
  }
  FAIL("expected a ScenarioError");
  throw;
}

std::string link_name(int i) { return "link" + std::to_string(i) + ".json"; }

}  // namespace

TEST_CASE("a scenario extends an embedded one with only what changes", "[ir][scenario][base]") {
  const fs::path dir = folder("whole");
  const std::string file = write(dir / "half.json", {{"base", "deepseek-v3-pretrain"},
                                                     {"cluster", {{"nodes", 128}}},
                                                     {"plan", {{"pp", 8}, {"precision", {{"fp8_dispatch", false}}}}}});
  const Scenario s = load_scenario(file);
  const Scenario ref = load_scenario("deepseek-v3-pretrain");
  CHECK(s.cluster.nodes == 128);
  CHECK(s.plan.pp == 8);
  CHECK(s.plan.dp == 128);                        // derived again: 1024 / 8
  CHECK(s.plan.precision.fp8_dispatch == false);  // nested objects merge key by key
  CHECK(s.plan.precision.bf16_combine == ref.plan.precision.bf16_combine);
  CHECK(s.plan.ep == 64);                         // inherited
  CHECK(s.model.hidden_size == ref.model.hidden_size);
  CHECK(s.name == "half");                        // a derived scenario is not named after its base
  CHECK_FALSE(s.resolved.contains("base"));
  CHECK_FALSE(s.resolved["cluster"].contains("base"));
  // --set applies on top of the merged scenario.
  CHECK(load_scenario(file, {"plan.pp=16"}).plan.dp == 64);
  // A part given as a preset name replaces the base's part instead of merging into it.
  CHECK(load_scenario(file, {"model=deepseek-v2-lite", "plan.ep=8"}).model.name == "deepseek-v2-lite");
}

TEST_CASE("a part extends a file beside the scenario, and null removes an inherited field", "[ir][scenario][base]") {
  const fs::path dir = folder("part");
  write(dir / "my-cluster.json", {{"base", "h800"}, {"nodes", 2}, {"nic_bytes_per_s", 25e9}});
  write(dir / "zipf.json", {{"base", "tiny"},
                            {"plan", {{"routing", {{"kind", "zipf"}, {"zipf_exponent", 1.0}}}}}});
  const std::string file = write(dir / "s.json", {{"base", "zipf.json"},
                                                  {"cluster", {{"base", "my-cluster.json"}, {"gpus_per_node", 2},
                                                               {"nics_per_node", 2}, {"planes", 2}}},
                                                  {"plan", {{"routing", {{"kind", "balanced"}, {"zipf_exponent", nullptr}}}}}});
  const Scenario s = load_scenario(file);
  CHECK(s.cluster.nodes == 2);
  CHECK(s.cluster.gpus_per_node == 2);
  CHECK(s.cluster.nic_bytes_per_s == 25e9);
  CHECK(s.plan.routing.kind == RoutingKind::Balanced);
  CHECK_FALSE(s.resolved["plan"]["routing"].contains("zipf_exponent"));
  // Without the null, the inherited exponent stays beside kind "balanced" and is refused by its path.
  const std::string kept = write(dir / "kept.json", {{"base", "zipf.json"}, {"plan", {{"routing", {{"kind", "balanced"}}}}}});
  CHECK(load_error(kept).path() == "plan.routing.zipf_exponent");
  // A plan may take its base from a scenario (its plan part).
  const std::string plan_only = write(dir / "p.json", {{"model", "tiny"},
                                                       {"cluster", {{"base", "h800"}, {"nodes", 1}, {"gpus_per_node", 4},
                                                                    {"nics_per_node", 4}, {"planes", 4}}},
                                                       {"plan", {{"base", "tiny"}, {"schedule", "zb1p"}}}});
  const Scenario p = load_scenario(plan_only);
  CHECK(p.plan.schedule == ScheduleKind::ZeroBubble1P);
  CHECK(p.plan.global_batch_seqs == load_scenario("tiny").plan.global_batch_seqs);
}

TEST_CASE("unknown bases, cycles and bases of the wrong kind are refused by their JSON path", "[ir][scenario][base]") {
  const fs::path dir = folder("refusals");
  const std::string unknown = write(dir / "u.json", {{"base", "deepseek-v3-pretrian"}});
  const ScenarioError e = load_error(unknown);
  CHECK(e.path() == "base");
  CHECK(e.found() == "\"deepseek-v3-pretrian\" (did you mean \"deepseek-v3-pretrain\"?)");
  const std::string bad_cluster = write(dir / "c.json", {{"base", "tiny"}, {"cluster", {{"base", "h8000"}}}});
  CHECK(load_error(bad_cluster).path() == "cluster.base");
  CHECK(load_error(bad_cluster).found() == "\"h8000\" (did you mean \"h800\"?)");
  const std::string not_string = write(dir / "n.json", {{"base", 3}});
  CHECK(load_error(not_string).path() == "base");

  // a.json -> b.json -> a.json
  write(dir / "a.json", {{"base", "b.json"}});
  write(dir / "b.json", {{"base", "a.json"}});
  const ScenarioError cycle = load_error((dir / "a.json").string());
  CHECK(cycle.path() == "base");
  CHECK(cycle.found().find("a cycle") == 0);
  CHECK(cycle.found().find("a.json") != std::string::npos);
  // A part that names itself.
  const std::string self = write(dir / "self.json", {{"base", "self.json"}});
  CHECK(load_error(self).found().find("a cycle") == 0);
  // A chain longer than kMaxBaseChain.
  for (int i = 0; i < kMaxBaseChain + 1; ++i)
    write(dir / link_name(i), i == kMaxBaseChain ? json{{"base", "tiny"}} : json{{"base", link_name(i + 1)}});
  CHECK(load_error((dir / link_name(0)).string()).expected().find("a chain of at most") == 0);
}
