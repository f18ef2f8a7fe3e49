// A cluster's NVLink follows its GPU unless the scenario sets it: cluster.gpu=B200 alone gets the
// B200's 1.8 TB/s (the presets no longer pin the H800's 400 GB/s), a set value is kept as given.
#include <catch2/catch.hpp>

#include "hw/gpu_catalogue.h"
#include "hw/topology.h"
#include "ir/scenario.h"

using namespace tandem;

TEST_CASE("NVLink follows the cluster's GPU unless set", "[hw][nvlink]") {
  const ir::Scenario h800 = ir::load_scenario("tiny");
  CHECK(h800.cluster.nvlink_bytes_per_s == 0);                       // not set: the GPU's
  CHECK(hw::nvlink_bytes_per_s(h800.cluster) == 400e9);              // H800
  const ir::Scenario b200 = ir::load_scenario("tiny", {"cluster.gpu=B200"});
  CHECK(hw::nvlink_bytes_per_s(b200.cluster) == 1800e9);
  CHECK(hw::nvlink_bytes_per_s(ir::load_scenario("deepseek-v3-pretrain", {"cluster=h100"}).cluster) == 900e9);
  const ir::Scenario set = ir::load_scenario("tiny", {"cluster.gpu=B200", "cluster.nvlink_bytes_per_s=400e9"});
  CHECK(hw::nvlink_bytes_per_s(set.cluster) == 400e9);               // what-if: kept, reported by simulate
  // The topology's NVLink capacity per direction is the same figure: nominal / 2 x efficiency.
  const hw::NetworkParams params;
  const hw::Topology topo(b200.cluster, hw::gpu_spec("B200"), params);
  CHECK(topo.links()[size_t(topo.nvlink_out(0))].capacity_bytes_per_s == Approx(1800e9 / 2 * params.nvlink_efficiency));
}
