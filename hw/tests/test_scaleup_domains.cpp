// Tests of scale-up domains larger than a node and of meshed domains: which GPUs reach each other over
// NVLink, link capacities per pair on a mesh, leaves counted in domains, faults on a mesh, the catalogue's
// new accelerators and the borrowed-efficiency rule. Every expected value is worked out in a comment.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "hw/topology.h"

using namespace tandem;

namespace {
// Two GB200 NVL72 racks: 36 trays of 4 GPUs, 72 GPUs per NVLink domain, 4 planes, 36 trays per leaf.
ir::ClusterConfig two_nvl72() {
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
// Two 8-GPU MI300X nodes, fully meshed by Infinity Fabric.
ir::ClusterConfig two_mi300x() {
  ir::ClusterConfig c;
  c.name = "mi300x";
  c.gpu = "MI300X";
  c.nodes = 2;
  c.gpus_per_node = 8;
  c.nics_per_node = 8;
  c.planes = 8;
  c.scaleup_fabric = ir::ScaleUpFabric::Mesh;
  return c;
}
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("GPUs of one NVL72 domain reach each other over NVLink, across trays", "[hw][topology][domain]") {
  const hw::Topology t(two_nvl72(), hw::gpu_spec("GB200"));
  CHECK(t.gpus() == 144);
  CHECK(t.nodes() == 2);            // the topology's nodes are the two domains
  CHECK(t.gpus_per_node() == 72);
  // GPU 0 (tray 0) to GPU 71 (tray 17): one NVLink hop through the switch fabric.
  const hw::Path in = t.route(0, 71);
  REQUIRE(in.count == 2);
  CHECK(in.links[0] == t.nvlink_out(0));
  CHECK(in.links[1] == t.nvlink_in(71));
  CHECK(in.latency_ns == 3330);
  // NVLink 5: 1.8 TB/s both ways -> 900 GB/s each way x 0.8 = 720 GB/s.
  CHECK(t.links()[size_t(t.nvlink_out(5))].capacity_bytes_per_s == Approx(720e9));
  // GPU 5 to GPU 77 (domain 1, index 5): the rail of index 5, plane 5 mod 4 = 1, same leaf (2 domains per leaf).
  const hw::Path out = t.route(5, 77);
  REQUIRE(out.count == 2);
  CHECK(out.links[0] == t.nic_out(5));
  CHECK(out.links[1] == t.nic_in(77));
  CHECK(t.plane_of_rail(5) == 1);
  CHECK(out.latency_ns == 2800);
  // A leaf of one plane serves 36 trays x 4 GPUs / 72 = 2 domains, each with 72 / 4 = 18 NICs on the plane:
  // one leaf for both, with 2 x 18 x 40 GB/s = 1440 GB/s to the spine.
  CHECK(t.leaves() == 1);
  CHECK(t.links()[size_t(t.leaf_up(0, 0))].capacity_bytes_per_s == Approx(1440e9));
}

TEST_CASE("a leaf serving one domain of two puts the other across the spine", "[hw][topology][domain]") {
  ir::ClusterConfig c = two_nvl72();
  c.nodes_per_leaf = 18;   // one rack per leaf
  const hw::Topology t(c, hw::gpu_spec("GB200"));
  CHECK(t.leaves() == 2);
  const hw::Path p = t.route(5, 77);
  REQUIRE(p.count == 4);
  CHECK(p.links[1] == t.leaf_up(1, 0));
  CHECK(p.links[2] == t.leaf_down(1, 1));
  CHECK(p.latency_ns == 3700);
  // 1 domain x 18 NICs x 40 GB/s.
  CHECK(t.links()[size_t(t.leaf_up(1, 0))].capacity_bytes_per_s == Approx(720e9));
}

TEST_CASE("a mesh splits the GPU's Infinity Fabric bandwidth over a link per peer", "[hw][topology][mesh]") {
  const hw::Topology t(two_mi300x(), hw::gpu_spec("MI300X"));
  REQUIRE(t.mesh());
  // 896 GB/s both ways -> 448 GB/s out x 0.8 = 358.4 GB/s over 7 peers = 51.2 GB/s per pair and direction.
  CHECK(t.links()[size_t(t.pair_link(0, 5))].capacity_bytes_per_s == Approx(51.2e9));
  CHECK(t.links()[size_t(t.nvlink_out(0))].capacity_bytes_per_s == 0.0);   // no switch port on a mesh
  CHECK(t.links().size() == 4 * 16 + 2 * 8 + 16 * 7);
  const hw::Path p = t.route(3, 6);
  REQUIRE(p.count == 1);
  CHECK(p.links[0] == t.pair_link(3, 6));
  CHECK(t.pair_link(3, 6) != t.pair_link(6, 3));
  CHECK(t.gpu_of_link(t.pair_link(3, 6)) == 3);
  CHECK(t.gpu_of_link(t.pair_link(12, 9)) == 12);
  CHECK(t.gpu_of_link(t.leaf_up(0, 0)) == -1);
  // Every pair link of GPU 0's domain is distinct: 8 x 7 ids.
  std::vector<int32_t> ids;
  for (int64_t s = 0; s < 8; ++s)
    for (int64_t d = 0; d < 8; ++d)
      if (s != d) ids.push_back(t.pair_link(s, d));
  std::sort(ids.begin(), ids.end());
  CHECK(std::unique(ids.begin(), ids.end()) == ids.end());
  // Across nodes: the sender's rail, then the far end's mesh link (11 -> 14 on node 1).
  const hw::Path q = t.route(3, 14);
  REQUIRE(q.count == 3);
  CHECK(q.links[2] == t.pair_link(11, 14));
}

TEST_CASE("a degraded Infinity Fabric GPU slows each of its pair links both ways", "[hw][topology][mesh][faults]") {
  const hw::LinkFault f = hw::parse_link_fault("nvlink:2=0.5", false);
  const hw::Topology t(two_mi300x(), hw::gpu_spec("MI300X"), {}, {&f, 1});
  CHECK(t.links()[size_t(t.pair_link(2, 7))].capacity_bytes_per_s == Approx(25.6e9));
  CHECK(t.links()[size_t(t.pair_link(7, 2))].capacity_bytes_per_s == Approx(25.6e9));
  CHECK(t.links()[size_t(t.pair_link(7, 3))].capacity_bytes_per_s == Approx(51.2e9));
}

TEST_CASE("domains that do not tile the cluster are refused", "[hw][topology][domain][errors]") {
  ir::ClusterConfig c = two_nvl72();
  c.gpus_per_domain = 96;   // 144 GPUs are not whole domains of 96
  CHECK_THAT(error_of([&] { hw::Topology t(c, hw::gpu_spec("GB200")); }), Catch::Contains("gpus_per_domain 96"));
  c.gpus_per_domain = 6;    // not whole trays of 4
  CHECK_THAT(error_of([&] { hw::Topology t(c, hw::gpu_spec("GB200")); }), Catch::Contains("multiple of gpus_per_node"));
  c.gpus_per_domain = 72;
  c.nodes_per_leaf = 20;    // 80 GPUs per leaf: not whole domains of 72
  CHECK_THAT(error_of([&] { hw::Topology t(c, hw::gpu_spec("GB200")); }), Catch::Contains("whole scale-up domains"));
}

TEST_CASE("the catalogue's new accelerators and who borrows the H800's efficiencies", "[hw][gpu]") {
  for (const char* name : {"GB200", "GB300", "MI300X", "MI325X", "MI355X", "Ascend910B", "Ascend910C"})
    CHECK(hw::find_gpu(name) != nullptr);
  const hw::GpuSpec& mi300x = hw::gpu_spec("MI300X");
  CHECK(mi300x.sms == 304);
  CHECK(mi300x.compute_unit == "CU");
  // 304 CUs x 2.1 GHz x 4096 FP8 FLOP per CU per clock = 2614.9 TFLOPS; BF16 half of it.
  CHECK(mi300x.fp8_flops == Approx(304 * 2.1e9 * 4096).epsilon(1e-4));
  CHECK(mi300x.bf16_flops * 2 == Approx(mi300x.fp8_flops).epsilon(1e-4));   // 1307.4 x 2 vs 2614.9: the data sheet's rounding
  // MI355X: 256 CUs x 2.4 GHz x 8192 = 5033 TFLOPS FP8.
  CHECK(hw::gpu_spec("MI355X").fp8_flops == Approx(256 * 2.4e9 * 8192).epsilon(1e-4));
  // Ascend has no FP8: an FP8 GEMM runs at the BF16 rate, as on the A100.
  const hw::GpuSpec& a910c = hw::gpu_spec("ascend910c");
  CHECK(hw::peak_flops(a910c, ir::DType::FP8E4M3) == a910c.bf16_flops);
  CHECK(a910c.bf16_flops == 2 * 376e12);   // two dies of the CloudMatrix384 paper's 376 TFLOPS
  CHECK(a910c.compute_unit == "AI core");
  CHECK(hw::gpu_spec("GB300").sms == 160);
  CHECK(hw::gpu_spec("GB200").nvlink_bytes_per_s == 1800e9);
  CHECK_FALSE(hw::borrows_h800_efficiencies(hw::gpu_spec("H800")));
  for (const char* name : {"H100", "B200", "GB200", "MI300X", "Ascend910B"})
    CHECK(hw::borrows_h800_efficiencies(hw::gpu_spec(name)));
}
