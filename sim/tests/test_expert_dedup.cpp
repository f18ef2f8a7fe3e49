// DeepEP's node/GPU deduplication of the expert all-to-all (sim::expert_dedup, sim::BundleBuilder):
// hand-computed multipliers for 8-GPU nodes, 256 experts, top-8, EP over 1, 2, 4 and 8 nodes with and
// without a node limit, the expected distinct nodes per token, the link loads of whole bundles and the
// time of a simulated all-to-all.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <vector>

#include "hw/cost_model.h"
#include "hw/gpu_catalogue.h"
#include "hw/topology.h"
#include "hand_program.h"
#include "sim/comm_bundles.h"
#include "sim/simulate.h"

using namespace tandem;

namespace {

// DeepSeek-V3's routed experts and top-k; EP over `ep` GPUs leaves 256 / ep experts on each.
sim::ExpertRouting v3_routing(int64_t ep, int64_t max_nodes_per_token) {
  sim::ExpertRouting r;
  r.top_k = 8;
  r.experts_per_rank = 256 / ep;
  r.max_nodes_per_token = max_nodes_per_token;
  return r;
}

// Nodes a token visits and distinct GPUs it reaches on each, read back from the multipliers:
// IB carries 1 / (k / nodes) of the expert rows, NVLink distinct / (k / nodes).
double nodes_per_token(const sim::A2aDedup& d) { return d.ib * 8.0; }
double gpus_per_visited_node(const sim::A2aDedup& d) { return d.nvlink * (1.0 / d.ib); }

// The exact expected number of distinct nodes among k distinct experts drawn uniformly from 256
// spread evenly over `nodes` nodes: nodes · (1 - C(256 - 256/nodes, k) / C(256, k)).
double exact_distinct_nodes(int64_t nodes, int64_t k) {
  double none_on_node = 1.0;   // C(256 - per_node, k) / C(256, k) as a product of k ratios
  const int64_t per_node = 256 / nodes;
  for (int64_t i = 0; i < k; ++i) none_on_node *= double(256 - per_node - i) / double(256 - i);
  return double(nodes) * (1.0 - none_on_node);
}

}  // namespace

TEST_CASE("DeepSeek-V3's plan: EP64 over 8 nodes with at most 4 nodes per token", "[sim][dedup]") {
  // Unlimited, a token would visit 8 · (1 - (7/8)^8) = 5.25 nodes; the limit caps it at 4, so it
  // selects k / 4 = 2 experts per visited node: IB carries 1/2 of the expert rows (one copy per node).
  // Those 2 experts are drawn from the node's 8 GPUs × 4 experts = 32; both miss a given GPU with
  // probability C(28, 2) / C(32, 2) = 378 / 496, so they reach 8 · (1 - 378/496) = 944/496 = 1.9032
  // distinct GPUs of 2: NVLink carries 1.9032 / 2 = 0.95161 of the rows (docs/simulator.md: 1.90 of 2).
  const sim::A2aDedup d = sim::expert_dedup(v3_routing(64, 4), 8, 8);
  CHECK(d.ib == 0.5);
  CHECK(d.nvlink == Approx(944.0 / 496.0 / 2.0).epsilon(1e-12));
  CHECK(nodes_per_token(d) == 4.0);
  CHECK(gpus_per_visited_node(d) == Approx(944.0 / 496.0).epsilon(1e-12));
}

TEST_CASE("EP32 over 4 nodes: at most 2 nodes per token then no limit", "[sim][dedup]") {
  SECTION("at most 2 nodes per token") {
    // Unlimited 4 · (1 - (3/4)^8) = 3.60 nodes, capped at 2: 8 / 2 = 4 experts per visited node, IB 1/4.
    // 4 experts of the node's 8 GPUs × 8 experts = 64 miss a GPU with probability
    // C(56, 4) / C(64, 4) = 367290 / 635376 = 0.578067, so 8 · (1 - 0.578067) = 3.375463 distinct GPUs
    // of 4: NVLink 3.375463 / 4 = 0.843866.
    const sim::A2aDedup d = sim::expert_dedup(v3_routing(32, 2), 4, 8);
    CHECK(d.ib == 0.25);
    CHECK(d.nvlink == Approx(8.0 * (1.0 - 367290.0 / 635376.0) / 4.0).epsilon(1e-12));
    CHECK(d.nvlink == Approx(0.8438657).epsilon(1e-6));
  }
  SECTION("the node limit (4) does not bind") {
    // 4 · (1 - (3/4)^8) = 4 · (1 - 6561/65536) = 4 · 58975/65536 = 3.5995483 nodes < 4:
    // IB carries 3.5995483 / 8 = 58975 / 131072 of the rows (exact in binary).
    const sim::A2aDedup d = sim::expert_dedup(v3_routing(32, 4), 4, 8);
    CHECK(d.ib == Approx(58975.0 / 131072.0).epsilon(1e-15));
    CHECK(nodes_per_token(d) == Approx(4.0 * 58975.0 / 65536.0).epsilon(1e-15));
    // 8 / 3.5995 = 2.22 experts per visited node: between 2 draws (1.7500 distinct GPUs:
    // 8 · (1 - C(56, 2) / C(64, 2)) = 8 · (1 - 1540/2016)) and 3 draws, each GPU reached at most once
    // per expert, so at most 2.22 distinct GPUs and at least 1.75.
    CHECK(gpus_per_visited_node(d) > 8.0 * (1.0 - 1540.0 / 2016.0));
    CHECK(d.nvlink < 1.0);
  }
}

TEST_CASE("EP16 over 2 nodes with at most 1 node per token", "[sim][dedup]") {
  // Capped at one node: all 8 experts on it, IB 1/8. Drawn from 8 GPUs × 16 experts = 128, the 8 miss
  // a GPU with probability C(112, 8) / C(128, 8) = prod over i < 8 of (112 - i) / (128 - i) = 0.332580,
  // so 8 · (1 - 0.332580) = 5.339357 distinct GPUs of 8: NVLink 0.667420.
  const sim::A2aDedup d = sim::expert_dedup(v3_routing(16, 1), 2, 8);
  double miss = 1.0;
  for (int i = 0; i < 8; ++i) miss *= double(112 - i) / double(128 - i);
  CHECK(d.ib == 0.125);
  CHECK(d.nvlink == Approx((1.0 - miss)).epsilon(1e-12));
  CHECK(d.nvlink == Approx(0.6674196).epsilon(1e-6));
}

TEST_CASE("EP8 inside one node: no IB and NVLink one copy per distinct GPU", "[sim][dedup]") {
  // One node: the token visits it with all 8 experts; 8 GPUs × 32 experts = 256, 8 draws miss a GPU
  // with probability C(224, 8) / C(256, 8) = 0.338168: 8 · (1 - 0.338168) = 5.294652 distinct GPUs.
  const sim::A2aDedup d = sim::expert_dedup(v3_routing(8, 4), 1, 8);
  CHECK(d.ib == 0.125);
  CHECK(gpus_per_visited_node(d) == Approx(5.294652).epsilon(1e-6));
}

TEST_CASE("expected distinct nodes per token under balanced routing without a node limit", "[sim][dedup]") {
  // The model draws the k = 8 experts independently: nodes · (1 - (1 - 1/nodes)^8).
  //   2 nodes: 2 · (1 - 1/256)          = 1.9921875
  //   4 nodes: 4 · (1 - 6561/65536)     = 3.5995483
  //   8 nodes: 8 · (1 - 5764801/16777216) = 5.2511287
  const std::vector<std::pair<int64_t, double>> cases = {
      {2, 2.0 * (1.0 - 1.0 / 256.0)}, {4, 4.0 * (1.0 - 6561.0 / 65536.0)}, {8, 8.0 * (1.0 - 5764801.0 / 16777216.0)}};
  for (const auto& [nodes, expected] : cases) {
    INFO(nodes << " nodes");
    const sim::A2aDedup d = sim::expert_dedup(v3_routing(8 * nodes, 0), nodes, 8);
    CHECK(nodes_per_token(d) == Approx(expected).epsilon(1e-12));
    // Top-k picks 8 distinct experts, so the exact count is hypergeometric (2 nodes 1.99302, 4 nodes
    // 3.61421, 8 nodes 5.29465): independent draws undercount it by 0.04%, 0.41% and 0.82%.
    CHECK(nodes_per_token(d) < exact_distinct_nodes(nodes, 8));
    CHECK(nodes_per_token(d) == Approx(exact_distinct_nodes(nodes, 8)).epsilon(0.01));
  }
  CHECK(exact_distinct_nodes(8, 8) == Approx(5.294652).epsilon(1e-6));
}

TEST_CASE("degenerate routings: no top-k or one expert per GPU", "[sim][dedup]") {
  CHECK(sim::expert_dedup(sim::ExpertRouting{}, 8, 8).ib == 1.0);      // not an expert all-to-all
  CHECK(sim::expert_dedup(sim::ExpertRouting{}, 8, 8).nvlink == 1.0);
  // 256 experts on EP256 (one per GPU) over 32 nodes, 4 nodes per token: 2 experts per node, always on
  // two different GPUs: NVLink carries every row.
  sim::ExpertRouting one{8, 1, 4};
  const sim::A2aDedup d = sim::expert_dedup(one, 32, 8);
  CHECK(d.ib == 0.5);
  CHECK(d.nvlink == 1.0);
}

TEST_CASE("a dispatch bundle puts one copy per node on IB and one per GPU on NVLink", "[sim][dedup][bundle]") {
  // Two nodes of 8 H800, EP16 with at most 1 node per token (IB 1/8, NVLink 0.667420 as above).
  // GPU 0 dispatches b = 8 MB of expert rows to each of the 15 others.
  ir::ClusterConfig c;
  c.nodes = 2;
  const hw::GpuSpec& gpu = hw::gpu_spec("H800");
  const hw::Topology topo(c, gpu);
  const hw::CostModel cost(gpu);
  const sim::ExpertRouting routing = v3_routing(16, 1);
  const sim::A2aDedup d = sim::expert_dedup(routing, 2, 8);
  std::vector<int64_t> group(16);
  std::iota(group.begin(), group.end(), 0);
  const double b = 8e6;
  std::vector<double> bytes_to(16, b);
  bytes_to[0] = 0;   // itself
  auto kind = [](const sim::Bundle& x, hw::LinkKind k) { return x.bytes_by_kind[size_t(k)]; };
  auto load = [](const sim::Bundle& x, int32_t link) {
    for (const auto& l : x.loads)
      if (l.link == link) return l.bytes;
    return 0.0;
  };

  SECTION("towards the experts") {
    sim::BundleBuilder builder(topo, cost, routing);
    builder.all_to_all(0, group, bytes_to, ir::CommPurpose::Dispatch, 20);
    const sim::Bundle x = builder.finish(nullptr);
    CHECK(x.bytes == 15 * b);   // progress counts the expert rows sent
    CHECK(x.flows == 1);
    // IB: the 8 remote GPUs' rows (64 MB) go once per token to GPU 8 (rail 0): 64 MB / 8 = 8 MB.
    CHECK(kind(x, hw::LinkKind::NicOut) == Approx(8 * b * d.ib).epsilon(1e-12));
    CHECK(load(x, topo.nic_out(0)) == Approx(8 * b / 8).epsilon(1e-12));
    CHECK(load(x, topo.nic_in(8)) == Approx(8 * b / 8).epsilon(1e-12));
    // NVLink: 7 local targets from GPU 0, and 7 remote ones forwarded by GPU 8, each b · 0.667420.
    CHECK(load(x, topo.nvlink_out(0)) == Approx(7 * b * d.nvlink).epsilon(1e-12));
    CHECK(load(x, topo.nvlink_out(8)) == Approx(7 * b * d.nvlink).epsilon(1e-12));
    CHECK(load(x, topo.nvlink_in(9)) == Approx(b * d.nvlink).epsilon(1e-12));
    CHECK(load(x, topo.nvlink_in(8)) == 0.0);
    CHECK(kind(x, hw::LinkKind::NvlinkOut) == Approx(14 * b * d.nvlink).epsilon(1e-12));
    // DeepEP's internode kernel: the sender's 20 SMs are limited on its rows per token and node visited,
    // its own node included (15 b · 1/8: the 7 local targets' rows and the 8 remote ones'), at 20 x 46e9 / 24
    // = 38.33 GB/s (hw::CostParams); the forwarding GPU's SMs are counted in that rate, not on their own.
    CHECK(load(x, builder.kernel_link(0)) == Approx(15 * b * d.ib).epsilon(1e-12));
    CHECK(load(x, builder.kernel_link(8)) == 0.0);
    CHECK(x.kernel_cap_bytes_per_s == Approx(20 * 46e9 / 24).epsilon(1e-12));
    // Latency: IB same leaf 2.8 us plus the NVLink hop 3.33 us.
    CHECK(x.latency_ns == 2800 + 3330);
  }

  SECTION("back from the experts") {
    sim::BundleBuilder builder(topo, cost, routing);
    builder.all_to_all(0, group, bytes_to, ir::CommPurpose::Combine, 20);
    const sim::Bundle x = builder.finish(nullptr);
    // Each remote target j (GPU 8 + i) is reached by NVLink to GPU i of node 0 (none for i = 0), then IB
    // from GPU i to GPU 8 + i: every NIC of node 0 carries b / 8 once.
    for (int64_t i = 0; i < 8; ++i) {
      INFO("rail " << i);
      CHECK(load(x, topo.nic_out(i)) == Approx(b * d.ib).epsilon(1e-12));
      CHECK(load(x, topo.nic_in(8 + i)) == Approx(b * d.ib).epsilon(1e-12));
    }
    CHECK(kind(x, hw::LinkKind::NicOut) == Approx(8 * b * d.ib).epsilon(1e-12));
    // NVLink out of GPU 0: 7 local targets and 7 relays, each b · 0.667420.
    CHECK(load(x, topo.nvlink_out(0)) == Approx(14 * b * d.nvlink).epsilon(1e-12));
    CHECK(kind(x, hw::LinkKind::NvlinkOut) == Approx(14 * b * d.nvlink).epsilon(1e-12));
    // The combine kernel's SM limit, 20 x 45e9 / 24 = 37.5 GB/s, on the same 15 rows, but each remote
    // target's row on the relay that writes it: GPU 0 keeps the 7 local rows and the one it relays itself
    // (to GPU 8), GPUs 1..7 one each. A member sending alone is then bound by NVLink and the NICs, not by
    // one GPU's kernel; under balanced routing every GPU relays as much as it hands over.
    CHECK(load(x, builder.kernel_link(0)) == Approx(8 * b * d.ib).epsilon(1e-12));
    for (int64_t i = 1; i < 8; ++i) CHECK(load(x, builder.kernel_link(i)) == Approx(b * d.ib).epsilon(1e-12));
    CHECK(load(x, builder.kernel_link(8)) == 0.0);
    CHECK(x.kernel_cap_bytes_per_s == Approx(20 * 45e9 / 24).epsilon(1e-12));
  }
}

TEST_CASE("a simulated EP16 dispatch over 2 nodes lasts as long as its busiest deduplicated link", "[sim][dedup][replay]") {
  // All 16 GPUs of two 8-GPU nodes dispatch b = 160 MB to each of the 15 others, without an SM limit.
  // Deduplicated (at most 1 node per token: IB 1/8, NVLink 0.667420, as above), every NIC carries
  // 8 b / 8 = 160 MB out and in: 4 ms at 40 GB/s; every GPU sends 7 local copies and forwards 7 that
  // arrived on its rail, 14 b · 0.667420 = 1.495 GB at 160 GB/s per NVLink direction: 9.343875 ms,
  // the busier link. Latency: IB 2.8 us plus the NVLink hop 3.33 us after the last byte.
  // Without deduplication the rows cross IB as sent: 8 b = 1.28 GB per NIC, 32 ms, IB-bound.
  const double b = 160e6;
  auto simulate = [&](const sim::ExpertRouting& routing) {
    sim::test::HandProgram p(16);
    p.routing = routing;
    std::vector<int64_t> group(16);
    std::iota(group.begin(), group.end(), 0);
    p.all_to_all(group, b, 0, 7, ir::CommPurpose::Dispatch);
    p.finish();
    sim::SimOptions o;
    o.mode = sim::Mode::Full;
    return sim::simulate(p, sim::test::test_cluster(2, 8), o).step_ns;
  };
  double miss = 1.0;
  for (int i = 0; i < 8; ++i) miss *= double(112 - i) / double(128 - i);
  const double nvlink_ns = 14 * b * (1.0 - miss) / 160e9 * 1e9;
  CHECK(nvlink_ns == Approx(9'343'875).margin(1));
  CHECK(double(simulate(v3_routing(16, 1))) == Approx(nvlink_ns + 2800 + 3330).margin(2));
  CHECK(double(simulate(sim::ExpertRouting{})) == Approx(32e6 + 2800 + 3330).margin(2));
}

TEST_CASE("DeepSeek-V3's dispatch and combine at EP64 over 8 nodes take DeepEP's published bandwidth at 20 SMs",
          "[sim][dedup][replay][deepep]") {
  // DeepEP's benchmark setting: 4096 tokens, top-8 within 4 of 8 nodes, FP8 rows of 7168 + 7168/128 x 4
  // = 7392 bytes (dispatch), BF16 rows of 14336 bytes (combine). The IR counts a row per token and expert,
  // 4096 x 8 spread evenly over the 64 GPUs, 512 to each; this hand program sends them to the 63 others
  // (an IR program also counts the rank's own 512). DeepEP counts a row per token and node visited, own
  // node included: 63 x 512 / 2 rows, 119,218,176 bytes (FP8) and 231,211,008 bytes (BF16).
  // On 20 SMs at 46e9 / 24 and 45e9 / 24 per SM (38.33 and 37.5 GB/s): 3,110,039.4 ns and 6,165,626.9 ns;
  // IB (56 x 512 / 2 rows per NIC at 40 GB/s: 2,649,292.8 and 5,138,022.4 ns) and NVLink stay below.
  // On 24 SMs (DeepEP's benchmark) IB binds instead: with the own rows too, 4096 x 4 x 7392 bytes in
  // 2.649 ms is 45.7 GB/s against the published 46 (dispatch), 4096 x 4 x 14336 in 5.138 ms 45.7 against
  // 45 (combine). Latency: cross-leaf IB (3700 ns) and the NVLink hop (3330 ns): 7030 ns.
  auto simulate = [&](double row_bytes, ir::CommPurpose purpose, int64_t sms) {
    sim::test::HandProgram p(64);
    p.routing = v3_routing(64, 4);
    std::vector<int64_t> group(64);
    std::iota(group.begin(), group.end(), 0);
    p.all_to_all(group, 512 * row_bytes, sms, 7, purpose);
    p.finish();
    sim::SimOptions o;
    o.mode = sim::Mode::Full;
    ir::ClusterConfig c = sim::test::test_cluster(8, 8);
    c.nodes_per_leaf = 4;   // two leaves: the group's farthest peer is cross-leaf
    return double(sim::simulate(p, c, o).step_ns);
  };
  const double fp8 = 7392, bf16 = 14336;
  CHECK(63 * 512 / 2 * fp8 == 119'218'176);
  CHECK(simulate(fp8, ir::CommPurpose::Dispatch, 20) == Approx(3'110'039.4 + 7030).margin(2));
  CHECK(simulate(bf16, ir::CommPurpose::Combine, 20) == Approx(6'165'626.9 + 7030).margin(2));
  CHECK(simulate(fp8, ir::CommPurpose::Dispatch, 24) == Approx(2'649'292.8 + 7030).margin(2));
  CHECK(simulate(bf16, ir::CommPurpose::Combine, 24) == Approx(5'138'022.4 + 7030).margin(2));
  // The backward of combine is a dispatch kernel, the backward of dispatch a combine kernel.
  CHECK(simulate(fp8, ir::CommPurpose::CombineGrad, 20) == simulate(fp8, ir::CommPurpose::Dispatch, 20));
  CHECK(simulate(bf16, ir::CommPurpose::DispatchGrad, 20) == simulate(bf16, ir::CommPurpose::Combine, 20));
}
