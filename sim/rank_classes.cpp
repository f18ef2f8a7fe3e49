// Classes of ranks by role and place in their expert-parallel group, and their refinement where stragglers
// or link faults set ranks apart (see rank_classes.h).
#include "sim/rank_classes.h"

#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <stdexcept>
#include <variant>

namespace tandem::sim {

namespace {

// The role's first expert all-to-all, null when it has none (a stage of dense layers only).
const ir::OpInstance* first_expert_a2a(const ir::RankProgram& prog) {
  for (const ir::OpInstance& op : prog.ops) {
    const auto* c = std::get_if<ir::Comm>(&prog.templates[size_t(op.tmpl)].payload);
    if (c && c->kind == ir::CommKind::AllToAllV && c->group == ir::CommGroup::Expert) return &op;
  }
  return nullptr;
}

}  // namespace

RankClasses expert_place_classes(const ProgramView& program) {
  const int64_t n = program.num_ranks();
  std::vector<int64_t> place(size_t(n), -1), role_ranks, group;
  std::vector<uint32_t> role_of(size_t(n), 0);
  for (size_t role = 0; role < program.roles().size(); ++role) {
    program.ranks_of_role(role, role_ranks);
    const ir::OpInstance* a2a = first_expert_a2a(program.roles()[role]);
    for (int64_t m : role_ranks) {
      role_of[size_t(m)] = uint32_t(role);
      if (!a2a) {
        place[size_t(m)] = 0;
        continue;
      }
      if (place[size_t(m)] >= 0) continue;
      // One call per group: every member of a group names the same group.
      program.group_ranks(m, *a2a, group);
      for (size_t i = 0; i < group.size(); ++i) place[size_t(group[i])] = int64_t(i);
      if (place[size_t(m)] < 0) throw std::logic_error("a rank's expert group does not hold the rank itself");
    }
  }
  RankClasses c;
  c.of_rank.assign(size_t(n), 0);
  std::map<std::pair<uint32_t, int64_t>, uint32_t> index;
  for (int64_t r = 0; r < n; ++r) {
    if (place[size_t(r)] < 0) throw std::logic_error("rank " + std::to_string(r) + " plays no role");
    const auto [it, added] = index.try_emplace({role_of[size_t(r)], place[size_t(r)]}, uint32_t(c.ranks.size()));
    if (added) c.ranks.emplace_back();
    c.of_rank[size_t(r)] = it->second;
    c.ranks[it->second].push_back(r);
  }
  return c;
}

namespace {

// Sequences of colours numbered by first sight: equal sequences get equal numbers.
class Interner {
 public:
  uint32_t id(const std::vector<uint32_t>& seq) {
    const auto [it, added] = ids_.try_emplace(seq, uint32_t(ids_.size()));
    return it->second;
  }
  size_t size() const { return ids_.size(); }
  void clear() { ids_.clear(); }

 private:
  struct Hash {
    size_t operator()(const std::vector<uint32_t>& v) const {
      uint64_t h = 0x9E3779B97F4A7C15ull ^ v.size();
      for (uint32_t x : v) h = (h ^ x) * 0x100000001B3ull + (h >> 29);
      return size_t(h);
    }
  };
  std::unordered_map<std::vector<uint32_t>, uint32_t, Hash> ids_;
};

// Groups of ranks, flat: group g holds members[begin[g] .. begin[g + 1]], in the group's order.
struct Groups {
  std::vector<int64_t> members;
  std::vector<size_t> begin{0};
  size_t size() const { return begin.size() - 1; }
  void add(std::span<const int64_t> g) {
    members.insert(members.end(), g.begin(), g.end());
    begin.push_back(members.size());
  }
};

// What a rank of a role communicates with: per rank of the role (by its index in the role's ranks) a group
// of `groups`, or (peer) a single rank. ring: the group's traffic goes from each member to the next (ring
// collectives); otherwise between every two members (all-to-all, handshake).
struct Relation {
  size_t role = 0;
  bool peer = false, ring = false;
  Groups groups;
  std::vector<int64_t> of;   // per rank of the role: its group, or its peer
};

// Every relation of every role, one per distinct group (or peer) a role's communication ops name.
struct Relations {
  std::vector<Relation> all;
  std::vector<std::vector<size_t>> of_role;   // per role: its relations
  std::vector<int64_t> index_in_role;         // per rank: its index in its role's ranks
  std::vector<std::vector<int64_t>> ranks_of_role;
};

Relations relations_of(const ProgramView& program) {
  const int64_t n = program.num_ranks();
  Relations out;
  out.of_role.resize(program.roles().size());
  std::vector<std::vector<int64_t>>& role_ranks = out.ranks_of_role;
  role_ranks.resize(program.roles().size());
  out.index_in_role.assign(size_t(n), -1);
  std::vector<int64_t> group;
  for (size_t role = 0; role < program.roles().size(); ++role) {
    program.ranks_of_role(role, role_ranks[role]);
    for (size_t i = 0; i < role_ranks[role].size(); ++i) out.index_in_role[size_t(role_ranks[role][i])] = int64_t(i);
  }
  for (size_t role = 0; role < program.roles().size(); ++role) {
    const std::vector<int64_t>& ranks = role_ranks[role];
    if (ranks.empty()) continue;
    const ir::RankProgram& prog = program.roles()[role];
    // Key: (0, peer of the role's first rank) for sends and receives; (1 + comm group, chunk, ring) otherwise.
    std::map<std::tuple<int64_t, int64_t, bool>, const ir::OpInstance*> kinds;
    for (const ir::OpInstance& op : prog.ops) {
      const ir::OpTemplate& t = prog.templates[size_t(op.tmpl)];
      const auto* c = std::get_if<ir::Comm>(&t.payload);
      if (!c) continue;
      const bool p2p = c->kind == ir::CommKind::Send || c->kind == ir::CommKind::Recv || c->group == ir::CommGroup::Pipeline;
      const bool ring = c->kind == ir::CommKind::AllReduce || c->kind == ir::CommKind::ReduceScatter ||
                        c->kind == ir::CommKind::AllGather;
      kinds.try_emplace(p2p ? std::make_tuple(int64_t(0), program.peer_rank(ranks.front(), op), false)
                            : std::make_tuple(int64_t(1) + int64_t(c->group), int64_t(t.chunk), ring),
                        &op);
    }
    for (const auto& [key, op] : kinds) {
      Relation rel;
      rel.role = role;
      rel.peer = std::get<0>(key) == 0;
      rel.ring = std::get<2>(key);
      rel.of.assign(ranks.size(), -1);
      for (size_t i = 0; i < ranks.size(); ++i) {
        if (rel.peer) {
          rel.of[i] = program.peer_rank(ranks[i], *op);
          continue;
        }
        if (rel.of[i] >= 0) continue;
        // One call per group: every member of a group names the same group.
        program.group_ranks(ranks[i], *op, group);
        for (int64_t m : group)
          if (program.role_of(m) == role) rel.of[size_t(out.index_in_role[size_t(m)])] = int64_t(rel.groups.size());
        rel.groups.add(group);
        if (rel.of[i] < 0) throw std::logic_error("a rank's communication group does not hold the rank itself");
      }
      out.of_role[role].push_back(out.all.size());
      out.all.push_back(std::move(rel));
    }
  }
  return out;
}

// Whether a leaf switch's link can be a transfer's bottleneck: every transfer over a leaf's link of plane p
// leaves (or enters) by the NIC of a plane-p GPU under that leaf, so a link at least as wide as those NICs
// together (no oversubscription, no degraded leaf) saturates only with them, and the leaf's ranks need no
// split of their own.
bool leaf_links_can_bind(const hw::Topology& topology, int64_t n) {
  const auto& links = topology.links();
  const size_t leaves = size_t(topology.leaves());
  std::vector<double> out(size_t(topology.planes()) * leaves, 0.0), in(out.size(), 0.0);
  for (int64_t r = 0; r < n; ++r) {
    const size_t k = size_t(topology.plane_of_rail(topology.local_of(r))) * leaves + size_t(topology.leaf_of(topology.node_of(r)));
    out[k] += links[size_t(topology.nic_out(r))].capacity_bytes_per_s;
    in[k] += links[size_t(topology.nic_in(r))].capacity_bytes_per_s;
  }
  for (int64_t p = 0; p < topology.planes(); ++p)
    for (size_t leaf = 0; leaf < leaves; ++leaf) {
      const size_t k = size_t(p) * leaves + leaf;
      if (links[size_t(topology.leaf_up(p, int64_t(leaf)))].capacity_bytes_per_s < out[k] ||
          links[size_t(topology.leaf_down(p, int64_t(leaf)))].capacity_bytes_per_s < in[k])
        return true;
    }
  return false;
}

RankClasses refine(const ProgramView& program, const Relations& rels, const RankClasses& start,
                   std::span<const uint64_t> mark, const hw::Topology* topology) {
  const int64_t n = program.num_ranks();
  if (int64_t(start.of_rank.size()) != n || int64_t(mark.size()) != n)
    throw std::logic_error("refine_classes: the classes or marks do not cover the program's ranks");
  const std::vector<Relation>& relations = rels.all;
  const std::vector<std::vector<size_t>>& role_relations = rels.of_role;
  const std::vector<int64_t>& index_in_role = rels.index_in_role;
  // Ranks that share links: those of a scale-up domain, and those of one plane under one leaf switch (the
  // ends of that plane's leaf links; two tiers, where those links can bind).
  Groups domains, leaves;
  std::vector<size_t> leaf_group(size_t(n), 0);   // per rank: its group in `leaves`
  if (topology) {
    for (int64_t node = 0; node * topology->gpus_per_node() < n; ++node) {
      std::vector<int64_t> g;
      for (int64_t r = node * topology->gpus_per_node(); r < std::min(n, (node + 1) * topology->gpus_per_node()); ++r)
        g.push_back(r);
      domains.add(g);
    }
    if (topology->leaves() > 1 && leaf_links_can_bind(*topology, n)) {
      std::map<std::pair<int64_t, int64_t>, std::vector<int64_t>> by_leaf_plane;
      for (int64_t r = 0; r < n; ++r)
        by_leaf_plane[{topology->leaf_of(topology->node_of(r)), topology->plane_of_rail(topology->local_of(r))}].push_back(r);
      for (const auto& [key, g] : by_leaf_plane) {
        for (int64_t r : g) leaf_group[size_t(r)] = leaves.size();
        leaves.add(g);
      }
    }
  }

  // The start: the given class and the mark.
  std::vector<uint32_t> colour(static_cast<size_t>(n)), next(static_cast<size_t>(n));
  Interner interner;
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> first;
  for (int64_t r = 0; r < n; ++r)
    colour[size_t(r)] =
        first.try_emplace({start.of_rank[size_t(r)], mark[size_t(r)]}, uint32_t(first.size())).first->second;
  size_t count = first.size();
  int rounds = 0;
  std::vector<uint32_t> seq;
  auto signatures = [&](const Groups& g, std::vector<uint32_t>& out) {
    out.resize(g.size());
    for (size_t k = 0; k < g.size(); ++k) {
      seq.clear();
      for (size_t i = g.begin[k]; i < g.begin[k + 1]; ++i) seq.push_back(colour[size_t(g.members[i])]);
      out[k] = interner.id(seq);
    }
  };
  std::vector<std::vector<uint32_t>> rel_sig(relations.size());
  std::vector<uint32_t> domain_sig, leaf_sig;
  for (;;) {
    // Each group's colours in its order, numbered; then each rank's colour and the numbers of its groups.
    interner.clear();
    for (size_t k = 0; k < relations.size(); ++k)
      if (!relations[k].peer) signatures(relations[k].groups, rel_sig[k]);
    signatures(domains, domain_sig);
    signatures(leaves, leaf_sig);
    Interner ranks_interner;
    std::vector<uint32_t> sig;
    for (int64_t r = 0; r < n; ++r) {
      sig.clear();
      sig.push_back(colour[size_t(r)]);
      const size_t role = program.role_of(r);
      const size_t i = size_t(index_in_role[size_t(r)]);
      for (size_t k : role_relations[role]) {
        const Relation& rel = relations[k];
        sig.push_back(rel.peer ? colour[size_t(rel.of[i])] : rel_sig[k][size_t(rel.of[i])]);
      }
      if (topology) {
        sig.push_back(domain_sig[size_t(r / topology->gpus_per_node())]);
        if (!leaves.members.empty()) sig.push_back(leaf_sig[leaf_group[size_t(r)]]);
      }
      next[size_t(r)] = ranks_interner.id(sig);
    }
    ++rounds;
    colour.swap(next);
    if (ranks_interner.size() == count) break;   // nothing split: a fixed point (each round only splits)
    count = ranks_interner.size();
  }
  RankClasses c;
  c.rounds = rounds;
  c.of_rank = colour;   // numbered by first rank: the classes in order of their first rank
  c.ranks.resize(count);
  for (int64_t r = 0; r < n; ++r) c.ranks[colour[size_t(r)]].push_back(r);
  return c;
}

// Nodes that exchange traffic with nodes marked in `at` (indexed by node), by the relations: every node of an
// all-to-all group holding a rank there, the nodes of the ring neighbours of such a rank, the node of its
// peer. Per node, how it does (empty: it does not): a code per relation and way, in the relations' order.
std::vector<std::vector<uint32_t>> partner_nodes(const Relations& rels, const hw::Topology& topology,
                                                 const std::vector<char>& at) {
  std::vector<std::vector<uint32_t>> out(at.size());
  auto node = [&](int64_t r) { return size_t(topology.node_of(r)); };
  for (size_t k = 0; k < rels.all.size(); ++k) {
    const Relation& rel = rels.all[k];
    auto reason = [&](int64_t r, uint32_t way) { out[node(r)].push_back(uint32_t(k) * 8 + way); };
    if (rel.peer) {
      for (size_t i = 0; i < rel.of.size(); ++i) {
        const int64_t r = rels.ranks_of_role[rel.role][i], peer = rel.of[i];
        if (at[node(r)]) reason(peer, 0);
        if (at[node(peer)]) reason(r, 1);
      }
      continue;
    }
    for (size_t g = 0; g < rel.groups.size(); ++g) {
      const std::span<const int64_t> m(rel.groups.members.data() + rel.groups.begin[g], rel.groups.begin[g + 1] - rel.groups.begin[g]);
      for (size_t j = 0; j < m.size(); ++j) {
        if (!at[node(m[j])]) continue;
        if (!rel.ring) {
          for (int64_t x : m) reason(x, 2);
          break;
        }
        reason(m[(j + m.size() - 1) % m.size()], 3);   // sends to it
        reason(m[(j + 1) % m.size()], 4);              // receives from it
      }
    }
  }
  return out;
}

}  // namespace

RankClasses role_classes(const ProgramView& program) {
  RankClasses c;
  c.of_rank.assign(size_t(program.num_ranks()), 0);
  std::vector<std::pair<int64_t, size_t>> first;   // (first rank, role)
  std::vector<std::vector<int64_t>> ranks(program.roles().size());
  for (size_t role = 0; role < program.roles().size(); ++role) {
    program.ranks_of_role(role, ranks[role]);
    if (!ranks[role].empty()) first.emplace_back(ranks[role].front(), role);
  }
  std::sort(first.begin(), first.end());
  for (const auto& [r0, role] : first) {
    for (int64_t r : ranks[role]) c.of_rank[size_t(r)] = uint32_t(c.ranks.size());
    c.ranks.push_back(std::move(ranks[role]));
  }
  return c;
}

RankClasses refine_classes(const ProgramView& program, const RankClasses& start, std::span<const uint64_t> mark,
                           const hw::Topology* topology) {
  return refine(program, relations_of(program), start, mark, topology);
}

RankClasses exact_classes(const ProgramView& program, const hw::Topology& topology, std::span<const int64_t> slow_ranks,
                          std::span<const hw::LinkFault> faults) {
  // Under balanced routing every rank of a role sees the same bytes whatever its place (the symmetric
  // path's premise): the roles are the start, as on the symmetric path.
  RankClasses start = program.balanced_routing() ? role_classes(program) : expert_place_classes(program);
  const int64_t n = program.num_ranks();
  // Under skew a role without an expert all-to-all (dense layers only) is one class, but its ranks send to
  // and receive from ranks of places that differ: the start is refined (without marks) until its classes
  // see the same classes (a class of such a stage standing for all its ranks sent only to the peers of
  // its representative, and the step deadlocked).
  bool places_alike = program.balanced_routing();
  if (!places_alike) {
    places_alike = true;
    for (const ir::RankProgram& prog : program.roles()) places_alike = places_alike && first_expert_a2a(prog);
  }
  if ((slow_ranks.empty() && faults.empty() && places_alike) || int64_t(start.ranks.size()) == n) return start;
  const Relations rels = relations_of(program);
  // A straggler: its own mark. A link fault: every rank on the nodes at the fault (the GPU's domain, each
  // its own mark; under a degraded leaf link, its plane's GPUs, one mark for them). A failed link also reroutes the
  // traffic that crossed it over other rails, onto the links of other GPUs of both ends' nodes: the ranks
  // on those GPUs of the nodes exchanging traffic with the fault's get marks too, shared by those alike.
  // (A ring collective is one group to the refinement, but only the ring neighbours of the fault's ranks
  // send to them and receive from them: the marks say which.)
  std::vector<uint64_t> mark(size_t(n), 0);
  for (int64_t r : slow_ranks)
    if (r >= 0 && r < n) mark[size_t(r)] = uint64_t(r) + 1;
  const size_t nodes = size_t(topology.node_of(n - 1) + 1);
  // Marks shared by GPUs alike to a fault (below) lie past the ranks' own (1..n) and the leaves' ones.
  const uint64_t shared_base = 2 * uint64_t(n) + faults.size() + 2;
  std::map<std::tuple<size_t, std::vector<uint32_t>, int64_t>, uint64_t> kinds;
  // Marks of ranks that several faults set apart, by the pair (mark so far, this fault's): past all others.
  constexpr uint64_t kCombinedMarks = uint64_t(1) << 62;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> combined;
  for (size_t k = 0; k < faults.size(); ++k) {
    const hw::LinkFault& f = faults[k];
    std::vector<char> at(nodes, 0);
    const bool leaf = f.target == hw::LinkFault::Target::Leaf;
    for (size_t node = 0; node < nodes; ++node)
      at[node] = leaf ? topology.leaf_of(int64_t(node)) == f.leaf : int64_t(node) == topology.node_of(f.gpu);
    // Only a failed link reroutes: a degraded one slows what crosses it, which sets apart the groups holding
    // ranks of its nodes (and so the nodes of their members) without marks of their own.
    const bool failed = !(f.factor > 0);
    const std::vector<std::vector<uint32_t>> partners =
        failed ? partner_nodes(rels, topology, at) : std::vector<std::vector<uint32_t>>(nodes);
    // A failed NIC of GPU g (rail r of node n) moves the traffic between node n and a partner node m from
    // rail r to rail r' (Topology::ib_rail): on m only the GPUs of rails r and r' carry other loads (their
    // NICs, the NVLink hops to and from them, the SM limits of DeepEP's relays), the same on every partner
    // node that exchanges with n in the same ways: one mark per fault, ways and GPU index. A failed leaf
    // link moves every rail of its plane: every GPU of the partner nodes is marked so.
    const int64_t fault_node = leaf ? -1 : topology.node_of(f.gpu);
    for (int64_t r = 0; r < n; ++r) {
      const size_t node = size_t(topology.node_of(r));
      uint64_t fault_mark = 0;   // what this fault sets this rank apart by (0: nothing)
      if (leaf && at[node] && !failed) {
        // A degraded leaf link of plane p carries only what plane-p GPUs under the leaf send and receive
        // (their NICs are its ends): those share a mark, and the leaf's other GPUs keep none.
        if (topology.plane_of_rail(topology.local_of(r)) == f.plane) fault_mark = uint64_t(n) + 1 + k;
      } else if (at[node]) {
        fault_mark = uint64_t(r) + 1;
      } else if (!partners[node].empty()) {
        const int64_t local = topology.local_of(r);
        bool moved = leaf;
        if (!leaf) {
          const int64_t lost = topology.local_of(f.gpu);
          // (Nodes cut apart are bad input: ib_rail says so, from the fault's node, as the replay would.)
          moved = local == lost || local == topology.ib_rail(fault_node, int64_t(node), lost) ||
                  local == topology.ib_rail(int64_t(node), fault_node, lost);
        }
        if (moved) fault_mark = shared_base + kinds.try_emplace({k, partners[node], local}, kinds.size()).first->second;
      }
      // Every fault's mark counts, whichever came first: a rank an earlier fault marked (a shared leaf mark,
      // say) that this one sets apart gets the pair's own mark, so ranks alike to the first fault but not to
      // this one part. (Keeping the first mark merged a failed NIC's GPU with the rail it moved onto.)
      uint64_t& m = mark[size_t(r)];
      if (fault_mark == 0 || m == fault_mark) continue;
      m = m == 0 ? fault_mark : kCombinedMarks + combined.try_emplace({m, fault_mark}, combined.size()).first->second;
    }
  }
  return refine(program, rels, start, mark, &topology);
}

}  // namespace tandem::sim
