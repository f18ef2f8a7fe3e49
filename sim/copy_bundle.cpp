// Link loads of a collective standing for its copies (see copy_bundle.h). The parts are BundleBuilder's,
// added in the caller's order; only the inputs each part reads are narrowed: a ring member's part reads
// its node's members and the next node's, so it is given those instead of the whole group.
#include "sim/copy_bundle.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace tandem::sim {

CopyBundleBuilder::CopyBundleBuilder(const ProgramView& program, const hw::Topology& topology, BundleBuilder& builder)
    : program_(program),
      topology_(topology),
      builder_(builder) {}

CopyBundleBuilder::Group& CopyBundleBuilder::group_of(int64_t rank, const ir::OpInstance& op) {
  if (auto it = place_.find(rank); it != place_.end()) return groups_[size_t(it->second.group)];
  Group& g = groups_.emplace_back();
  program_.group_ranks(rank, op, g.ranks);
  // Every member of a collective names the same group (ProgramView::group_ranks), so the others'
  // lookups are answered from it.
  for (size_t i = 0; i < g.ranks.size(); ++i) place_[g.ranks[i]] = Place{int32_t(groups_.size() - 1), int32_t(i)};
  if (!place_.count(rank)) throw std::logic_error("a rank's communication group does not hold the rank itself");
  return g;
}

void CopyBundleBuilder::prepare_ring(Group& g) {
  g.ring_ready = true;
  const size_t n = g.ranks.size();
  std::vector<int64_t> node(n);
  for (size_t i = 0; i < n; ++i) {
    node[i] = topology_.node_of(g.ranks[i]);
    g.on_node[node[i]].push_back(g.ranks[i]);
  }
  g.next_node.assign(n, -1);
  // The node of the first member after i (cyclically) on another node: from a place where the node
  // changes, backwards around the ring.
  size_t change = n;
  for (size_t i = 0; i < n; ++i)
    if (node[(i + 1) % n] != node[i]) {
      change = i;
      break;
    }
  if (change == n) return;   // one node
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (change + n - k) % n, next = (i + 1) % n;
    g.next_node[i] = node[next] != node[i] ? node[next] : g.next_node[next];
  }
}

std::span<const int64_t> CopyBundleBuilder::ring_neighbourhood(Group& g, int64_t rank) {
  if (!g.ring_ready) prepare_ring(g);
  const size_t i = size_t(place_.at(rank).index);
  neighbourhood_ = g.on_node.at(topology_.node_of(rank));
  if (g.next_node[i] >= 0) {
    const auto& next = g.on_node.at(g.next_node[i]);
    neighbourhood_.insert(neighbourhood_.end(), next.begin(), next.end());
  }
  return neighbourhood_;
}

void CopyBundleBuilder::add_group_part(const CopyMember& cm, int64_t m) {
  const Group& g = group_of(m, *cm.op);
  if (cm.comm->kind == ir::CommKind::Notify) {
    builder_.handshake(m, g.ranks, double(cm.comm->bytes));
    return;
  }
  program_.a2a_send_bytes(m, *cm.op, scratch_bytes_);
  builder_.all_to_all(m, g.ranks, scratch_bytes_, cm.comm->purpose, cm.sms);
}

std::optional<Bundle> CopyBundleBuilder::build_by_translation(std::span<const CopyMember> members,
                                                              const std::vector<char>& keep_link) {
  const int64_t per_node = topology_.gpus_per_node();
  const int64_t gpu_links = 4 * topology_.gpus();
  const int32_t kernel_base = builder_.kernel_link(0);
  // Every rank in order, with its member (segment), its group and its index among the group's ranks
  // in that order.
  struct Entry {
    uint32_t seg;
    int64_t rank;
    int32_t group, index;
  };
  std::vector<Entry> order;
  std::vector<std::vector<uint32_t>> in_group;   // per group: its entries, in order
  for (uint32_t s = 0; s < members.size(); ++s)
    for (int64_t m : members[s].ranks) {
      group_of(m, *members[s].op);
      const int32_t g = place_.at(m).group;
      if (size_t(g) >= in_group.size()) in_group.resize(size_t(g) + 1);
      order.push_back(Entry{s, m, g, int32_t(in_group[size_t(g)].size())});
      in_group[size_t(g)].push_back(uint32_t(order.size() - 1));
    }
  auto one_leaf = [&](const std::vector<int64_t>& ranks) {
    const int64_t leaf = topology_.leaf_of(topology_.node_of(ranks.front()));
    for (int64_t r : ranks)
      if (topology_.leaf_of(topology_.node_of(r)) != leaf) return false;
    return true;
  };
  // Shapes: a group's first occurrence of its shape is built, the others are its translates.
  struct Shape {
    int32_t group;
    std::vector<int32_t> touched;       // links in order of first touch
    std::vector<double> load;           // their bytes
    std::vector<uint32_t> span_end;     // per entry of the group: end of its first touches in `touched`
    std::vector<double> bytes;          // per entry: bytes it adds
    std::vector<std::array<ExactSum, hw::kLinkKinds>> by_kind;   // per entry: its link bytes per kind
    std::vector<char> counted;          // per entry: whether it adds a flow
    int64_t latency = 0;
    double kernel_cap = 0;
  };
  std::vector<Shape> shapes;
  std::vector<int32_t> shape_of(in_group.size(), -1);
  std::vector<int64_t> shift(in_group.size(), 0);
  constexpr size_t kMaxShapes = 64;
  for (size_t g = 0; g < in_group.size(); ++g) {
    const std::vector<int64_t>& ranks = groups_[g].ranks;
    if (!one_leaf(ranks)) return std::nullopt;
    for (size_t s = 0; s < shapes.size() && shape_of[g] < 0; ++s) {
      const size_t b = size_t(shapes[s].group);
      const int64_t t = order[in_group[g].front()].rank - order[in_group[b].front()].rank;
      if (t % per_node != 0 || in_group[g].size() != in_group[b].size() || ranks.size() != groups_[b].ranks.size())
        continue;
      bool same = true;
      for (size_t j = 0; j < in_group[g].size() && same; ++j) {
        const Entry &x = order[in_group[g][j]], &y = order[in_group[b][j]];
        same = x.seg == y.seg && x.rank == y.rank + t;
      }
      for (size_t i = 0; i < ranks.size() && same; ++i) same = ranks[i] == groups_[b].ranks[i] + t;
      if (same) {
        shape_of[g] = int32_t(s);
        shift[g] = t;
      }
    }
    if (shape_of[g] >= 0) continue;
    if (shapes.size() == kMaxShapes) return std::nullopt;
    Shape sh;
    sh.group = int32_t(g);
    builder_.clear();
    for (uint32_t e : in_group[g]) {
      add_group_part(members[order[e].seg], order[e].rank);
      sh.span_end.push_back(uint32_t(builder_.touched().size()));
    }
    sh.touched.assign(builder_.touched().begin(), builder_.touched().end());
    sh.latency = builder_.latency_ns();
    sh.kernel_cap = builder_.kernel_cap_bytes_per_s();
    for (int32_t l : sh.touched) {
      // Only links of the group's own GPUs translate with it and are loaded by no other group.
      const int64_t gpu = l >= kernel_base ? l - kernel_base : l < gpu_links ? l / 4 : -1;
      if (gpu < 0) return std::nullopt;
      const auto it = place_.find(gpu);
      if (it == place_.end() || it->second.group != int32_t(g)) return std::nullopt;
      sh.load.push_back(builder_.load(l));
    }
    // Each entry's own bytes and flow, as the builder adds them.
    for (uint32_t e : in_group[g]) {
      builder_.clear();
      add_group_part(members[order[e].seg], order[e].rank);
      sh.bytes.push_back(builder_.bytes());
      sh.by_kind.push_back(builder_.bytes_by_kind());
      sh.counted.push_back(builder_.flows() > 0 ? 1 : 0);
    }
    shape_of[g] = int32_t(shapes.size());
    shapes.push_back(std::move(sh));
  }
  // The entries in order, each as its shape's entry: the same sums in the same order as one by one.
  Bundle b;
  for (const Shape& sh : shapes) {
    b.latency_ns = std::max(b.latency_ns, sh.latency);
    if (sh.kernel_cap > 0) b.kernel_cap_bytes_per_s = sh.kernel_cap;
  }
  for (const Entry& e : order) {
    const Shape& sh = shapes[size_t(shape_of[size_t(e.group)])];
    const int64_t t = shift[size_t(e.group)];
    const size_t j = size_t(e.index);
    if (sh.counted[j]) {
      b.bytes += sh.bytes[j];
      b.flows += 1;
    }
    for (size_t k = 0; k < b.exact_by_kind.size(); ++k) b.exact_by_kind[k] += sh.by_kind[j][k];
    for (uint32_t k = j ? sh.span_end[j - 1] : 0; k < sh.span_end[j]; ++k) {
      const int32_t l = sh.touched[k];
      const double v = sh.load[k];
      // The same link of the GPU t ranks on (a GPU's SM-limit link is one per GPU, its others four).
      const int32_t moved = l >= kernel_base ? int32_t(l + t) : int32_t(l + 4 * t);
      if (keep_link[size_t(moved)]) b.loads.push_back(LinkLoad{moved, v});
    }
  }
  std::sort(b.loads.begin(), b.loads.end(), [](const LinkLoad& x, const LinkLoad& y) { return x.link < y.link; });
  for (size_t k = 0; k < b.exact_by_kind.size(); ++k) b.bytes_by_kind[k] = b.exact_by_kind[k].value();
  return b;
}

Bundle CopyBundleBuilder::build(std::span<const CopyMember> members, const std::vector<char>& keep_link) {
  place_.clear();
  groups_.clear();
  const ir::CommKind kind = members.empty() ? ir::CommKind::Send : members.front().comm->kind;
  if (kind == ir::CommKind::AllToAllV || kind == ir::CommKind::Notify) {
    if (std::optional<Bundle> b = build_by_translation(members, keep_link)) {
      ++translated_;
      return std::move(*b);
    }
    place_.clear();
    groups_.clear();
  }
  builder_.clear();
  for (const CopyMember& cm : members) {
    const ir::Comm& c = *cm.comm;
    const ir::OpInstance& op = *cm.op;
    for (int64_t m : cm.ranks) {
      switch (c.kind) {
        case ir::CommKind::Send: builder_.p2p(m, program_.peer_rank(m, op), double(c.bytes), cm.sms); break;
        case ir::CommKind::Recv: break;
        case ir::CommKind::AllToAllV:
        case ir::CommKind::Notify: add_group_part(cm, m); break;
        case ir::CommKind::AllReduce:
        case ir::CommKind::ReduceScatter:
        case ir::CommKind::AllGather: {
          Group& g = group_of(m, op);
          const int64_t n = int64_t(g.ranks.size());
          const double buffer = c.kind == ir::CommKind::AllGather ? double(n) * double(c.bytes) : double(c.bytes);
          const int64_t steps = (c.kind == ir::CommKind::AllReduce ? 2 : 1) * (n - 1);
          const double sent = hw::bus_bytes_factor(c.kind, n) * buffer;
          if (n < 2 || sent <= 0) break;
          builder_.ring(m, ring_neighbourhood(g, m), sent, steps, cm.sms);
          break;
        }
      }
    }
  }
  return builder_.finish(&keep_link);
}

}  // namespace tandem::sim
