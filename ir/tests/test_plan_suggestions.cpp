// Refused plans name the nearest plans that pass: DeepSeek-V3's DualPipe plan on 8192 GPUs (30
// micro-batches for pp 16) and the tiny scenario with a global batch that dp x micro-batch does not divide.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/plan_suggestions.h"
#include "ir/scenario.h"

using namespace tandem::ir;

namespace {

ScenarioError refusal(const std::string& scenario, const std::vector<std::string>& overrides) {
  try {
    load_scenario(scenario, overrides);
  } catch (const ScenarioError& e) {
    return e;
  }
  FAIL("the scenario was accepted");
  throw;
}

}  // namespace

TEST_CASE("a DualPipe plan at 8192 GPUs that misses the global batch says which batch would work", "[plan_suggestions]") {
  // 1024 nodes x 8: dp = 8192 / 16 = 512, 15360 / 512 = 30 micro-batches < 2 pp = 32. The next even
  // count of at least 32 is 32: 32 x 512 = 16384 sequences. No other micro-batch size (already 1),
  // pp (8: 15 micro-batches, odd; 32: 60 < 64) or ep (the batch stays 30) passes.
  const ScenarioError e = refusal("deepseek-v3-pretrain", {"cluster.nodes=1024"});
  CHECK(e.path() == "plan.schedule");
  CHECK(e.found() == "\"dualpipe\" with pp = 16 and 30 micro-batches per step "
                     "(would work: global_batch_seqs = 16384 (32 micro-batches))");
}

TEST_CASE("a global batch that dp x micro_batch_seqs does not divide names the nearest that do", "[plan_suggestions]") {
  // tiny: dp 2, 4 sequences a micro-batch: multiples of 8 near 30 are 24 and 32, 32 is nearer. Micro-batch
  // sizes dividing 30 / 2 = 15: 3 and 5 are both one from 4, the smaller wins. pp 1 (dp 4: 30 / 4) and
  // pp 4 (dp 1 < ep 2) fail, and so does ep 1 (the batch is still not divided).
  const ScenarioError e = refusal("tiny", {"plan.global_batch_seqs=30"});
  CHECK(e.path() == "plan.global_batch_seqs");
  CHECK(e.found() == "30 (would work: global_batch_seqs = 32 (4 micro-batches), micro_batch_seqs = 3 (5 micro-batches))");
  Scenario ok = load_scenario("tiny");
  CHECK(nearby_plans(ok).find("global_batch_seqs = ") == 0);   // a valid plan has valid neighbours too
}

TEST_CASE("an ep that does not divide dp names the nearest that does", "[plan_suggestions]") {
  // tiny: dp 2, ep 3 -> ep 2 (distance 1; ep 1 is 2 away).
  const ScenarioError e = refusal("tiny", {"plan.ep=3"});
  CHECK(e.path() == "plan.ep");
  CHECK(e.found() == "3 (would work: ep = 2)");
}
