// The scale-up domain fields of a cluster (gpus_per_domain, scaleup_fabric): read, defaulted, and refused
// with the JSON path, what was expected and what was found; the machine presets load with the published
// DeepSeek-V3 plan adapted to each (docs/machines.md).
#include <catch2/catch.hpp>

#include "ir/scenario.h"

using namespace tandem::ir;
using nlohmann::json;

namespace {

// The tiny model on 2 nodes of 4 GPUs.
json doc_with(const json& cluster_fields) {
  json c = {{"base", "h800"}, {"nodes", 2}, {"gpus_per_node", 4}, {"nics_per_node", 4}, {"planes", 4}};
  for (const auto& [k, v] : cluster_fields.items()) c[k] = v;
  return json{{"model", "tiny"},
              {"cluster", c},
              {"plan", {{"pp", 2}, {"ep", 2}, {"seq_len", 64}, {"micro_batch_seqs", 4}, {"global_batch_seqs", 32}, {"schedule", "1f1b"}}}};
}

ScenarioError error_of(const json& doc) {
  try {
    parse_scenario(doc, "test.json");
  } catch (const ScenarioError& e) {
    return e;
  }
  FAIL("expected a ScenarioError");
  throw;
}

}  // namespace

TEST_CASE("a cluster's scale-up domain defaults to its node and is read when given", "[ir][scenario][domain]") {
  const Scenario plain = parse_scenario(doc_with(json::object()), "test.json");
  CHECK(plain.cluster.gpus_per_domain == 0);
  CHECK(plain.cluster.domain_size() == 4);
  CHECK(plain.cluster.scaleup_fabric == ScaleUpFabric::Switch);
  const Scenario wide = parse_scenario(doc_with({{"gpus_per_domain", 8}, {"scaleup_fabric", "mesh"}}), "test.json");
  CHECK(wide.cluster.domain_size() == 8);
  CHECK(wide.cluster.scaleup_fabric == ScaleUpFabric::Mesh);
}

TEST_CASE("bad scale-up domains are refused with the path, what was expected and what was found", "[ir][scenario][domain][errors]") {
  SECTION("a domain size that does not divide the GPU count") {
    const auto e = error_of(doc_with({{"gpus_per_domain", 12}}));   // 8 GPUs
    CHECK(e.path() == "cluster.gpus_per_domain");
    CHECK_THAT(e.expected(), Catch::Contains("a divisor of the GPU count 8"));
    CHECK(e.found() == "12");
  }
  SECTION("a domain that cuts a node") {
    const auto e = error_of(doc_with({{"gpus_per_domain", 2}}));
    CHECK(e.path() == "cluster.gpus_per_domain");
    CHECK_THAT(e.expected(), Catch::Contains("a multiple of gpus_per_node = 4"));
    CHECK(e.found() == "2");
  }
  SECTION("a mesh larger than a link per pair allows") {
    json d = doc_with({{"gpus_per_domain", 128}, {"scaleup_fabric", "mesh"}, {"nodes", 32}});
    const auto e = error_of(d);
    CHECK(e.path() == "cluster.gpus_per_domain");
    CHECK_THAT(e.expected(), Catch::Contains("at most 64 GPUs in a \"mesh\" domain"));
    CHECK(e.found() == "128");
  }
  SECTION("a leaf that does not hold whole domains") {
    json d = doc_with({{"gpus_per_domain", 8}, {"nodes_per_leaf", 3}, {"switch_tiers", 2}});
    const auto e = error_of(d);
    CHECK(e.path() == "cluster.nodes_per_leaf");
    CHECK_THAT(e.expected(), Catch::Contains("a multiple of the 2 nodes of a scale-up domain"));
    CHECK(e.found() == "3");
  }
  SECTION("a fabric that is neither switch nor mesh") {
    const auto e = error_of(doc_with({{"scaleup_fabric", "torus"}}));
    CHECK(e.path() == "cluster.scaleup_fabric");
    CHECK(e.expected() == "one of switch, mesh");
    CHECK_THAT(e.found(), Catch::Contains("torus"));
  }
  SECTION("a domain size of the wrong type or range") {
    CHECK(error_of(doc_with({{"gpus_per_domain", "72"}})).path() == "cluster.gpus_per_domain");
    CHECK(error_of(doc_with({{"gpus_per_domain", 0}})).path() == "cluster.gpus_per_domain");
    CHECK(error_of(doc_with({{"gpus_per_domain", 7.5}})).path() == "cluster.gpus_per_domain");
  }
}

TEST_CASE("node-limited routing counts scale-up domains", "[ir][scenario][domain]") {
  // The tiny model with 6 of its 8 experts per token, EP8 over 8 GPUs, at most 1 node per token. Two
  // 4-GPU domains hold 4 experts each: one domain cannot serve a token; one 8-GPU domain holds all 8.
  json narrow = doc_with(json::object());
  narrow["model"] = {{"base", "tiny"}, {"experts_per_token", 6}, {"groups_per_token", 4}};
  narrow["plan"]["pp"] = 1;
  narrow["plan"]["ep"] = 8;
  narrow["plan"]["max_nodes_per_token"] = 1;
  json wide = narrow;
  wide["cluster"]["gpus_per_domain"] = 8;
  CHECK_NOTHROW(parse_scenario(wide, "test.json"));
  const auto e = error_of(narrow);
  CHECK(e.path() == "plan.max_nodes_per_token");
  CHECK_THAT(e.expected(), Catch::Contains("scale-up domains for 6 experts per token (4 experts per domain)"));
}

TEST_CASE("every machine preset runs DeepSeek-V3's plan, adapted where the GPU count asks", "[ir][scenario][presets]") {
  struct Case {
    const char* cluster;
    std::vector<std::string> adapt;
    int64_t gpus, domain;
  };
  const std::vector<Case> cases = {
      {"a100", {}, 2048, 8},
      {"b200", {}, 2048, 8},
      {"h20", {}, 2048, 8},
      {"mi300x", {}, 2048, 8},
      {"mi325x", {}, 2048, 8},
      {"mi355x", {}, 2048, 8},
      {"ascend-910b", {}, 2048, 8},
      {"ascend-910c", {}, 2048, 8},
      // 32 racks or 6 supernodes of 2304 GPUs: PP18 keeps DP128, EP64 and the 15,360-sequence batch.
      {"gb200-nvl72", {"plan.pp=18"}, 2304, 72},
      {"gb300-nvl72", {"plan.pp=18"}, 2304, 72},
      {"cloudmatrix384", {"plan.pp=18"}, 2304, 384},
  };
  for (const Case& c : cases) {
    std::vector<std::string> overrides = {std::string("cluster=") + c.cluster};
    overrides.insert(overrides.end(), c.adapt.begin(), c.adapt.end());
    INFO(c.cluster);
    const Scenario s = load_scenario("deepseek-v3-pretrain", overrides);
    CHECK(s.cluster.world_size() == c.gpus);
    CHECK(s.cluster.domain_size() == c.domain);
  }
}
