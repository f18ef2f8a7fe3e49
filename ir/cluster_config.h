// ClusterConfig: the machine a plan runs on, as hw/ reads it: GPU kind and count, NVLink/NVSwitch
// inside a node, one NIC per GPU on a multi-plane rail-optimised fat-tree, latencies.
#pragma once
#include <cstdint>
#include <string>

namespace tandem::ir {

struct ClusterConfig {
  std::string name;
  std::string gpu = "H800";                 // key of hw/'s GPU catalogue
  int64_t nodes = 256;
  int64_t gpus_per_node = 8;
  double nvlink_bytes_per_s = 0;            // NVLink per GPU, both directions (H800: 400 GB/s); 0: the GPU's
                                            // (hw::nvlink_bytes_per_s, from the GPU catalogue)
  int64_t nics_per_node = 8;                // one NIC per GPU
  double nic_bytes_per_s = 50e9;            // 400 Gb/s InfiniBand NDR per NIC
  int64_t planes = 8;                       // multi-plane fat-tree: GPU i of every node on plane i
  int64_t switch_tiers = 2;
  double oversubscription = 1.0;            // >1: the upper tier has that much less capacity
  int64_t nvlink_latency_ns = 3330;         // ../shared/data/h800-published.json
  int64_t ib_latency_ns = 2800;             // same-leaf IB latency (cross-leaf: 3700 ns)
  int64_t ib_cross_leaf_latency_ns = 3700;
  int64_t nodes_per_leaf = 32;              // per plane: a 64-port leaf switch has 32 ports down, 32 up

  int64_t world_size() const { return nodes * gpus_per_node; }
};

}  // namespace tandem::ir
