// Tests of the topology: link capacities, rail paths with their latencies, faults and their parser.
#include <catch2/catch.hpp>

#include "hw/topology.h"

using namespace tandem;

namespace {
ir::ClusterConfig two_nodes() {
  ir::ClusterConfig c;
  c.name = "test";
  c.nodes = 2;
  c.gpus_per_node = 8;
  c.nics_per_node = 8;
  c.planes = 8;
  c.nodes_per_leaf = 32;
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

TEST_CASE("link capacities are nominal bandwidth times efficiency", "[hw][topology]") {
  const hw::Topology t(two_nodes(), hw::gpu_spec("H800"));
  // NVLink 400 GB/s both ways -> 200 GB/s each way x 0.8 = 160 GB/s; NIC 50 GB/s x 0.8 = 40 GB/s.
  CHECK(t.links()[size_t(t.nvlink_out(3))].capacity_bytes_per_s == Approx(160e9));
  CHECK(t.links()[size_t(t.nic_in(9))].capacity_bytes_per_s == Approx(40e9));
  CHECK(t.links().size() == 4 * 16 + 2 * 8);   // 4 per GPU + up/down per (plane, leaf): 8 planes x 1 leaf
}

TEST_CASE("a path to another node goes over the sender's rail, then NVLink", "[hw][topology]") {
  const hw::Topology t(two_nodes(), hw::gpu_spec("H800"));
  // GPU 3 (node 0, index 3) to GPU 13 (node 1, index 5): IB from 3 to 11 (node 1, index 3), NVLink 11 -> 13.
  const hw::Path p = t.route(3, 13);
  REQUIRE(p.count == 4);
  CHECK(p.links[0] == t.nic_out(3));
  CHECK(p.links[1] == t.nic_in(11));
  CHECK(p.links[2] == t.nvlink_out(11));
  CHECK(p.links[3] == t.nvlink_in(13));
  CHECK(p.latency_ns == 2800 + 3330);   // same leaf IB + one NVLink hop
  const hw::Path q = t.route(2, 6);    // same node
  CHECK(q.count == 2);
  CHECK(q.latency_ns == 3330);
}

TEST_CASE("crossing leaves adds the leaf links and the cross-leaf latency", "[hw][topology]") {
  ir::ClusterConfig c = two_nodes();
  c.nodes_per_leaf = 1;
  c.oversubscription = 2.0;
  const hw::Topology t(c, hw::gpu_spec("H800"));
  const hw::Path p = t.route(1, 9);   // node 0 -> node 1, both index 1, leaves 0 and 1 of plane 1
  REQUIRE(p.count == 4);
  CHECK(p.links[1] == t.leaf_up(1, 0));
  CHECK(p.links[2] == t.leaf_down(1, 1));
  CHECK(p.latency_ns == 3700);
  // leaf uplink: 1 node x 1 NIC on this plane x 40 GB/s / oversubscription 2 = 20 GB/s
  CHECK(t.links()[size_t(t.leaf_up(1, 0))].capacity_bytes_per_s == Approx(20e9));
}

TEST_CASE("a failed NIC moves traffic to the first healthy rail", "[hw][topology]") {
  const hw::LinkFault f = hw::parse_link_fault("nic:3", true);
  const hw::Topology t(two_nodes(), hw::gpu_spec("H800"), {}, std::span(&f, 1));
  CHECK(t.has_faults());
  // 3 -> 11: rail 3 is down; rail 0: NVLink 3 -> 0, IB 0 -> 8, NVLink 8 -> 11.
  const hw::Path p = t.route(3, 11);
  REQUIRE(p.count == 6);
  CHECK(p.links[0] == t.nvlink_out(3));
  CHECK(p.links[1] == t.nvlink_in(0));
  CHECK(p.links[2] == t.nic_out(0));
  CHECK(p.links[3] == t.nic_in(8));
  CHECK(p.links[5] == t.nvlink_in(11));
  CHECK(p.latency_ns == 3330 + 2800 + 3330);
}

TEST_CASE("a degraded link keeps its share of capacity", "[hw][topology]") {
  const hw::LinkFault f = hw::parse_link_fault("nvlink:2=0.5", false);
  CHECK(f.target == hw::LinkFault::Target::Nvlink);
  CHECK(f.gpu == 2);
  CHECK(f.factor == 0.5);
  const hw::Topology t(two_nodes(), hw::gpu_spec("H800"), {}, std::span(&f, 1));
  CHECK(t.links()[size_t(t.nvlink_in(2))].capacity_bytes_per_s == Approx(80e9));
  const hw::LinkFault l = hw::parse_link_fault("leaf:2.0=0.25", false);
  CHECK(l.plane == 2);
  CHECK(l.leaf == 0);
}

TEST_CASE("bad link fault specs say what was expected and found", "[hw][topology][errors]") {
  CHECK(error_of([] { hw::parse_link_fault("nic", false); }).find("no ':'") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("nic:x=0.5", false); }).find("integer GPU index") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("nic:3=1.5", false); }).find("factor in (0, 1]") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("nic:3=abc", false); }).find("'abc'") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("nic:3", false); }).find("no '='") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("nic:3=0.5", true); }).find("failed link") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("wan:3=0.5", false); }).find("'wan'") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("leaf:1=0.5", false); }).find("PLANE.LEAF") != std::string::npos);
  CHECK(error_of([] { hw::parse_link_fault("nic:-1", true); }).find("non-negative") != std::string::npos);
}

TEST_CASE("impossible clusters and faults are refused", "[hw][topology][errors]") {
  ir::ClusterConfig c = two_nodes();
  c.nics_per_node = 4;
  CHECK(error_of([&] { hw::Topology(c, hw::gpu_spec("H800")); }).find("one NIC per GPU") != std::string::npos);
  c = two_nodes();
  c.switch_tiers = 3;
  CHECK(error_of([&] { hw::Topology(c, hw::gpu_spec("H800")); }).find("switch_tiers") != std::string::npos);
  const hw::LinkFault far = hw::parse_link_fault("nic:99", true);
  CHECK(error_of([&] { hw::Topology(two_nodes(), hw::gpu_spec("H800"), {}, std::span(&far, 1)); })
            .find("GPU 99 of 16") != std::string::npos);
  const hw::LinkFault nvl{hw::LinkFault::Target::Nvlink, 1, 0, 0, 0.0};
  CHECK(error_of([&] { hw::Topology(two_nodes(), hw::gpu_spec("H800"), {}, std::span(&nvl, 1)); })
            .find("cut off") != std::string::npos);
  // Every rail between the two nodes down -> no route.
  std::vector<hw::LinkFault> all;
  for (int g = 0; g < 8; ++g) all.push_back(hw::parse_link_fault("nic:" + std::to_string(g), true));
  const hw::Topology t(two_nodes(), hw::gpu_spec("H800"), {}, all);
  CHECK(error_of([&] { t.route(0, 8); }).find("no working IB rail") != std::string::npos);
  CHECK_THROWS_AS(t.route(0, 8), std::invalid_argument);   // bad input to `tandem simulate` (exit code 2)
}
