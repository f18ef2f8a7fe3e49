// Replays on scale-up domains, computed by hand: an all-reduce on an 8-GPU Infinity Fabric mesh (all-pairs
// over a link per pair) against the same bandwidth behind a switch (a ring through one port), an
// all-to-all and a DeepEP dispatch inside a 72-GPU NVL72 domain (NVLink only, no NIC), and the symmetric
// path's layout condition.
#include <catch2/catch.hpp>

#include "hand_program.h"
#include "ir/domain_layout.h"
#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/simulate.h"

using namespace tandem;
using sim::test::HandProgram;

namespace {

sim::SimResult run(const HandProgram& p, const ir::ClusterConfig& c) {
  sim::SimOptions o;
  o.mode = sim::Mode::Full;
  return sim::simulate(p, c, o);
}

// One node of 8 MI300X at 896 GB/s per GPU, meshed or (what-if) behind a switch.
ir::ClusterConfig eight(ir::ScaleUpFabric fabric) {
  ir::ClusterConfig c = sim::test::test_cluster(1, 8);
  c.gpu = "MI300X";
  c.scaleup_fabric = fabric;
  return c;
}

// Two NVL72 racks of GB200: 36 trays of 4 GPUs (a NIC each), 72-GPU NVLink domains, one leaf.
ir::ClusterConfig two_nvl72_racks() {
  ir::ClusterConfig c;
  c.name = "nvl72";
  c.gpu = "GB200";
  c.nodes = 36;
  c.gpus_per_node = 4;
  c.nics_per_node = 4;
  c.planes = 4;
  c.gpus_per_domain = 72;
  c.nodes_per_leaf = 36;
  return c;
}

}  // namespace

TEST_CASE("an all-reduce on an 8-GPU mesh moves as fast as through one switch port of the same bandwidth, in 2 steps not 14",
          "[sim][network][mesh]") {
  // 448 MB per GPU, all-reduce over 8: each member sends 2 x 7/8 x 448e6 = 784e6 bytes.
  // Switch: a ring through the GPU's port, 896e9 / 2 x 0.8 = 358.4 GB/s: 784e6 / 358.4e9 = 2,187,500 ns,
  //   plus 2 x 7 = 14 ring steps of 3330 ns = 46,620 ns.
  // Mesh: all-pairs, 784e6 / 7 = 112e6 bytes on each of 7 links of 358.4 / 7 = 51.2 GB/s: 2,187,500 ns,
  //   plus 2 exchanges (reduce-scatter, all-gather) of 3330 ns = 6,660 ns.
  const std::vector<int64_t> group = {0, 1, 2, 3, 4, 5, 6, 7};
  HandProgram p(8);
  p.collective(group, ir::CommKind::AllReduce, 448'000'000, 0, 1);
  p.finish();
  CHECK(run(p, eight(ir::ScaleUpFabric::Switch)).step_ns == 2'187'500 + 46'620);
  CHECK(run(p, eight(ir::ScaleUpFabric::Mesh)).step_ns == 2'187'500 + 6'660);
}

TEST_CASE("a reduce-scatter over 4 of a mesh's 8 GPUs uses the 3 links among them", "[sim][network][mesh]") {
  // 4 members, 300 MB each: each sends 3/4 x 300e6 = 225e6 bytes, 75e6 on each of its 3 links at 51.2 GB/s:
  // 75e6 / 51.2e9 = 1,464,843.75 ns -> 1,464,844 ns, plus one exchange of 3330 ns.
  HandProgram p(8);
  p.collective({0, 2, 4, 6}, ir::CommKind::ReduceScatter, 300'000'000, 0, 1);
  p.finish();
  CHECK(run(p, eight(ir::ScaleUpFabric::Mesh)).step_ns == 1'464'844 + 3330);
}

TEST_CASE("an all-to-all of 64 GPUs inside an NVL72 domain stays on NVLink", "[sim][network][domain]") {
  // Two NVL72 racks (36 trays of 4 GB200); the 64 members are GPUs 0-63 of rack 0, on 16 trays. Each sends
  // 80 MB to each of 63 peers = 5.04 GB through its NVLink port at 1800e9 / 2 x 0.8 = 720 GB/s:
  // 5.04e9 / 720e9 = 7 ms, plus 3330 ns. No byte crosses a NIC although the members span 16 trays.
  ir::ClusterConfig c = two_nvl72_racks();
  std::vector<int64_t> group;
  for (int64_t g = 0; g < 64; ++g) group.push_back(g);
  HandProgram p(144);
  p.all_to_all(group, 80e6, 0, 1, ir::CommPurpose::Activation);
  p.finish();
  const sim::SimResult r = run(p, c);
  CHECK(r.step_ns == 7'000'000 + 3330);
  CHECK(r.link_bytes[size_t(hw::LinkKind::NicOut)] == 0.0);
  CHECK(r.link_bytes[size_t(hw::LinkKind::NvlinkOut)] == Approx(64 * 5.04e9));
  // With 8-GPU nodes (the HGX layout) the same group spans 8 nodes and 7/8 of each member's bytes go over
  // its 40 GB/s NIC (IB): 7 x 8 x 80e6 = 4.48e9 bytes -> 112 ms.
  c.gpus_per_domain = 0;
  c.gpus_per_node = 8;
  c.nics_per_node = 8;
  c.nodes = 18;
  c.nodes_per_leaf = 18;
  CHECK(run(p, c).step_ns > 112'000'000);
}

TEST_CASE("DeepEP's dispatch among 64 GPUs of one NVL72 domain sends one copy per target GPU, all over NVLink",
          "[sim][network][domain]") {
  // DeepSeek-V3's routing on EP64 (4 experts per GPU, 8 per token, at most 4 domains per token), the group
  // inside rack 0. The token visits one domain (its own), so no copy crosses a NIC; NVLink carries one
  // copy per distinct target GPU: among 8 experts drawn from 64 x 4, 64 (1 - C(252,8)/C(256,8)) = 7.6758
  // distinct GPUs, 0.95947 of the 8 rows the IR counts. Each member's 63 x 80 MB of rows become
  // 5.04e9 x 0.95947 = 4.8357e9 bytes at 720 GB/s: 6,716,281.4 ns, plus 3330 ns.
  ir::ClusterConfig c = two_nvl72_racks();
  std::vector<int64_t> group;
  for (int64_t g = 0; g < 64; ++g) group.push_back(g);
  HandProgram p(144);
  p.routing.top_k = 8;
  p.routing.max_nodes_per_token = 4;
  p.routing.experts_per_rank = 4;
  p.all_to_all(group, 80e6, 0, 1, ir::CommPurpose::Dispatch);
  p.finish();
  const sim::SimResult r = run(p, c);
  CHECK(double(r.step_ns) == Approx(6'716'281.4 + 3330).margin(1.0));
  CHECK(r.link_bytes[size_t(hw::LinkKind::NicOut)] == 0.0);
}

TEST_CASE("stages sit alike on domains when domains hold whole stages or whole EP groups", "[sim][domain]") {
  CHECK(ir::stage_ranks_alike_on_domains(128, 64, 8));     // DeepSeek-V3 on H800: EP64 = 8 whole nodes
  CHECK(ir::stage_ranks_alike_on_domains(144, 8, 72));     // NVL72: 9 EP8 groups per domain
  CHECK(ir::stage_ranks_alike_on_domains(128, 64, 384));   // CloudMatrix384: 3 stages per domain
  CHECK_FALSE(ir::stage_ranks_alike_on_domains(144, 16, 72));   // EP16 groups straddle domains 0 and 1 (64-79)
  CHECK_FALSE(ir::stage_ranks_alike_on_domains(128, 64, 72));   // stage 1 starts at GPU 128, inside domain 1
}

TEST_CASE("where domains hold whole stages the symmetric path gives the full path's step and elsewhere the full path is taken",
          "[sim][domain]") {
  // The tiny model (PP2, EP2) on servers of 2 GPUs in scale-up domains of 4.
  const std::vector<std::string> base = {"cluster.gpus_per_node=2", "cluster.nics_per_node=2", "cluster.planes=2",
                                         "cluster.gpus_per_domain=4"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), base.begin(), base.end());
    return more;
  };
  // 4 servers = 8 GPUs: stages of 4 ranks, one per domain.
  const ir::StepProgram aligned(ir::load_scenario("tiny", with({"cluster.nodes=4"})));
  const sim::StepProgramView a(aligned);
  CHECK(a.roles_alike_on_domains(aligned.cluster()));
  sim::SimOptions o;
  o.mode = sim::Mode::Full;
  const sim::SimResult full = sim::simulate(a, aligned.cluster(), o);
  o.mode = sim::Mode::Symmetric;
  const sim::SimResult sym = sim::simulate(a, aligned.cluster(), o);
  CHECK(sym.step_ns == full.step_ns);
  // 6 servers = 12 GPUs: stages of 6 ranks on domains of 4, the second stage starting inside domain 1.
  const ir::StepProgram skewed(ir::load_scenario("tiny", with({"cluster.nodes=6", "plan.global_batch_seqs=48"})));
  const sim::StepProgramView v(skewed);
  CHECK_FALSE(v.roles_alike_on_domains(skewed.cluster()));
  CHECK(sim::simulate(v, skewed.cluster()).mode == sim::Mode::Full);
  CHECK_THROWS_WITH(sim::simulate(v, skewed.cluster(), o), Catch::Contains("scale-up domains and leaf switches that cut every stage's groups alike"));
}
