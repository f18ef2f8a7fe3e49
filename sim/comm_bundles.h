// Communication as link loads: each collective, all-to-all or send becomes a Bundle — the bytes it
// puts on every link (topology links plus one SM-limit link per GPU), the flows it stands for and
// its latency. Expert all-to-all follows DeepEP's normal kernels (IB to the same-index GPU of each
// target node, deduplicated per node, then NVLink); collectives are rail-aligned rings with the
// nccl-tests bus factors (all-pairs inside a mesh domain, as RCCL runs on Infinity Fabric); sends take
// the NCCL route.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "hw/cost_model.h"
#include "hw/topology.h"
#include "sim/exact_sum.h"
#include "sim/flow_network.h"
#include "sim/program_view.h"

namespace tandem::sim {

struct Bundle {
  std::vector<LinkLoad> loads;                        // sorted by link
  double bytes = 0;                                   // bytes sent in total (progress unit)
  double flows = 0;                                   // point-to-point flows it stands for
  int64_t latency_ns = 0;                             // added once, after the last byte
  // All the traffic it stands for, per link kind: every part's bytes summed exactly (sim/exact_sum.h), so
  // that a bundle of several copies totals what the copies' own bundles do.
  std::array<ExactSum, hw::kLinkKinds> exact_by_kind{};
  std::array<double, hw::kLinkKinds> bytes_by_kind{}; // the same, rounded
  double kernel_cap_bytes_per_s = 0;                  // capacity of its SM-limit links (0: none)
};

// Multipliers of expert-level bytes (one row per token and selected expert, as the IR counts them)
// for DeepEP: IB carries one copy per token and target node, NVLink one per token and target GPU.
struct A2aDedup {
  double ib = 1.0;
  double nvlink = 1.0;
};
A2aDedup expert_dedup(const ExpertRouting& routing, int64_t group_nodes, int64_t gpus_per_node_in_group);

class BundleBuilder {
 public:
  BundleBuilder(const hw::Topology& topology, const hw::CostModel& cost, ExpertRouting routing);

  size_t total_links() const { return size_t(kernel_base_ + topology_.gpus()); }
  int32_t kernel_link(int64_t gpu) const { return int32_t(kernel_base_ + gpu); }
  // Capacities of every link, SM-limit links at 0 until a bundle sets them.
  std::vector<double> capacities() const;
  // The links the symmetric and class paths keep (finish's keep_link) when `gpus` are simulated: theirs
  // (SM-limit links included) and the switch links of leaves holding one; other links of no GPU, kept.
  std::vector<char> kept_links(std::span<const int64_t> gpus) const;

  void clear();
  // One member's part of a transfer:
  void p2p(int64_t src, int64_t dst, double bytes, int64_t sms);
  void all_to_all(int64_t src, std::span<const int64_t> group, std::span<const double> bytes_to,
                  ir::CommPurpose purpose, int64_t sms);
  // DeepEP's notify kernels (CommKind::Notify): two barriers across the group and, when the member
  // sends counts (bytes_per_peer > 0), one exchange between them. Latency-bound: no link load.
  void handshake(int64_t member, std::span<const int64_t> group, double bytes_per_peer);
  // A ring collective: `sent` bytes leave each member (bus factor x buffer), `steps` ring steps.
  void ring(int64_t member, std::span<const int64_t> group, double sent, int64_t steps, int64_t sms);
  // The accumulated bundle. keep_link (indexed by link, SM-limit links included; may be null): keep
  // only the loads of links marked there; bytes_by_kind, bytes and flows always count everything.
  Bundle finish(const std::vector<char>* keep_link) const;
  // What has been accumulated since clear(), for builders that replicate it (sim/copy_bundle.h): the
  // links touched in order of first touch, a link's bytes, the totals.
  std::span<const int32_t> touched() const { return touched_; }
  double load(int32_t link) const { return acc_[size_t(link)]; }
  double bytes() const { return bytes_; }
  double flows() const { return flows_; }
  int64_t latency_ns() const { return latency_; }
  double kernel_cap_bytes_per_s() const { return kernel_cap_; }
  const std::array<ExactSum, hw::kLinkKinds>& bytes_by_kind() const { return by_kind_; }

 private:
  void add(int32_t link, double bytes);
  void add_path(const hw::Path& p, double bytes);
  void kernel(int64_t gpu, double bytes, int64_t sms);
  // `bytes` on the SM-limit link of `gpu`, whose capacity is `cap` (nothing when cap is 0).
  void kernel_at(int64_t gpu, double bytes, double cap);
  // `bytes` from member spread evenly over its mesh links to the group's other members on its domain.
  void all_pairs_on_node(int64_t member, std::span<const int64_t> group, double bytes);

  const hw::Topology& topology_;
  const hw::CostModel& cost_;
  ExpertRouting routing_;
  int64_t kernel_base_;
  std::vector<double> acc_;
  std::vector<int32_t> touched_;
  double bytes_ = 0, flows_ = 0, kernel_cap_ = 0;
  std::array<ExactSum, hw::kLinkKinds> by_kind_{};   // every add() of a topology link, per kind
  int64_t latency_ = 0;
  std::vector<double> node_bytes_;     // scratch: per node of the group
  std::vector<int64_t> node_ids_;
};

}  // namespace tandem::sim
