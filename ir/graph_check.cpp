// The dependency graph of one data-parallel column of a StepProgram in Boost.Graph: every op is an
// entry and an exit vertex; the ends of a send/receive pair or of a collective meet in one join
// vertex (all must be issued before any completes; a receive only waits for its send to be issued),
// which is what makes a cycle a deadlock.
#include "ir/graph_check.h"

#include <map>
#include <unordered_map>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#include <fmt/format.h>

namespace tandem::ir {

GraphCheck check_program(const StepProgram& program, int64_t dp_column) {
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  const auto& p = program.plan();
  GraphCheck out;
  std::vector<int64_t> ranks, base;
  int64_t n_ops = 0;
  for (int64_t pp = 0; pp < p.pp; ++pp) {
    ranks.push_back(program.rank_of({pp, dp_column, dp_column / p.ep, dp_column % p.ep}));
    base.push_back(n_ops);
    n_ops += int64_t(program.program_of(ranks.back()).ops.size());
  }
  // vertices: [0, 2n) entry/exit of op i at 2i, 2i+1; then join vertices.
  std::vector<std::pair<size_t, size_t>> edges;
  edges.reserve(size_t(n_ops) * 4);
  std::map<std::pair<int64_t, int64_t>, size_t> joins;   // (tag, first rank) -> join vertex
  std::unordered_map<int64_t, int64_t> rank_slot;
  for (size_t i = 0; i < ranks.size(); ++i) rank_slot[ranks[i]] = int64_t(i);
  size_t next_vertex = size_t(2 * n_ops);
  std::map<std::pair<int64_t, int64_t>, int> pending_sends, pending_recvs;   // (receiver rank, tag)

  for (size_t s = 0; s < ranks.size(); ++s) {
    const int64_t rank = ranks[s];
    const RankProgram& rp = program.program_of(rank);
    int64_t last_on_stream[kStreams] = {-1, -1, -1};
    for (size_t i = 0; i < rp.ops.size(); ++i) {
      const size_t v = size_t(2 * (base[s] + int64_t(i)));
      const OpInstance& op = rp.ops[i];
      const int stream = int(op.stream);
      if (last_on_stream[stream] >= 0) edges.emplace_back(size_t(2 * (base[s] + last_on_stream[stream]) + 1), v);
      last_on_stream[stream] = int64_t(i);
      for (int32_t d : rp.deps_of(i)) edges.emplace_back(size_t(2 * (base[s] + d) + 1), v);
      const OpTemplate& t = rp.tmpl(op);
      if (kind_of(t.payload) != OpKind::Comm) {
        edges.emplace_back(v, v + 1);
        continue;
      }
      const Comm& c = std::get<Comm>(t.payload);
      int64_t first = rank;
      if (c.kind == CommKind::Send || c.kind == CommKind::Recv) {
        // Sends are asynchronous (buffered): a receive completes after its send was issued.
        const int64_t peer = program.peer_rank(rank, op);
        const bool send = c.kind == CommKind::Send;
        const auto key = std::make_pair(send ? peer : rank, op.tag);
        (send ? pending_sends : pending_recvs)[key] += 1;
        auto [it, inserted] = joins.try_emplace({op.tag, std::min(rank, peer)}, next_vertex);
        if (inserted) ++next_vertex;
        if (send) {
          edges.emplace_back(v, v + 1);
          edges.emplace_back(v, it->second);
        } else {
          edges.emplace_back(v, v + 1);
          edges.emplace_back(it->second, v + 1);
        }
        continue;
      } else {
        for (int64_t g : program.group_ranks(rank, op))
          if (rank_slot.count(g)) { first = std::min(first, g); }
      }
      auto [it, inserted] = joins.try_emplace({op.tag, first}, next_vertex);
      if (inserted) ++next_vertex;
      edges.emplace_back(v, it->second);
      edges.emplace_back(it->second, v + 1);
    }
  }
  for (const auto& [key, n] : pending_recvs) {
    const auto it = pending_sends.find(key);
    const int have = it == pending_sends.end() ? 0 : it->second;
    if (have < n) {
      out.unmatched_receives += n - have;
      if (out.problems.size() < 5) out.problems.push_back(fmt::format("rank {}: receive with tag {} has no send", key.first, key.second));
    }
  }
  for (const auto& [key, n] : pending_sends) {
    const auto it = pending_recvs.find(key);
    const int have = it == pending_recvs.end() ? 0 : it->second;
    if (have < n) {
      out.unmatched_sends += n - have;
      if (out.problems.size() < 5) out.problems.push_back(fmt::format("send to rank {} with tag {} has no receive", key.first, key.second));
    }
  }
  Graph g(edges.begin(), edges.end(), next_vertex);
  out.vertices = int64_t(next_vertex);
  out.edges = int64_t(edges.size());
  std::vector<size_t> order;
  order.reserve(next_vertex);
  try {
    boost::topological_sort(g, std::back_inserter(order));
    out.acyclic = true;
  } catch (const boost::not_a_dag&) {
    out.acyclic = false;
    out.problems.push_back("the dependency graph has a cycle: the step would deadlock; the cycle:");
    // Name the ops of one cycle (iterative depth-first search with colours).
    auto describe = [&](size_t v) -> std::string {
      if (v >= size_t(2 * n_ops)) return "(join of a transfer or collective)";
      const int64_t op = int64_t(v / 2);
      size_t s = 0;
      while (s + 1 < base.size() && base[s + 1] <= op) ++s;
      const RankProgram& rp = program.program_of(ranks[s]);
      const OpInstance& inst = rp.ops[size_t(op - base[s])];
      return fmt::format("rank {} op #{} {} {} mb {} stream {}{}", ranks[s], op - base[s], rp.tmpl(inst).name(),
                         phase_letter(rp.tmpl(inst).phase), inst.mb, int(inst.stream), v % 2 ? " (end)" : "");
    };
    std::vector<uint8_t> colour(next_vertex, 0);
    std::vector<size_t> parent(next_vertex, SIZE_MAX);
    for (size_t root = 0; root < next_vertex && out.problems.size() == 1; ++root) {
      if (colour[root]) continue;
      std::vector<std::pair<size_t, Graph::out_edge_iterator>> stack;
      colour[root] = 1;
      stack.emplace_back(root, boost::out_edges(root, g).first);
      while (!stack.empty() && out.problems.size() == 1) {
        auto& [v, it] = stack.back();
        if (it == boost::out_edges(v, g).second) {
          colour[v] = 2;
          stack.pop_back();
          continue;
        }
        const size_t w = boost::target(*it, g);
        ++it;
        if (colour[w] == 0) {
          colour[w] = 1;
          parent[w] = v;
          stack.emplace_back(w, boost::out_edges(w, g).first);
        } else if (colour[w] == 1) {
          std::vector<size_t> cycle{w};
          for (size_t u = v; u != w && u != SIZE_MAX; u = parent[u]) cycle.push_back(u);
          for (auto c = cycle.rbegin(); c != cycle.rend() && out.problems.size() < 40; ++c)
            if (*c >= size_t(2 * n_ops) || *c % 2 == 0) out.problems.push_back("  " + describe(*c));
        }
      }
    }
    return out;
  }
  // Longest path counted in ops (entry vertices weigh 1), in topological order (reverse of `order`).
  std::vector<int64_t> longest(next_vertex, 0);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const size_t v = *it;
    const int64_t here = longest[v] + ((v < size_t(2 * n_ops) && v % 2 == 0) ? 1 : 0);
    out.critical_path_ops = std::max(out.critical_path_ops, here);
    for (auto [e, end] = boost::out_edges(v, g); e != end; ++e) {
      const size_t w = boost::target(*e, g);
      longest[w] = std::max(longest[w], here);
    }
  }
  return out;
}

}  // namespace tandem::ir
