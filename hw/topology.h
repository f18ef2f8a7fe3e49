// Topology of the cluster: scale-up domains of GPUs (an 8-GPU NVSwitch board, a 72-GPU NVL72 rack, a
// 384-NPU CloudMatrix, or 8 GPUs meshed by a link per pair), one NIC per GPU, a multi-plane rail-optimised
// fat-tree (GPU i of every domain on plane i mod planes) with one or two switch tiers. Links are one
// direction each; a path is a short list of link ids with its latency. Faults degrade or fail links.
// NOTE: a "node" of this class is a scale-up domain (ClusterConfig::domain_size()), not a server: routing
// only asks whether two GPUs share a scale-up fabric, and rails are numbered within it.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hw/gpu_catalogue.h"
#include "ir/cluster_config.h"

namespace tandem::hw {

enum class LinkKind : uint8_t { NvlinkOut, NvlinkIn, NicOut, NicIn, LeafUp, LeafDown };
inline constexpr int kLinkKinds = 6;
const char* to_string(LinkKind k);

// On a mesh domain the links of a pair carry the scale-up traffic: kind NvlinkOut, owned by the sender;
// the GPU's own NvlinkOut/NvlinkIn links (a switch port) are kept at capacity 0 there.
struct Link {
  LinkKind kind;
  int64_t owner;                  // GPU for NVLink/NIC links (the sender for a mesh pair link), plane * leaves + leaf for switch links
  double capacity_bytes_per_s;    // achievable, after efficiency and faults
};

// Up to 8 links: src -NVLink-> proxy -NIC-> leaf -> spine -> leaf -NIC-> arrival -NVLink-> dst.
struct Path {
  std::array<int32_t, 8> links{};
  int32_t count = 0;
  int64_t latency_ns = 0;
  std::span<const int32_t> view() const { return {links.data(), size_t(count)}; }
  void push(int32_t link) { links[size_t(count++)] = link; }
};

// Achievable fraction of nominal link bandwidth. Sources in topology.cpp.
struct NetworkParams {
  double nvlink_efficiency = 0.8;   // of nominal per direction (nominal both ways / 2)
  double ib_efficiency = 0.8;       // of the NIC line rate
};

// A degraded (0 < factor < 1) or failed (factor 0) link. NVLink and NIC faults name a GPU and apply
// to both directions; leaf faults name (plane, leaf) and apply to its up- and downlinks.
struct LinkFault {
  enum class Target : uint8_t { Nvlink, Nic, Leaf } target;
  int64_t gpu = 0;                  // Nvlink, Nic
  int64_t plane = 0, leaf = 0;      // Leaf
  double factor = 0.0;
};

// "nic:17=0.5", "nvlink:3=0.25", "leaf:2.0=0.5", "nic:17" (failed). Throws std::invalid_argument
// naming the spec, what was expected and what was found.
LinkFault parse_link_fault(const std::string& spec, bool failed);

class Topology {
 public:
  Topology(const ir::ClusterConfig& cluster, const GpuSpec& gpu, const NetworkParams& params = {},
           std::span<const LinkFault> faults = {});

  int64_t gpus() const { return gpus_; }
  bool mesh() const { return mesh_; }
  int64_t gpus_per_node() const { return per_node_; }
  int64_t nodes() const { return nodes_; }
  int64_t node_of(int64_t gpu) const { return gpu / per_node_; }
  int64_t local_of(int64_t gpu) const { return gpu % per_node_; }
  int64_t gpu_at(int64_t node, int64_t local) const { return node * per_node_ + local; }
  int64_t planes() const { return planes_; }
  int64_t leaves() const { return leaves_; }
  int64_t leaf_of(int64_t node) const { return two_tier_ ? node / nodes_per_leaf_ : 0; }
  bool has_faults() const { return has_faults_; }

  const std::vector<Link>& links() const { return links_; }
  int32_t nvlink_out(int64_t gpu) const { return int32_t(4 * gpu); }
  int32_t nvlink_in(int64_t gpu) const { return int32_t(4 * gpu + 1); }
  int32_t nic_out(int64_t gpu) const { return int32_t(4 * gpu + 2); }
  int32_t nic_in(int64_t gpu) const { return int32_t(4 * gpu + 3); }
  int32_t leaf_up(int64_t plane, int64_t leaf) const { return int32_t(4 * gpus_ + 2 * (plane * leaves_ + leaf)); }
  int32_t leaf_down(int64_t plane, int64_t leaf) const { return leaf_up(plane, leaf) + 1; }
  // Mesh domains: the link from src to dst (same domain, src != dst).
  int32_t pair_link(int64_t src, int64_t dst) const {
    const int64_t s = local_of(src), d = local_of(dst);
    return int32_t(pair_base_ + src * (per_node_ - 1) + (d < s ? d : d - 1));
  }
  // The GPU whose links a link belongs to (NVLink, NIC, mesh pair: its sender), -1 for switch links.
  int64_t gpu_of_link(int32_t link) const {
    if (link < 4 * gpus_) return link / 4;
    if (mesh_ && per_node_ > 1 && link >= pair_base_) return (link - pair_base_) / (per_node_ - 1);
    return -1;
  }
  // The leaf switch a switch link belongs to (its leaf_up or leaf_down, any plane), -1 for other links.
  int64_t leaf_of_link(int32_t link) const {
    if (link < 4 * gpus_ || link >= 4 * gpus_ + 2 * planes_ * leaves_) return -1;
    return ((link - 4 * gpus_) / 2) % leaves_;
  }

  // A rail is a local GPU index r: traffic leaves src_node by the NIC of its GPU r and arrives at the
  // NIC of dst_node's GPU r (plane r % planes). ib_rail returns `preferred` when both NICs (and the
  // leaf links, if used) work, else the first healthy rail. Throws std::runtime_error when none is.
  int64_t ib_rail(int64_t src_node, int64_t dst_node, int64_t preferred) const;
  int64_t plane_of_rail(int64_t rail) const { return rail % planes_; }
  // NVLink within a node (src != dst, same node): out of src's switch port and into dst's, or on a mesh
  // the pair's own link.
  Path nvlink_path(int64_t src, int64_t dst) const;
  // src to dst on another node over `rail`: NVLink to src's node GPU `rail` if that is not src, the
  // IB rail, NVLink from dst's node GPU `rail` to dst if that is not dst.
  Path rail_path(int64_t src, int64_t dst, int64_t rail) const;
  // Point-to-point route: NVLink inside a node; across nodes the rail of the sender's index
  // (the receiver-side NVLink hop is NCCL's PXN forwarding when indices differ).
  Path route(int64_t src, int64_t dst) const;

  int64_t nvlink_latency_ns() const { return nvlink_latency_ns_; }
  int64_t ib_latency_ns(int64_t src_node, int64_t dst_node) const {
    return leaf_of(src_node) == leaf_of(dst_node) ? ib_latency_ns_ : ib_cross_leaf_latency_ns_;
  }

 private:
  bool nic_ok(int64_t gpu) const;
  bool rail_ok(int64_t src_node, int64_t dst_node, int64_t rail) const;

  int64_t gpus_, per_node_, nodes_, planes_, leaves_, nodes_per_leaf_;
  bool two_tier_;
  bool mesh_;
  int64_t pair_base_ = 0;   // first mesh pair link
  bool has_faults_ = false;
  int64_t nvlink_latency_ns_, ib_latency_ns_, ib_cross_leaf_latency_ns_;
  std::vector<Link> links_;
};

}  // namespace tandem::hw
