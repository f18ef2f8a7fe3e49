// Links and routes of the scale-up domains and the multi-plane rail-optimised fat-tree (see topology.h).
// Link efficiencies: ../shared/data/h800-published.json "links": NVLink 400 GB/s nominal per GPU
// (200 GB/s each way) reaches about 160 GB/s one way (DeepSeek-V3 report 3.2.2) -> 0.8; an IB NIC of
// 50 GB/s reaches about 40 GB/s (ISCA'25 "Insights into DeepSeek-V3", 4.3) -> 0.8. Other scale-up
// fabrics (NVLink 5, Infinity Fabric, HCCS, UB) and NICs borrow these H800 efficiencies.
#include "hw/topology.h"

#include <charconv>
#include <stdexcept>

#include <fmt/core.h>

namespace tandem::hw {

const char* to_string(LinkKind k) {
  switch (k) {
    case LinkKind::NvlinkOut: return "nvlink_out";
    case LinkKind::NvlinkIn: return "nvlink_in";
    case LinkKind::NicOut: return "nic_out";
    case LinkKind::NicIn: return "nic_in";
    case LinkKind::LeafUp: return "leaf_up";
    case LinkKind::LeafDown: return "leaf_down";
  }
  return "?";
}

namespace {

[[noreturn]] void bad_fault(const std::string& spec, const std::string& expected, const std::string& found) {
  throw std::invalid_argument("link fault '" + spec + "': expected " + expected + ", found " + found);
}

int64_t parse_int(const std::string& spec, std::string_view text, const char* what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0)
    bad_fault(spec, fmt::format("a non-negative integer {}", what), fmt::format("'{}'", text));
  return v;
}

}  // namespace

LinkFault parse_link_fault(const std::string& spec, bool failed) {
  const std::string kinds = "nic:GPU, nvlink:GPU or leaf:PLANE.LEAF";
  const size_t colon = spec.find(':');
  if (colon == std::string::npos) bad_fault(spec, kinds, "no ':'");
  const std::string kind = spec.substr(0, colon);
  std::string rest = spec.substr(colon + 1);
  LinkFault f;
  f.factor = 0.0;
  const size_t eq = rest.find('=');
  if (failed) {
    if (eq != std::string::npos) bad_fault(spec, "no '=FACTOR' for a failed link", fmt::format("'{}'", rest.substr(eq)));
  } else {
    if (eq == std::string::npos) bad_fault(spec, fmt::format("{} followed by =FACTOR", kinds), "no '='");
    const std::string num = rest.substr(eq + 1);
    size_t used = 0;
    double v = -1;
    try {
      v = std::stod(num, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != num.size() || num.empty() || !(v > 0.0 && v <= 1.0))
      bad_fault(spec, "a factor in (0, 1] (use --fail-link for 0)", fmt::format("'{}'", num));
    f.factor = v;
    rest = rest.substr(0, eq);
  }
  if (kind == "nic" || kind == "nvlink") {
    f.target = kind == "nic" ? LinkFault::Target::Nic : LinkFault::Target::Nvlink;
    f.gpu = parse_int(spec, rest, "GPU index");
  } else if (kind == "leaf") {
    f.target = LinkFault::Target::Leaf;
    const size_t dot = rest.find('.');
    if (dot == std::string::npos) bad_fault(spec, "leaf:PLANE.LEAF", fmt::format("'{}'", rest));
    f.plane = parse_int(spec, std::string_view(rest).substr(0, dot), "plane");
    f.leaf = parse_int(spec, std::string_view(rest).substr(dot + 1), "leaf");
  } else {
    bad_fault(spec, kinds, fmt::format("'{}'", kind));
  }
  return f;
}

Topology::Topology(const ir::ClusterConfig& c, const GpuSpec& gpu, const NetworkParams& params,
                   std::span<const LinkFault> faults)
    : gpus_(c.world_size()),
      per_node_(c.domain_size()),
      nodes_(c.domain_size() > 0 ? c.world_size() / c.domain_size() : 0),
      planes_(c.planes),
      leaves_(1),
      nodes_per_leaf_(c.domain_size() > 0 ? c.nodes_per_leaf * c.gpus_per_node / c.domain_size() : 0),
      two_tier_(c.switch_tiers == 2),
      mesh_(c.scaleup_fabric == ir::ScaleUpFabric::Mesh),
      nvlink_latency_ns_(c.nvlink_latency_ns),
      ib_latency_ns_(c.ib_latency_ns),
      ib_cross_leaf_latency_ns_(c.ib_cross_leaf_latency_ns) {
  auto bad = [&](const std::string& what) { throw std::invalid_argument("cluster '" + c.name + "': " + what); };
  if (c.nodes <= 0 || c.gpus_per_node <= 0) bad("nodes and gpus_per_node must be positive");
  if (c.nics_per_node != c.gpus_per_node)
    bad("the topology model has one NIC per GPU: nics_per_node " + std::to_string(c.nics_per_node) +
        " != gpus_per_node " + std::to_string(c.gpus_per_node));
  if (c.planes <= 0 || c.gpus_per_node % c.planes != 0)
    bad("planes must divide gpus_per_node, found planes " + std::to_string(c.planes));
  if (c.switch_tiers != 1 && c.switch_tiers != 2)
    bad("switch_tiers must be 1 or 2, found " + std::to_string(c.switch_tiers));
  if (c.oversubscription < 1.0) bad("oversubscription must be >= 1");
  // The scenario reader refuses these with the JSON path (ir/scenario.cpp, check_scaleup_domain).
  if (per_node_ % c.gpus_per_node != 0 || gpus_ % per_node_ != 0)
    bad("gpus_per_domain " + std::to_string(per_node_) + " must be a multiple of gpus_per_node dividing the GPU count " +
        std::to_string(gpus_));
  if (mesh_ && per_node_ > ir::kMaxMeshDomainGpus)
    bad("a mesh domain of " + std::to_string(per_node_) + " GPUs: at most " + std::to_string(ir::kMaxMeshDomainGpus));
  if (two_tier_) {
    if (c.nodes_per_leaf <= 0) bad("nodes_per_leaf must be positive");
    if (nodes_per_leaf_ <= 0 || (c.nodes_per_leaf * c.gpus_per_node) % per_node_ != 0)
      bad("nodes_per_leaf " + std::to_string(c.nodes_per_leaf) + " does not hold whole scale-up domains of " +
          std::to_string(per_node_) + " GPUs");
    leaves_ = (nodes_ + nodes_per_leaf_ - 1) / nodes_per_leaf_;
  }
  const double nvlink = c.nvlink_bytes_per_s > 0 ? c.nvlink_bytes_per_s : gpu.nvlink_bytes_per_s;   // hw::nvlink_bytes_per_s
  const double nvlink_dir = nvlink / 2.0 * params.nvlink_efficiency;
  const double nic = c.nic_bytes_per_s * params.ib_efficiency;
  // A leaf of one plane serves nodes_per_leaf_ domains x (GPUs per domain on this plane) NICs (with 8-GPU
  // domains: nodes_per_leaf servers x one NIC); its links to the spine carry that much divided by the
  // oversubscription. A domain larger than one leaf's ports (a CloudMatrix384) is taken as leaf switches
  // that act as one.
  const double leaf = double(nodes_per_leaf_) * double(per_node_ / planes_) * nic / c.oversubscription;
  // A mesh splits a GPU's scale-up bandwidth evenly over its links to the other GPUs of the domain (AMD
  // MI300X: 7 links of 128 GB/s both ways = 896 GB/s); the switch port links carry nothing there.
  const int64_t peers = per_node_ - 1;
  const double pair_dir = mesh_ && peers > 0 ? nvlink_dir / double(peers) : 0.0;
  const double port_dir = mesh_ ? 0.0 : nvlink_dir;
  links_.reserve(size_t(4 * gpus_ + 2 * planes_ * leaves_ + (mesh_ ? gpus_ * peers : 0)));
  for (int64_t g = 0; g < gpus_; ++g) {
    links_.push_back({LinkKind::NvlinkOut, g, port_dir});
    links_.push_back({LinkKind::NvlinkIn, g, port_dir});
    links_.push_back({LinkKind::NicOut, g, nic});
    links_.push_back({LinkKind::NicIn, g, nic});
  }
  for (int64_t p = 0; p < planes_; ++p)
    for (int64_t l = 0; l < leaves_; ++l) {
      links_.push_back({LinkKind::LeafUp, p * leaves_ + l, two_tier_ ? leaf : 0.0});
      links_.push_back({LinkKind::LeafDown, p * leaves_ + l, two_tier_ ? leaf : 0.0});
    }
  pair_base_ = int64_t(links_.size());
  if (mesh_)
    for (int64_t g = 0; g < gpus_; ++g)
      for (int64_t k = 0; k < peers; ++k) links_.push_back({LinkKind::NvlinkOut, g, pair_dir});
  for (const LinkFault& f : faults) {
    has_faults_ = true;
    switch (f.target) {
      case LinkFault::Target::Nvlink:
        if (f.gpu >= gpus_) bad("NVLink fault names GPU " + std::to_string(f.gpu) + " of " + std::to_string(gpus_));
        if (f.factor <= 0.0)
          bad("a failed NVLink leaves GPU " + std::to_string(f.gpu) + " cut off from its node: degrade it instead");
        links_[size_t(nvlink_out(f.gpu))].capacity_bytes_per_s *= f.factor;
        links_[size_t(nvlink_in(f.gpu))].capacity_bytes_per_s *= f.factor;
        if (mesh_)
          for (int64_t k = 0; k < per_node_; ++k) {
            const int64_t peer = gpu_at(node_of(f.gpu), k);
            if (peer == f.gpu) continue;
            links_[size_t(pair_link(f.gpu, peer))].capacity_bytes_per_s *= f.factor;
            links_[size_t(pair_link(peer, f.gpu))].capacity_bytes_per_s *= f.factor;
          }
        break;
      case LinkFault::Target::Nic:
        if (f.gpu >= gpus_) bad("NIC fault names GPU " + std::to_string(f.gpu) + " of " + std::to_string(gpus_));
        links_[size_t(nic_out(f.gpu))].capacity_bytes_per_s *= f.factor;
        links_[size_t(nic_in(f.gpu))].capacity_bytes_per_s *= f.factor;
        break;
      case LinkFault::Target::Leaf:
        if (!two_tier_) bad("leaf link faults need switch_tiers 2");
        if (f.plane >= planes_ || f.leaf >= leaves_)
          bad("leaf fault names plane " + std::to_string(f.plane) + " leaf " + std::to_string(f.leaf) + " of " +
              std::to_string(planes_) + " planes x " + std::to_string(leaves_) + " leaves");
        links_[size_t(leaf_up(f.plane, f.leaf))].capacity_bytes_per_s *= f.factor;
        links_[size_t(leaf_down(f.plane, f.leaf))].capacity_bytes_per_s *= f.factor;
        break;
    }
  }
}

bool Topology::nic_ok(int64_t gpu) const {
  return links_[size_t(nic_out(gpu))].capacity_bytes_per_s > 0 && links_[size_t(nic_in(gpu))].capacity_bytes_per_s > 0;
}

bool Topology::rail_ok(int64_t src_node, int64_t dst_node, int64_t rail) const {
  if (!nic_ok(gpu_at(src_node, rail)) || !nic_ok(gpu_at(dst_node, rail))) return false;
  const int64_t ls = leaf_of(src_node), ld = leaf_of(dst_node);
  if (ls == ld) return true;
  const int64_t p = plane_of_rail(rail);
  return links_[size_t(leaf_up(p, ls))].capacity_bytes_per_s > 0 && links_[size_t(leaf_down(p, ld))].capacity_bytes_per_s > 0;
}

int64_t Topology::ib_rail(int64_t src_node, int64_t dst_node, int64_t preferred) const {
  if (!has_faults_ || rail_ok(src_node, dst_node, preferred)) return preferred;
  for (int64_t r = 0; r < per_node_; ++r)
    if (rail_ok(src_node, dst_node, r)) return r;
  // The failed links asked for cut the two nodes apart: a what-if that cannot run (bad input).
  throw std::invalid_argument("no working IB rail between node " + std::to_string(src_node) + " and node " +
                           std::to_string(dst_node) + " (all NICs or leaf links on the way failed)");
}

Path Topology::nvlink_path(int64_t src, int64_t dst) const {
  Path p;
  if (mesh_) {
    p.push(pair_link(src, dst));
  } else {
    p.push(nvlink_out(src));
    p.push(nvlink_in(dst));
  }
  p.latency_ns = nvlink_latency_ns_;
  return p;
}

Path Topology::rail_path(int64_t src, int64_t dst, int64_t rail) const {
  Path p;
  const int64_t sn = node_of(src), dn = node_of(dst);
  const int64_t out = gpu_at(sn, rail), in = gpu_at(dn, rail);
  auto scale_up = [&](int64_t from, int64_t to) {
    if (mesh_) {
      p.push(pair_link(from, to));
    } else {
      p.push(nvlink_out(from));
      p.push(nvlink_in(to));
    }
    p.latency_ns += nvlink_latency_ns_;
  };
  if (out != src) scale_up(src, out);
  p.push(nic_out(out));
  const int64_t ls = leaf_of(sn), ld = leaf_of(dn);
  if (ls != ld) {
    p.push(leaf_up(plane_of_rail(rail), ls));
    p.push(leaf_down(plane_of_rail(rail), ld));
  }
  p.push(nic_in(in));
  p.latency_ns += ib_latency_ns(sn, dn);
  if (in != dst) scale_up(in, dst);
  return p;
}

Path Topology::route(int64_t src, int64_t dst) const {
  const int64_t sn = node_of(src), dn = node_of(dst);
  if (sn == dn) return nvlink_path(src, dst);
  return rail_path(src, dst, ib_rail(sn, dn, local_of(src)));
}

}  // namespace tandem::hw
