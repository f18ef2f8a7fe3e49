// The class path: ranks of a role at the same place of their EP groups form a class (counted by hand on
// a small cluster), one rank per class is simulated, and under skewed routing its report is the full
// path's to the nanosecond and in every figure; stragglers and link faults split the classes (counted by
// hand) and the report stays the full path's.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/scenario.h"
#include "ir/step_program.h"
#include "hw/gpu_catalogue.h"
#include "hw/topology.h"
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

TEST_CASE("under skew a stage of dense layers only is split by its peers' places and stays exact", "[sim][classes]") {
  // 4 layers over pp 4 with the first dense, EP16 (4 groups a stage): stage 0 has no all-to-all, so its
  // ranks start as one class, while the MoE stage it sends to is split by EP place (16 classes of 4).
  // Without refining, stage 0's one simulated rank sent only to its own peer and the others' receives
  // never matched: the step deadlocked (1F1B, ZB1P). Refined, stage 0 splits by its peers' places.
  for (const char* schedule : {"1f1b", "zb1p"}) {
    INFO(schedule);
    const ir::StepProgram p(ir::load_scenario(
        "deepseek-v3-pretrain", {"cluster.nodes=32", "plan.global_batch_seqs=512", "plan.pp=4", "plan.ep=16",
                                 "model.num_layers=4", "model.first_dense_layers=1", std::string("plan.schedule=") + schedule,
                                 R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})"}));
    const sim::RankClasses c = sim::exact_classes(sim::StepProgramView(p), hw::Topology(p.cluster(), hw::gpu_spec("H800")), {}, {});
    CHECK(c.ranks.size() == 4 * 16);   // 16 places a stage, stage 0 included
    const sim::SimResult classes = run(p, sim::Mode::Auto);
    CHECK(classes.mode == sim::Mode::Classes);
    check_same_report(run(p, sim::Mode::Full), classes);
  }
}

TEST_CASE("balanced routing on the class path gives the full path's report too", "[sim][classes]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", small_cluster(false)));
  check_same_report(run(p, sim::Mode::Full), run(p, sim::Mode::Classes));
}

// DeepSeek-V3 shapes on 256 GPUs with four EP groups per stage: PP4 DualPipe (dp 64), EP16 over 2 nodes.
std::vector<std::string> four_groups_a_stage(bool zipf) {
  std::vector<std::string> s = {"cluster.nodes=32", "plan.pp=4", "plan.ep=8", "plan.global_batch_seqs=512",
                                "model.num_layers=6", "model.first_dense_layers=1"};
  if (zipf) s.push_back(R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})");
  return s;
}

sim::RankClasses exact(const ir::StepProgram& p, const std::vector<int64_t>& slow, const std::vector<hw::LinkFault>& faults) {
  const hw::Topology topology(p.cluster(), hw::gpu_spec(p.cluster().gpu), {}, faults);
  return sim::exact_classes(sim::StepProgramView(p), topology, slow, faults);
}

TEST_CASE("a straggler and a failed NIC split the classes where they set ranks apart", "[sim][classes]") {
  // rank = 64 stage + d, EP group d / 8 (one node: node = rank / 8), place d % 8; 8 places x 4 stages = 32
  // classes of 8 ranks to start with.
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", four_groups_a_stage(true)));
  CHECK(exact(p, {}, {}).ranks.size() == 32);
  // A straggler at rank 3 (stage 0, EP group 0) sets its EP group apart (its all-to-alls wait for it),
  // hence its pipeline peers, the same EP group of every stage (same d), and their EP groups: each stage
  // splits into group 0 (8 ranks, each its own class) and groups 1-7 (8 classes of 7 ranks). 64 classes.
  const sim::RankClasses slow = exact(p, {3}, {});
  CHECK(slow.ranks.size() == 64);
  for (int64_t stage = 0; stage < 4; ++stage)
    for (int64_t place = 0; place < 8; ++place) {
      CHECK(slow.ranks[slow.of_rank[size_t(64 * stage + place)]] == std::vector<int64_t>{64 * stage + place});
      std::vector<int64_t> rest;
      for (int64_t g = 1; g < 8; ++g) rest.push_back(64 * stage + 8 * g + place);
      CHECK(slow.ranks[slow.of_rank[size_t(rest.front())]] == rest);
    }
  // A failed NIC on GPU 200 (node 25: stage 3, EP group 1, rail 0) moves the traffic between node 25 and
  // the nodes it exchanges with to rail 1: its data-parallel ring neighbours (nodes 24 and 26), its
  // expert-data ring neighbours (192 on node 24, 208 on node 26) and its pipeline peers (stage 2, group 1).
  // Node 25's ranks and those nodes' GPUs of rails 0 and 1 are marked apart; their EP groups 0, 1 and 2 set
  // the same groups of every stage apart through the pipeline: each stage keeps 24 ranks of their own and
  // 8 classes of the 5 ranks of groups 3-7. 128 classes.
  const auto failed = std::vector<hw::LinkFault>{hw::parse_link_fault("nic:200", true)};
  const sim::RankClasses nic = exact(p, {}, failed);
  CHECK(nic.ranks.size() == 128);
  for (int64_t stage = 0; stage < 4; ++stage)
    for (int64_t place = 0; place < 8; ++place) {
      for (int64_t g = 0; g < 3; ++g)
        CHECK(nic.ranks[nic.of_rank[size_t(64 * stage + 8 * g + place)]].size() == 1);
      std::vector<int64_t> rest;
      for (int64_t g = 3; g < 8; ++g) rest.push_back(64 * stage + 8 * g + place);
      CHECK(nic.ranks[nic.of_rank[size_t(rest.front())]] == rest);
    }
  // Both together: the straggler's group 0 is among those set apart already.
  CHECK(exact(p, {3}, failed).of_rank == nic.of_rank);
}

TEST_CASE("a straggler, a degraded and a failed link on the class path give the full path's report", "[sim][classes]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", four_groups_a_stage(true)));
  const sim::StepProgramView view(p);
  struct Case {
    const char* name;
    std::vector<sim::Straggler> stragglers;
    std::vector<hw::LinkFault> faults;
    size_t classes;
  };
  for (const Case& c : {Case{"straggler 3:1.5", {sim::Straggler{3, 1.5}}, {}, 64},
                        Case{"degraded nic:200=0.25", {}, {hw::parse_link_fault("nic:200=0.25", false)}, 64},
                        Case{"failed nic:200", {}, {hw::parse_link_fault("nic:200", true)}, 128}}) {
    INFO(c.name);
    sim::SimOptions o;
    o.stragglers = c.stragglers;
    o.link_faults = c.faults;
    const sim::SimResult classes = sim::simulate(view, p.cluster(), o);
    CHECK(classes.mode == sim::Mode::Classes);
    CHECK(classes.ranks.size() == c.classes);
    o.mode = sim::Mode::Full;
    const sim::SimResult full = sim::simulate(view, p.cluster(), o);
    check_same_report(full, classes);
    o.stragglers.clear();
    o.link_faults.clear();
    CHECK(full.step_ns > sim::simulate(view, p.cluster(), o).step_ns);   // the fault is seen
  }
}

TEST_CASE("under balanced routing the classes start from the roles and stay exact", "[sim][classes]") {
  // Every rank of a stage alike to start with (4 classes). A straggler at rank 3 sets apart itself, the
  // rest of its EP group 0 (node 0) and the other members of the expert-data ring of its place (place 3 of
  // groups 1-7) from the rest; through the pipeline and the rings the same four kinds in every stage: 16
  // classes. A failed NIC on GPU 200 marks node 25 and rails 0 and 1 of the nodes it exchanges with: 128.
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", four_groups_a_stage(false)));
  CHECK(exact(p, {}, {}).ranks.size() == 4);
  const sim::StepProgramView view(p);
  for (const bool straggler : {true, false}) {
    INFO((straggler ? "straggler 3:1.5" : "failed nic:200"));
    sim::SimOptions o;
    if (straggler)
      o.stragglers.push_back(sim::Straggler{3, 1.5});
    else
      o.link_faults.push_back(hw::parse_link_fault("nic:200", true));
    const sim::SimResult classes = sim::simulate(view, p.cluster(), o);
    CHECK(classes.mode == sim::Mode::Classes);
    CHECK(classes.ranks.size() == (straggler ? 16u : 128u));
    o.mode = sim::Mode::Full;
    check_same_report(sim::simulate(view, p.cluster(), o), classes);
  }
}

TEST_CASE("under oversubscribed leaves the classes split by leaf too and stay exact", "[sim][classes]") {
  // Leaves of 4 nodes (4 EP groups, half a stage), links to the spine at half the NICs under them: a leaf
  // link can bind, so ranks are split by their leaf's classes as well. A straggler at rank 3 sets EP
  // group 0 of every stage apart (8 ranks of their own), and with it its leaf's groups 1-3 (8 classes of
  // 3 ranks) from groups 4-7 (8 classes of 4): 24 classes a stage, 96.
  std::vector<std::string> sets = four_groups_a_stage(true);
  sets.insert(sets.end(), {"cluster.nodes_per_leaf=4", "cluster.oversubscription=2"});
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", sets));
  const sim::StepProgramView view(p);
  for (const bool leaf_fault : {false, true}) {
    INFO("leaf fault " << leaf_fault);
    sim::SimOptions o;
    o.stragglers.push_back(sim::Straggler{3, 1.5});
    if (leaf_fault) o.link_faults.push_back(hw::parse_link_fault("leaf:0.2=0.5", false));
    const sim::SimResult classes = sim::simulate(view, p.cluster(), o);
    CHECK(classes.mode == sim::Mode::Classes);
    CHECK(classes.ranks.size() == 96);
    o.mode = sim::Mode::Full;
    check_same_report(sim::simulate(view, p.cluster(), o), classes);
  }
}

TEST_CASE("a degraded leaf link sets apart only its plane's GPUs under the leaf", "[sim][classes]") {
  // Leaves of 8 nodes (one stage each), oversubscribed, balanced routing: the link of plane 1 of leaf 0
  // carries what GPUs of index 1 under it send and receive. Marking the whole leaf alike set nothing apart
  // (the leaf is stage 0) and the class path missed the fault (exposed communication and phases moved).
  std::vector<std::string> sets = four_groups_a_stage(false);
  sets.insert(sets.end(), {"cluster.nodes_per_leaf=8", "cluster.oversubscription=2"});
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", sets));
  const sim::StepProgramView view(p);
  sim::SimOptions o;
  o.link_faults.push_back(hw::parse_link_fault("leaf:1.0=0.5", false));
  const sim::SimResult classes = sim::simulate(view, p.cluster(), o);
  CHECK(classes.mode == sim::Mode::Classes);
  o.mode = sim::Mode::Full;
  check_same_report(sim::simulate(view, p.cluster(), o), classes);
}

TEST_CASE("oversubscribed leaf links split the classes by plane", "[sim][classes]") {
  // Leaves of 8 nodes (one stage), spine links at a quarter of the NICs under them, 1F1B, EP32 (two EP
  // groups a stage). The straggler's pipeline sends leave its leaf on plane 5 (GPU 221 is index 5 of its
  // node) later than those of the other planes, so GPUs of its EP group's neighbour on plane 5 meet other
  // contention than those on plane 4: a class per leaf was not exact (exposed communication moved), a
  // class per leaf and plane is.
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {"cluster.nodes=32", "plan.pp=4", "plan.ep=32", "plan.global_batch_seqs=512", "model.num_layers=6",
                               "model.first_dense_layers=1", "cluster.nodes_per_leaf=8", "cluster.oversubscription=4",
                               "plan.schedule=1f1b"}));
  const sim::StepProgramView view(p);
  sim::SimOptions o;
  o.stragglers.push_back(sim::Straggler{221, 3});
  const sim::SimResult classes = sim::simulate(view, p.cluster(), o);
  CHECK(classes.mode == sim::Mode::Classes);
  o.mode = sim::Mode::Full;
  check_same_report(sim::simulate(view, p.cluster(), o), classes);
}

TEST_CASE("where every rank is set apart auto takes the full path, and the symmetric path refuses stragglers", "[sim][classes]") {
  // Two EP groups a stage: a straggler sets every rank apart (each class held two ranks, one per group).
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", small_cluster(true)));
  const sim::StepProgramView view(p);
  sim::SimOptions o;
  o.stragglers.push_back(sim::Straggler{3, 1.5});
  CHECK(exact(p, {3}, {}).ranks.size() == 256);
  CHECK(sim::simulate(view, p.cluster(), o).mode == sim::Mode::Full);
  o.mode = sim::Mode::Symmetric;
  CHECK_THROWS_WITH(sim::simulate(view, p.cluster(), o), Catch::Contains("symmetric path needs"));
}

TEST_CASE("Zipf routing on 2048 GPUs: the class path gives the full path's report", "[.slow][sim][classes]") {
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})"}));
  const sim::SimResult classes = run(p, sim::Mode::Auto);
  CHECK(classes.mode == sim::Mode::Classes);
  check_same_report(run(p, sim::Mode::Full), classes);
}

TEST_CASE("a straggler, a degraded and a failed link on 2048 GPUs: the class path gives the full path's report", "[.slow][sim][classes]") {
  // DeepSeek-V3's scenario (EP64: 2 EP groups a stage) under balanced routing, whose classes start from the
  // roles; and with EP16 (8 groups a stage) under Zipf routing, whose classes start from the EP places.
  // With EP64 under Zipf a straggler sets every rank apart (each place's class held one rank of each of
  // the 2 groups) and auto takes the full path.
  const ir::StepProgram balanced(ir::load_scenario("deepseek-v3-pretrain"));
  const ir::StepProgram zipf(ir::load_scenario("deepseek-v3-pretrain", {"plan.ep=16", R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})"}));
  struct Case {
    const char* name;
    std::vector<sim::Straggler> stragglers;
    std::vector<hw::LinkFault> faults;
  };
  for (const ir::StepProgram* p : {&balanced, &zipf})
    for (const Case& c : {Case{"straggler 3:1.2", {sim::Straggler{3, 1.2}}, {}},
                          Case{"degraded nic:200=0.5", {}, {hw::parse_link_fault("nic:200=0.5", false)}},
                          Case{"failed nic:200", {}, {hw::parse_link_fault("nic:200", true)}}}) {
      INFO(c.name << (p == &zipf ? ", EP16 Zipf" : ", balanced"));
      const sim::StepProgramView view(*p);
      sim::SimOptions o;
      o.stragglers = c.stragglers;
      o.link_faults = c.faults;
      const sim::SimResult classes = sim::simulate(view, p->cluster(), o);
      CHECK(classes.mode == sim::Mode::Classes);
      CHECK(classes.ranks.size() < 2048);
      o.mode = sim::Mode::Full;
      check_same_report(sim::simulate(view, p->cluster(), o), classes);
    }
  sim::SimOptions o;
  o.stragglers.push_back(sim::Straggler{3, 1.2});
  const ir::StepProgram ep64(ir::load_scenario("deepseek-v3-pretrain", {R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})"}));
  CHECK(sim::choose_path(sim::StepProgramView(ep64), ep64.cluster(), o).mode == sim::Mode::Full);
}

TEST_CASE("every fault's mark counts: a degraded leaf before a failed NIC still parts the GPUs the NIC moves onto",
          "[sim][classes]") {
  // 256 GPUs in one leaf, 4 planes (two GPUs of a node on each). A degraded leaf link of plane 0 marks the
  // plane-0 GPUs (0 and 4 of every node) alike; the failed NIC of GPU 4 then moves node 0's rail-4 traffic
  // onto rail 0. Keeping the first mark left GPUs 0 and 4 (and the partner nodes' rails 0 and 4) in one
  // class and the class path missed the failure (phases, idle causes and exposed communication moved);
  // each fault's mark combined with the earlier ones parts them. The same faults in the other order too.
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {"cluster.nodes=32", "plan.pp=4", "plan.global_batch_seqs=512", "model.num_layers=6",
                               "model.first_dense_layers=1", "cluster.planes=4"}));
  const sim::StepProgramView view(p);
  const hw::LinkFault leaf = hw::parse_link_fault("leaf:0.0=0.5", false), nic = hw::parse_link_fault("nic:4", true);
  for (const auto& faults : {std::vector<hw::LinkFault>{leaf, nic}, std::vector<hw::LinkFault>{nic, leaf}}) {
    sim::SimOptions o;
    o.link_faults = faults;
    const sim::SimResult classes = sim::simulate(view, p.cluster(), o);
    CHECK(classes.mode == sim::Mode::Classes);
    o.mode = sim::Mode::Full;
    check_same_report(sim::simulate(view, p.cluster(), o), classes);
  }
}

TEST_CASE("leaves that cut a stage's EP groups unalike send auto to the full path", "[sim][classes]") {
  // 3-node leaves, EP16 (2-node groups), stages of 8 nodes: some EP groups straddle two leaves and pay the
  // spine's IB latency (3.7 us against 2.8), the others do not, so ranks of one role differ. The symmetric
  // path gave another step than the full path here; now auto runs the full path and the others refuse.
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {"cluster.nodes=32", "plan.pp=4", "plan.global_batch_seqs=512", "model.num_layers=6",
                               "model.first_dense_layers=1", "plan.ep=16", "cluster.nodes_per_leaf=3"}));
  const sim::StepProgramView view(p);
  CHECK_FALSE(view.roles_alike_on_domains(p.cluster()));
  sim::SimOptions o;
  CHECK(sim::choose_path(view, p.cluster(), o).mode == sim::Mode::Full);
  o.stragglers.push_back(sim::Straggler{3, 1.5});
  CHECK(sim::choose_path(view, p.cluster(), o).mode == sim::Mode::Full);
  o.mode = sim::Mode::Classes;
  CHECK_THROWS_WITH(sim::choose_path(view, p.cluster(), o), Catch::Contains("leaf switches"));
  // Leaves of 4 nodes hold whole EP groups and cut every stage alike: the symmetric path again.
  const ir::StepProgram q(ir::load_scenario(
      "deepseek-v3-pretrain", {"cluster.nodes=32", "plan.pp=4", "plan.global_batch_seqs=512", "model.num_layers=6",
                               "model.first_dense_layers=1", "plan.ep=16", "cluster.nodes_per_leaf=4"}));
  const sim::StepProgramView w(q);
  CHECK(sim::choose_path(w, q.cluster(), sim::SimOptions{}).mode == sim::Mode::Symmetric);
}
