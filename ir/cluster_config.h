// ClusterConfig: the machine a plan runs on, as hw/ reads it: GPU kind and count, the scale-up domain
// (GPUs behind one NVLink switch fabric, or fully meshed by point-to-point links), one NIC per GPU on a
// multi-plane rail-optimised fat-tree, latencies.
#pragma once
#include <cstdint>
#include <string>

namespace tandem::ir {

// How the GPUs of a scale-up domain are connected: every GPU's links into one switch fabric (NVSwitch,
// Huawei's UB switches), or a point-to-point link per pair (AMD Infinity Fabric, Ascend 910B HCCS).
enum class ScaleUpFabric : uint8_t { Switch, Mesh };

// Largest fully meshed domain: its pair links grow as the square of its size, and no product has more than 8.
inline constexpr int64_t kMaxMeshDomainGpus = 64;

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
  // Scale-up domain: the GPUs that reach each other over NVLink (Infinity Fabric, HCCS, UB) rather than the
  // NICs. 0: one node (an 8-GPU HGX board). GB200 NVL72: 72 (18 trays of 4), CloudMatrix384: 384 (48 nodes
  // of 8). A multiple of gpus_per_node that divides the GPU count.
  int64_t gpus_per_domain = 0;
  ScaleUpFabric scaleup_fabric = ScaleUpFabric::Switch;

  int64_t world_size() const { return nodes * gpus_per_node; }
  int64_t domain_size() const { return gpus_per_domain > 0 ? gpus_per_domain : gpus_per_node; }
};

}  // namespace tandem::ir
