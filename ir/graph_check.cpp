// The dependency graph of one data-parallel column of a StepProgram in Boost.Graph: every op is an
// entry and an exit vertex; the ends of a send/receive pair or of a collective meet in one join
// vertex (all must be issued before any completes; a receive only waits for its send to be issued),
// which is what makes a cycle a deadlock.
#include "ir/graph_check.h"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_map>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#include <fmt/format.h>

#include "ir/slot_rules.h"

namespace tandem::ir {

namespace {

constexpr size_t kMaxProblems = 40;

void note(GraphCheck& out, int64_t& counter, std::string what) {
  ++counter;
  if (out.problems.size() < kMaxProblems) out.problems.push_back(std::move(what));
}

void check_identity(const RankProgram& rp, GraphCheck& out) {
  std::unordered_map<std::string_view, size_t> names;
  names.reserve(rp.tensors.size());
  const int32_t n = int32_t(rp.tensors.size());
  for (size_t i = 0; i < rp.tensors.size(); ++i) {
    const TensorInfo& t = rp.tensors[i];
    const auto [it, fresh] = names.emplace(t.name, i);
    if (!fresh)
      note(out, out.identity_errors,
           fmt::format("pipeline position {}: tensors {} and {} are both named {}", rp.pp_index, it->second, i, t.name));
    if (t.gradient_of >= n || (t.gradient_of >= 0 && (size_t(t.gradient_of) == i || rp.tensors[size_t(t.gradient_of)].shape != t.shape)))
      note(out, out.identity_errors,
           fmt::format("pipeline position {}: {} is the gradient of tensor {}, which is not a tensor of its shape", rp.pp_index,
                       t.name, t.gradient_of));
    if (t.fp8_copy_of >= n || (t.fp8_copy_of >= 0 && (size_t(t.fp8_copy_of) == i || t.dtype != DType::FP8E4M3)))
      note(out, out.identity_errors,
           fmt::format("pipeline position {}: {} is an FP8 copy of tensor {}, but is not an FP8 tensor of another", rp.pp_index,
                       t.name, t.fp8_copy_of));
  }
}

void check_slots(const RankProgram& rp, GraphCheck& out) {
  for (const OpTemplate& t : rp.templates)
    if (std::string why = slot_mismatch(t); !why.empty())
      note(out, out.slot_errors, fmt::format("pipeline position {}: {}", rp.pp_index, why));
}

void check_written_before_read(const RankProgram& rp, GraphCheck& out) {
  const size_t n = rp.ops.size();
  auto key = [&](int32_t tensor, int32_t mb) {
    const bool step_wide = rp.tensors[size_t(tensor)].role != TensorRole::Activation;
    return (int64_t(tensor) << 32) | uint32_t((step_wide ? -1 : mb) + 1);
  };
  // reach[i][s]: the latest op of in-order stream s that op i follows through its dependencies and
  // the stream order (every earlier op of s too).
  std::vector<std::array<int32_t, kStreams>> reach(n, {-1, -1, -1});
  int32_t last_on_stream[kStreams] = {-1, -1, -1};
  std::unordered_map<int64_t, std::vector<int32_t>> writers;   // (tensor, mb) -> ops in issue order
  for (size_t i = 0; i < n; ++i) {
    const OpInstance& op = rp.ops[i];
    const OpTemplate& t = rp.tmpl(op);
    auto& r = reach[i];
    auto follow = [&](int32_t p) {
      const int s = int(rp.ops[size_t(p)].stream);
      if (rp.ops[size_t(p)].stream != Stream::P2P) r[size_t(s)] = std::max(r[size_t(s)], p);
      for (int x = 0; x < kStreams; ++x) r[size_t(x)] = std::max(r[size_t(x)], reach[size_t(p)][size_t(x)]);
    };
    const int stream = int(op.stream);
    if (last_on_stream[stream] >= 0 && op.stream != Stream::P2P) follow(last_on_stream[stream]);
    last_on_stream[stream] = int32_t(i);
    const auto deps = rp.deps_of(i);
    for (int32_t d : deps) follow(d);
    auto reached = [&](int32_t p) {
      if (rp.ops[size_t(p)].stream == Stream::P2P) return std::find(deps.begin(), deps.end(), p) != deps.end();
      return r[size_t(rp.ops[size_t(p)].stream)] >= p;
    };
    for (const Operand& in : t.inputs) {
      const TensorInfo& info = rp.tensors[size_t(in.tensor)];
      if (info.role == TensorRole::Weight || info.step_input) continue;
      const int32_t cutoff = info.accumulates() ? rp.gradient_cutoff[i] : int32_t(i);
      const auto it = writers.find(key(in.tensor, op.mb));
      std::vector<int32_t> before;
      if (it != writers.end())
        for (int32_t w : it->second)
          if (w < cutoff) before.push_back(w);
      auto where = [&] { return fmt::format("pipeline position {}: op #{} {} (mb {})", rp.pp_index, i, t.name(), op.mb); };
      if (before.empty()) {
        note(out, out.unwritten_reads, fmt::format("{} reads {} before any op writes it", where(), info.name));
        continue;
      }
      if (!info.accumulates()) before.erase(before.begin(), before.end() - 1);   // a value: its newest version
      for (int32_t w : before)
        if (!reached(w)) {
          note(out, out.unwritten_reads,
                 fmt::format("{} reads {}, written by op #{} {}, which its dependencies do not reach", where(), info.name, w,
                             rp.tmpl(rp.ops[size_t(w)]).name()));
          break;
        }
    }
    for (const Operand& o : t.outputs) writers[key(o.tensor, op.mb)].push_back(int32_t(i));
  }
}

}  // namespace

void check_rank_program(const RankProgram& rp, GraphCheck& out) {
  check_identity(rp, out);
  check_slots(rp, out);
  check_written_before_read(rp, out);
}

// The cross-rank dependency graph: cycles, matching, critical path.
static GraphCheck check_graph(const StepProgram& program, int64_t dp_column) {
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

GraphCheck check_program(const StepProgram& program, int64_t dp_column) {
  GraphCheck out = check_graph(program, dp_column);
  GraphCheck ranks;
  for (const RankProgram& rp : program.roles()) check_rank_program(rp, ranks);
  out.identity_errors = ranks.identity_errors;
  out.slot_errors = ranks.slot_errors;
  out.unwritten_reads = ranks.unwritten_reads;
  for (auto& p : ranks.problems)
    if (out.problems.size() < kMaxProblems) out.problems.push_back(std::move(p));
  return out;
}

}  // namespace tandem::ir
