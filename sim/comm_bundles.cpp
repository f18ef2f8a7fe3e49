// Link loads of communication (see comm_bundles.h).
#include "sim/comm_bundles.h"

#include <algorithm>
#include <cmath>

namespace tandem::sim {

namespace {
// log C(n, k) for real k (hypergeometric draws of a fractional expected count).
double log_choose(double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); }
}  // namespace

A2aDedup expert_dedup(const ExpertRouting& r, int64_t group_nodes, int64_t gpn) {
  A2aDedup d;
  if (r.top_k <= 0) return d;
  const double k = double(r.top_k);
  const double nodes = double(std::max<int64_t>(1, group_nodes));
  // Nodes a token visits: k experts spread uniformly over the group's nodes, capped by the
  // node limit of the routing (DeepSeek-V3: at most 4 nodes per token).
  double visited = nodes > 1 ? nodes * (1.0 - std::pow(1.0 - 1.0 / nodes, k)) : 1.0;
  if (r.max_nodes_per_token > 0) visited = std::min(visited, double(r.max_nodes_per_token));
  visited = std::max(1.0, std::min(visited, k));
  const double per_node = k / visited;   // experts a token selects on a node it visits
  // Distinct GPUs among `per_node` experts drawn from the node's g * E experts (E per GPU).
  const double E = double(std::max<int64_t>(1, r.experts_per_rank));
  const double X = double(std::max<int64_t>(1, gpn)) * E;
  double distinct = per_node;
  if (per_node <= X - E && E > 1)
    distinct = double(gpn) * (1.0 - std::exp(log_choose(X - E, per_node) - log_choose(X, per_node)));
  d.ib = 1.0 / per_node;
  d.nvlink = std::min(1.0, distinct / per_node);
  return d;
}

BundleBuilder::BundleBuilder(const hw::Topology& topology, const hw::CostModel& cost, ExpertRouting routing)
    : topology_(topology), cost_(cost), routing_(routing), kernel_base_(int64_t(topology.links().size())) {
  acc_.assign(total_links(), 0.0);
}

std::vector<double> BundleBuilder::capacities() const {
  std::vector<double> caps(total_links(), 0.0);
  for (size_t i = 0; i < topology_.links().size(); ++i) caps[i] = topology_.links()[i].capacity_bytes_per_s;
  return caps;
}

std::vector<char> BundleBuilder::kept_links(std::span<const int64_t> gpus) const {
  std::vector<char> simulated_gpu(size_t(topology_.gpus()), 0), simulated_leaf(size_t(topology_.leaves()), 0);
  for (int64_t g : gpus) {
    simulated_gpu[size_t(g)] = 1;
    simulated_leaf[size_t(topology_.leaf_of(topology_.node_of(g)))] = 1;
  }
  std::vector<char> kept(total_links(), 1);
  for (size_t l = 0; l < kept.size(); ++l) {
    const int32_t link = int32_t(l);
    const int64_t gpu = link >= kernel_base_ ? link - kernel_base_ : topology_.gpu_of_link(link);
    const int64_t leaf = gpu < 0 ? topology_.leaf_of_link(link) : -1;
    if (gpu >= 0) kept[l] = simulated_gpu[size_t(gpu)];
    else if (leaf >= 0) kept[l] = simulated_leaf[size_t(leaf)];
  }
  return kept;
}

void BundleBuilder::clear() {
  for (int32_t l : touched_) acc_[size_t(l)] = 0.0;
  touched_.clear();
  by_kind_ = {};
  bytes_ = flows_ = kernel_cap_ = 0;
  latency_ = 0;
}

void BundleBuilder::add(int32_t link, double bytes) {
  if (bytes <= 0) return;
  if (acc_[size_t(link)] == 0.0) touched_.push_back(link);
  acc_[size_t(link)] += bytes;
  if (link < kernel_base_) by_kind_[size_t(topology_.links()[size_t(link)].kind)].add(bytes);
}

void BundleBuilder::add_path(const hw::Path& p, double bytes) {
  for (int32_t l : p.view()) add(l, bytes);
}

void BundleBuilder::kernel(int64_t gpu, double bytes, int64_t sms) {
  kernel_at(gpu, bytes, cost_.comm_kernel_bytes_per_s(sms));
}

void BundleBuilder::kernel_at(int64_t gpu, double bytes, double cap) {
  if (cap <= 0 || bytes <= 0) return;
  add(kernel_link(gpu), bytes);
  kernel_cap_ = cap;
}

void BundleBuilder::p2p(int64_t src, int64_t dst, double bytes, int64_t sms) {
  if (src == dst || bytes <= 0) return;
  const hw::Path p = topology_.route(src, dst);
  add_path(p, bytes);
  kernel(src, bytes, sms);
  bytes_ += bytes;
  flows_ += 1;
  latency_ = std::max(latency_, p.latency_ns);
}

void BundleBuilder::all_to_all(int64_t src, std::span<const int64_t> group, std::span<const double> bytes_to,
                               ir::CommPurpose purpose, int64_t sms) {
  const bool expert = routing_.top_k > 0 &&
                      (purpose == ir::CommPurpose::Dispatch || purpose == ir::CommPurpose::Combine ||
                       purpose == ir::CommPurpose::DispatchGrad || purpose == ir::CommPurpose::CombineGrad);
  double sent = 0;
  for (size_t i = 0; i < group.size(); ++i)
    if (group[i] != src) sent += bytes_to[i];
  if (sent <= 0) return;
  bytes_ += sent;
  flows_ += 1;
  if (!expert) {
    for (size_t i = 0; i < group.size(); ++i) {
      if (group[i] == src || bytes_to[i] <= 0) continue;
      const hw::Path p = topology_.route(src, group[i]);
      add_path(p, bytes_to[i]);
      latency_ = std::max(latency_, p.latency_ns);
    }
    kernel(src, sent, sms);
    return;
  }
  // Nodes of the group, in order, with the bytes this member sends to each.
  node_ids_.clear();
  for (int64_t g : group) {
    const int64_t n = topology_.node_of(g);
    if (std::find(node_ids_.begin(), node_ids_.end(), n) == node_ids_.end()) node_ids_.push_back(n);
  }
  const int64_t gpn = int64_t(group.size()) / int64_t(std::max<size_t>(1, node_ids_.size()));
  const A2aDedup d = expert_dedup(routing_, int64_t(node_ids_.size()), std::max<int64_t>(1, gpn));
  const int64_t src_node = topology_.node_of(src);
  // Towards the experts (dispatch, and the backward of combine): IB from the sender to its rail's GPU
  // on each target node, then NVLink to the target GPUs. Back from the experts (combine, backward of
  // dispatch): NVLink to the GPU on the sender's node with the target's index, then IB to the target.
  const bool towards = purpose == ir::CommPurpose::Dispatch || purpose == ir::CommPurpose::CombineGrad;
  // NOTE: across nodes DeepEP's internode kernels run: their SMs' limit is on the rows per token and node
  // visited, own node included (CostParams::deepep_*_bytes_per_s_per_sm, DeepEP's benchmark's count),
  // which covers the NVLink forwarding those SMs do too. Inside one node the SMs push the NVLink copies.
  // Towards the experts the sender's SMs issue every RDMA write; back from them the rows for another
  // node are written by the relay (the GPU of the target's index on the sender's node), so its SMs carry
  // them: under balanced routing every GPU carries the same bytes either way, but a hot expert's combine
  // is spread over its node's relays as DeepEP spreads it, not held to one GPU's rate.
  const bool internode = node_ids_.size() > 1;
  const double internode_cap = internode ? cost_.deepep_internode_bytes_per_s(sms, towards) : 0.0;
  if (internode) {
    double logical = 0;
    for (size_t i = 0; i < group.size(); ++i)
      if (towards || topology_.node_of(group[i]) == topology_.node_of(src)) logical += bytes_to[i] * d.ib;
    kernel_at(src, logical, internode_cap);
    sms = 0;   // no per-link SM limit below
  }
  node_bytes_.assign(node_ids_.size(), 0.0);
  double own_kernel = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    const int64_t dst = group[i];
    const double b = bytes_to[i];
    if (dst == src || b <= 0) continue;
    const int64_t dst_node = topology_.node_of(dst);
    if (dst_node == src_node) {
      const hw::Path p = topology_.nvlink_path(src, dst);
      add_path(p, b * d.nvlink);
      own_kernel += b * d.nvlink;
      latency_ = std::max(latency_, p.latency_ns);
      continue;
    }
    if (towards) {
      node_bytes_[size_t(std::find(node_ids_.begin(), node_ids_.end(), dst_node) - node_ids_.begin())] += b;
      const int64_t rail = topology_.ib_rail(src_node, dst_node, topology_.local_of(src));
      const int64_t arrival = topology_.gpu_at(dst_node, rail);
      if (arrival != dst) {
        const hw::Path fwd = topology_.nvlink_path(arrival, dst);
        add_path(fwd, b * d.nvlink);
        kernel(arrival, b * d.nvlink, sms);
      }
    } else {
      const int64_t rail = topology_.ib_rail(src_node, dst_node, topology_.local_of(dst));
      const int64_t relay = topology_.gpu_at(src_node, rail);
      if (relay != src) {
        add_path(topology_.nvlink_path(src, relay), b * d.nvlink);
        own_kernel += b * d.nvlink;
      }
      const hw::Path ib = topology_.rail_path(relay, dst, rail);
      add_path(ib, b * d.ib);
      kernel_at(relay, b * d.ib, internode_cap);   // another node: internode kernels run
      latency_ = std::max(latency_, ib.latency_ns + (relay != src ? topology_.nvlink_latency_ns() : 0));
    }
  }
  if (towards)
    for (size_t n = 0; n < node_ids_.size(); ++n) {
      if (node_bytes_[n] <= 0) continue;
      const int64_t rail = topology_.ib_rail(src_node, node_ids_[n], topology_.local_of(src));
      const hw::Path ib = topology_.rail_path(src, topology_.gpu_at(node_ids_[n], rail), rail);
      add_path(ib, node_bytes_[n] * d.ib);
      own_kernel += node_bytes_[n] * d.ib;
      latency_ = std::max(latency_, ib.latency_ns + topology_.nvlink_latency_ns());
    }
  kernel(src, own_kernel, sms);
}

// NOTE: DeepEP's internode notify_dispatch (and cached_notify) run a barrier among the GPUs of one
// index across the group's nodes and one over NVLink inside each node, the counts exchange (one IB
// hop, then NVLink), and the same barriers again. A barrier over N nodes is a dissemination barrier:
// ceil(log2 N) one-way IB latencies. The latencies are the topology's (../shared/data/h800-published.json).
void BundleBuilder::handshake(int64_t member, std::span<const int64_t> group, double bytes_per_peer) {
  const int64_t node = topology_.node_of(member);
  int64_t ib = 0, nodes = 0, on_node = 0;
  node_ids_.clear();
  for (int64_t g : group) {
    const int64_t n = topology_.node_of(g);
    if (n == node) ++on_node;
    if (std::find(node_ids_.begin(), node_ids_.end(), n) != node_ids_.end()) continue;
    node_ids_.push_back(n);
    ++nodes;
    if (n != node) ib = std::max(ib, topology_.ib_latency_ns(node, n));
  }
  int64_t rounds = 0;
  while ((int64_t(1) << rounds) < nodes) ++rounds;
  const int64_t nvlink = on_node > 1 ? topology_.nvlink_latency_ns() : 0;
  const int64_t barrier = rounds * ib + nvlink;
  const int64_t exchange = bytes_per_peer > 0 ? ib + nvlink : 0;
  const double peers = double(std::max<size_t>(group.size(), 1) - 1);
  bytes_ += bytes_per_peer * peers;
  flows_ += 1;
  latency_ = std::max(latency_, cost_.params().kernel_launch_ns + 2 * barrier + exchange);
}

void BundleBuilder::ring(int64_t member, std::span<const int64_t> group, double sent, int64_t steps, int64_t sms) {
  if (group.size() < 2 || sent <= 0) return;
  const int64_t node = topology_.node_of(member);
  // Members on this node (in group order) and the next node of the ring.
  int64_t on_node = 0, next_local = -1, first_local = -1;
  bool seen_self = false, multi_node = false;
  int64_t next_node = -1;
  size_t self = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    const int64_t g = group[i];
    if (topology_.node_of(g) != node) {
      multi_node = true;
      continue;
    }
    ++on_node;
    if (first_local < 0) first_local = g;
    if (g == member) {
      seen_self = true;
      self = i;
    } else if (seen_self && next_local < 0) {
      next_local = g;
    }
  }
  if (next_local < 0) next_local = first_local;   // wrap around within the node
  bytes_ += sent;
  flows_ += 1;
  kernel(member, sent, sms);
  if (!multi_node) {
    if (topology_.mesh() && on_node > 2) {
      // RCCL on a mesh: all-pairs over the links of the pair, each carrying 1/(n-1) of what the member
      // sends, in one exchange per reduce-scatter or all-gather instead of n-1 ring steps.
      all_pairs_on_node(member, group, sent);
      latency_ = std::max(latency_, topology_.nvlink_latency_ns() * (steps / std::max<int64_t>(1, on_node - 1)));
      return;
    }
    const hw::Path p = topology_.nvlink_path(member, next_local);
    add_path(p, sent);
    latency_ = std::max(latency_, p.latency_ns * steps);
    return;
  }
  // The ring leaves each node once per channel; with one channel per GPU of the node each member
  // carries 1/on_node of the traffic over its rail and the rest over NVLink inside the node.
  for (size_t k = 1; k <= group.size(); ++k) {
    const int64_t g = group[(self + k) % group.size()];
    if (topology_.node_of(g) != node) {
      next_node = topology_.node_of(g);
      break;
    }
  }
  int64_t target = -1;
  for (int64_t g : group)
    if (topology_.node_of(g) == next_node) {
      if (target < 0) target = g;
      if (topology_.local_of(g) == topology_.local_of(member)) {
        target = g;
        break;
      }
    }
  const hw::Path ib = topology_.route(member, target);
  add_path(ib, sent / double(on_node));
  const double inside = sent * double(on_node - 1) / double(on_node);
  if (on_node > 2 && topology_.mesh())
    all_pairs_on_node(member, group, inside);
  else if (on_node > 1)
    add_path(topology_.nvlink_path(member, next_local), inside);
  latency_ = std::max(latency_, ib.latency_ns * steps);
}

void BundleBuilder::all_pairs_on_node(int64_t member, std::span<const int64_t> group, double bytes) {
  const int64_t node = topology_.node_of(member);
  int64_t peers = 0;
  for (int64_t g : group) peers += g != member && topology_.node_of(g) == node;
  for (int64_t g : group)
    if (g != member && topology_.node_of(g) == node) add_path(topology_.nvlink_path(member, g), bytes / double(peers));
}

Bundle BundleBuilder::finish(const std::vector<char>* keep_link) const {
  Bundle b;
  b.bytes = bytes_;
  b.flows = flows_;
  b.latency_ns = latency_;
  b.kernel_cap_bytes_per_s = kernel_cap_;
  b.exact_by_kind = by_kind_;
  for (size_t k = 0; k < by_kind_.size(); ++k) b.bytes_by_kind[k] = by_kind_[k].value();
  for (int32_t l : touched_) {
    const double v = acc_[size_t(l)];
    if (v <= 0 || (keep_link && !(*keep_link)[size_t(l)])) continue;
    b.loads.push_back(LinkLoad{l, v});
  }
  std::sort(b.loads.begin(), b.loads.end(), [](const LinkLoad& x, const LinkLoad& y) { return x.link < y.link; });
  return b;
}

}  // namespace tandem::sim
