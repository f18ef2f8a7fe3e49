// The class path: ranks of a role at the same place of their EP groups form a class (counted by hand on
// a small cluster), one rank per class is simulated, and under skewed routing its report is the full
// path's to the nanosecond and in every figure; stragglers and faults are refused there.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/rank_classes.h"
#include "sim/report.h"
#include "sim/simulate.h"

using namespace tandem;

namespace {

// DeepSeek-V3 shapes on 256 GPUs: PP4 DualPipe (dp 64), EP32 over 4 nodes: two EP groups per stage.
std::vector<std::string> small_cluster(bool zipf) {
  std::vector<std::string> s = {"cluster.nodes=32", "plan.pp=4", "plan.ep=32", "plan.global_batch_seqs=512",
                                "model.num_layers=6", "model.first_dense_layers=1"};
  if (zipf) s.push_back(R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})");
  return s;
}

sim::SimResult run(const ir::StepProgram& p, sim::Mode mode) {
  const sim::StepProgramView view(p);
  sim::SimOptions o;
  o.mode = mode;
  return sim::simulate(view, p.cluster(), o);
}

// Every figure of the two reports, bit for bit, aside from the path's name and the work the simulator
// did (events, transfers and network solves: the class path's point is to do less of it).
void check_same_report(const sim::SimResult& full, const sim::SimResult& classes) {
  CHECK(classes.step_ns == full.step_ns);
  CHECK(classes.ops == full.ops);
  nlohmann::json a = sim::to_json(sim::make_report(full)), b = sim::to_json(sim::make_report(classes));
  CHECK(a["mode"] == "full");
  CHECK(b["mode"] == "classes");
  CHECK(a["simulation"]["ops"] == b["simulation"]["ops"]);
  CHECK(b["simulation"]["events"] < a["simulation"]["events"]);
  for (const char* key : {"mode", "simulation"}) {
    a.erase(key);
    b.erase(key);
  }
  for (const auto& [key, value] : a.items()) {
    INFO(key);
    CHECK(b[key].dump() == value.dump());
  }
  CHECK(a.size() == b.size());
}

}  // namespace

TEST_CASE("ranks of a role at the same place of their EP groups form a class", "[sim][classes]") {
  // rank = stage * 64 + d, EP group d / 32, place d % 32: stage s, place p holds ranks 64s + p and
  // 64s + p + 32. 4 stages x 32 places = 128 classes of 2 ranks; the first of each is simulated.
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", small_cluster(true)));
  const sim::RankClasses c = sim::expert_place_classes(sim::StepProgramView(p));
  REQUIRE(c.ranks.size() == 128);
  for (size_t k = 0; k < c.ranks.size(); ++k) {
    const int64_t stage = int64_t(k) / 32, place = int64_t(k) % 32;
    CHECK(c.ranks[k] == std::vector<int64_t>{stage * 64 + place, stage * 64 + place + 32});
    CHECK(c.of_rank[size_t(stage * 64 + place + 32)] == k);
  }
  // The tiny scenario: 2 stages x 2 ranks, one EP group per stage: every rank is its own class.
  const ir::StepProgram tiny(ir::load_scenario("tiny"));
  CHECK(sim::expert_place_classes(sim::StepProgramView(tiny)).ranks.size() == size_t(tiny.num_ranks()));
}

TEST_CASE("skewed routing takes the class path, which gives the full path's report", "[sim][classes]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", small_cluster(true)));
  const sim::SimResult classes = run(p, sim::Mode::Auto);
  CHECK(classes.mode == sim::Mode::Classes);
  CHECK(classes.ranks.size() == 128);
  const sim::SimResult full = run(p, sim::Mode::Full);
  CHECK(full.ranks.size() == 256);
  check_same_report(full, classes);
  // The skew is seen: the balanced step is shorter.
  const ir::StepProgram balanced(ir::load_scenario("deepseek-v3-pretrain", small_cluster(false)));
  CHECK(run(balanced, sim::Mode::Auto).step_ns < classes.step_ns);
}

TEST_CASE("balanced routing on the class path gives the full path's report too", "[sim][classes]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", small_cluster(false)));
  check_same_report(run(p, sim::Mode::Full), run(p, sim::Mode::Classes));
}

TEST_CASE("stragglers and faults set ranks apart: the class path refuses them", "[sim][classes]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", small_cluster(true)));
  const sim::StepProgramView view(p);
  sim::SimOptions o;
  o.stragglers.push_back(sim::Straggler{3, 1.5});
  CHECK(sim::simulate(view, p.cluster(), o).mode == sim::Mode::Full);   // auto: the full path
  o.mode = sim::Mode::Classes;
  CHECK_THROWS_WITH(sim::simulate(view, p.cluster(), o), Catch::Contains("class path needs no stragglers"));
}

TEST_CASE("Zipf routing on 2048 GPUs: the class path gives the full path's report", "[.slow][sim][classes]") {
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})"}));
  const sim::SimResult classes = run(p, sim::Mode::Auto);
  CHECK(classes.mode == sim::Mode::Classes);
  check_same_report(run(p, sim::Mode::Full), classes);
}
