// The bundle of a collective standing for its copies (sim::CopyBundleBuilder) is, bit for bit, the one
// BundleBuilder gives when fed every copy with its whole group: every communication op of DeepSeek-V3
// programs, on a cluster whose leaves cut through stages and whose spine is oversubscribed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <variant>

#include "hw/cost_model.h"
#include "hw/gpu_catalogue.h"
#include "hw/topology.h"
#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/comm_bundles.h"
#include "sim/copy_bundle.h"

using namespace tandem;

namespace {

// The reference: every rank of every member added one by one with its whole group, as the symmetric
// path's bundles were first built.
sim::Bundle member_by_member(const sim::ProgramView& view, sim::BundleBuilder& builder,
                             const std::vector<sim::CopyMember>& members, const std::vector<char>& keep) {
  builder.clear();
  std::vector<int64_t> group;
  std::vector<double> bytes;
  for (const sim::CopyMember& cm : members)
    for (int64_t m : cm.ranks) {
      const ir::Comm& c = *cm.comm;
      switch (c.kind) {
        case ir::CommKind::Send: builder.p2p(m, view.peer_rank(m, *cm.op), double(c.bytes), cm.sms); break;
        case ir::CommKind::Recv: break;
        case ir::CommKind::AllToAllV:
          view.group_ranks(m, *cm.op, group);
          view.a2a_send_bytes(m, *cm.op, bytes);
          builder.all_to_all(m, group, bytes, c.purpose, cm.sms);
          break;
        case ir::CommKind::Notify:
          view.group_ranks(m, *cm.op, group);
          builder.handshake(m, group, double(c.bytes));
          break;
        default: {
          view.group_ranks(m, *cm.op, group);
          const int64_t n = int64_t(group.size());
          const double buffer = c.kind == ir::CommKind::AllGather ? double(n) * double(c.bytes) : double(c.bytes);
          const int64_t steps = (c.kind == ir::CommKind::AllReduce ? 2 : 1) * (n - 1);
          builder.ring(m, group, hw::bus_bytes_factor(c.kind, n) * buffer, steps, cm.sms);
        }
      }
    }
  return builder.finish(&keep);
}

void check_same(const sim::Bundle& a, const sim::Bundle& b) {
  REQUIRE(a.loads.size() == b.loads.size());
  for (size_t i = 0; i < a.loads.size(); ++i) {
    CHECK(a.loads[i].link == b.loads[i].link);
    CHECK(a.loads[i].bytes == b.loads[i].bytes);
  }
  CHECK(a.bytes == b.bytes);
  CHECK(a.flows == b.flows);
  CHECK(a.latency_ns == b.latency_ns);
  CHECK(a.kernel_cap_bytes_per_s == b.kernel_cap_bytes_per_s);
  for (size_t k = 0; k < a.bytes_by_kind.size(); ++k) {
    CHECK(a.bytes_by_kind[k] == b.bytes_by_kind[k]);
    CHECK(a.exact_by_kind[k] == b.exact_by_kind[k]);
  }
}

// Every distinct communication op of every role, its members being the representatives of the roles
// taking part (each standing for every rank of its role), both ways.
struct Compared {
  int collectives = 0;
  uint64_t translated = 0;   // of them, built from one group per shape
};
Compared compare_all(const ir::StepProgram& p) {
  const sim::StepProgramView view(p);
  const hw::GpuSpec& gpu = hw::gpu_spec(p.cluster().gpu);
  const hw::Topology topo(p.cluster(), gpu);
  const hw::CostModel cost(gpu);
  sim::BundleBuilder builder(topo, cost, view.expert_routing());
  sim::CopyBundleBuilder copies(view, topo, builder);
  std::vector<std::vector<int64_t>> role_ranks(view.roles().size());
  for (size_t r = 0; r < role_ranks.size(); ++r) view.ranks_of_role(r, role_ranks[r]);
  // The links kept, as on the symmetric path: those of the simulated GPUs (one per role) and the switch
  // links of their leaves.
  std::vector<int64_t> representatives;
  for (size_t r = 0; r < role_ranks.size(); ++r) representatives.push_back(view.representative(r));
  const std::vector<char> keep = builder.kept_links(representatives);
  std::set<std::tuple<size_t, int32_t>> seen;
  Compared compared;
  for (size_t role = 0; role < view.roles().size(); ++role) {
    const ir::RankProgram& prog = view.roles()[role];
    const int64_t rep = view.representative(role);
    for (const ir::OpInstance& op : prog.ops) {
      const auto* c = std::get_if<ir::Comm>(&prog.templates[size_t(op.tmpl)].payload);
      if (!c || c->kind == ir::CommKind::Recv || !seen.insert({role, op.tmpl}).second) continue;
      std::vector<int64_t> group;
      std::vector<sim::CopyMember> members;
      if (c->kind == ir::CommKind::Send) {
        members.push_back(sim::CopyMember{&op, c, c->sms, role_ranks[role]});
      } else {
        // The members' ops: the same tag on each role taking part.
        view.group_ranks(rep, op, group);
        std::set<size_t> roles;
        for (int64_t g : group) roles.insert(view.role_of(g));
        for (size_t r : roles) {
          const ir::RankProgram& other = view.roles()[r];
          const auto it = std::find_if(other.ops.begin(), other.ops.end(),
                                       [&](const ir::OpInstance& o) { return o.tag == op.tag; });
          REQUIRE(it != other.ops.end());
          members.push_back(sim::CopyMember{&*it, &std::get<ir::Comm>(other.templates[size_t(it->tmpl)].payload),
                                            c->sms, role_ranks[r]});
        }
      }
      check_same(copies.build(members, keep), member_by_member(view, builder, members, keep));
      ++compared.collectives;
    }
  }
  compared.translated = copies.translated();
  return compared;
}

}  // namespace

TEST_CASE("a collective's copies give the member-by-member bundle bit for bit (256 GPUs)", "[sim][copies]") {
  // 32 nodes, PP4 DualPipe (dp 64), EP32 over 4 nodes; 4 nodes per leaf: stages span two leaves and
  // the ZeRO rings between a chunk's two holders cross the oversubscribed spine. Each stage's two EP
  // groups are translates of one another inside a leaf: their all-to-alls and handshakes are built once.
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {"cluster.nodes=32", "plan.pp=4", "plan.ep=32", "plan.global_batch_seqs=512",
                               "model.num_layers=8", "model.first_dense_layers=1", "cluster.nodes_per_leaf=4",
                               "cluster.oversubscription=2"}));
  const Compared c = compare_all(p);
  CHECK(c.collectives > 20);
  CHECK(c.translated > 8);
}

TEST_CASE("EP groups across leaves are built member by member, and still agree", "[sim][copies]") {
  // 3 nodes per leaf: the EP32 groups (4 nodes) straddle leaves, so no all-to-all is a translate.
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {"cluster.nodes=32", "plan.pp=4", "plan.ep=32", "plan.global_batch_seqs=512",
                               "model.num_layers=8", "model.first_dense_layers=1", "cluster.nodes_per_leaf=3"}));
  const Compared c = compare_all(p);
  CHECK(c.collectives > 20);
  CHECK(c.translated == 0);
}

TEST_CASE("a collective's copies give the member-by-member bundle bit for bit (tiny)", "[sim][copies]") {
  const ir::StepProgram p(ir::load_scenario("tiny"));
  CHECK(compare_all(p).collectives > 4);
}

TEST_CASE("a collective's copies give the member-by-member bundle bit for bit (2048 GPUs)", "[.slow][sim][copies]") {
  const Compared c = compare_all(ir::StepProgram(ir::load_scenario("deepseek-v3-pretrain")));
  CHECK(c.collectives > 20);
  CHECK(c.translated > 8);
}
