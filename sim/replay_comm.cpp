// Communication in a replay: matching the ends of each transfer or collective (collectives start
// when every simulated member has issued them; a send when its sender has), building link loads
// once per shape, and completing the members when the last byte has arrived.
// On the symmetric path a rank stands for its whole role: members that are not simulated are taken
// to issue with their role's representative, and a collective's loads are those of every copy of
// the role moving in step, kept on the links of the simulated GPUs and the switch links of their leaves
// (those of the others carry no more: docs/simulator.md, "Full, symmetric and class paths").
#include <algorithm>
#include <stdexcept>

#include "sim/copy_bundle.h"
#include "sim/replay.h"

namespace tandem::sim::detail {

int64_t Replay::mapped(int64_t rank) const {
  if (mode_ == Mode::Symmetric) return program_.representative(program_.role_of(rank));
  if (mode_ == Mode::Classes) return classes_.ranks[classes_.of_rank[size_t(rank)]].front();
  return rank;
}

const GroupInfo& Replay::group_info(RankState& r, const ir::OpInstance& op) {
  GroupInfo& g = r.groups[size_t(roles_[r.role].comm_index[size_t(op.tmpl)])];
  if (g.leader >= 0) return g;
  // Another simulated rank of the same group asked first (a data-parallel group is asked by each of
  // its simulated members, for each of its templates): its leader and count stand.
  const ir::StepProgram::GroupKey key = program_.group_key(r.rank, op);
  if (key.kind >= 0)
    if (auto it = group_members_.find(key); it != group_members_.end()) {
      g.leader = it->second.first;
      g.expected = it->second.second;
      return g;
    }
  program_.group_ranks(r.rank, op, scratch_group_);
  // The simulated ranks standing for the members: counted by marking their slots, in time linear in the
  // group (a data-parallel group holds every rank of two stages).
  if (slot_mark_.size() != ranks_.size()) slot_mark_.assign(ranks_.size(), 0);
  ++mark_;
  g.leader = -1;
  g.expected = 0;
  for (int64_t m : scratch_group_) {
    const int64_t s = mapped(m);
    uint32_t& seen = slot_mark_[size_t(slot_of_[size_t(s)])];
    if (seen == mark_) continue;
    seen = mark_;
    g.leader = g.leader < 0 ? s : std::min(g.leader, s);
    g.expected += 1;
  }
  if (key.kind >= 0) group_members_.emplace(key, std::make_pair(g.leader, g.expected));
  return g;
}

void Replay::start_comm(uint32_t slot, int32_t op) {
  RankState& r = ranks_[slot];
  const ir::OpInstance& inst = roles_[r.role].prog->ops[size_t(op)];
  const ir::Comm& c = std::get<ir::Comm>(roles_[r.role].prog->templates[size_t(inst.tmpl)].payload);
  if (comm_sms(c) > 0) {
    pool_of(r).hold(comm_sms(c));
    rerate(slot);
  }
  CollKey key{inst.tag, 0, 0};
  int32_t expected = 2;
  if (c.kind == ir::CommKind::Send) {
    key.a = r.rank;
    key.b = mapped(program_.peer_rank(r.rank, inst));
  } else if (c.kind == ir::CommKind::Recv) {
    key.a = mapped(program_.peer_rank(r.rank, inst));
    key.b = r.rank;
  } else {
    const GroupInfo& g = group_info(r, inst);
    key.a = g.leader;
    key.b = -1 - int64_t(c.group);
    expected = g.expected;
  }
  auto [it, inserted] = pending_.try_emplace(key, 0u);
  if (inserted) {
    uint32_t cid;
    if (!free_colls_.empty()) {
      cid = free_colls_.back();
      free_colls_.pop_back();
    } else {
      cid = uint32_t(colls_.size());
      colls_.emplace_back();
    }
    Collective& nc = colls_[cid];
    nc.key = key;
    nc.expected = expected;
    nc.arrived = 0;
    nc.members.clear();
    nc.completed = 0;
    nc.bundle = -1;
    nc.p2p = c.kind == ir::CommKind::Send || c.kind == ir::CommKind::Recv;
    nc.delivered = false;
    it->second = cid;
  }
  const uint32_t cid = it->second;
  Collective& cc = colls_[cid];
  cc.members.push_back(Collective::Member{slot, op, now_});
  cc.arrived += 1;
  if (cc.arrived == cc.expected) pending_.erase(it);
  if (cc.p2p) {
    if (c.kind == ir::CommKind::Send)
      launch(cid);
    else if (cc.delivered)
      queue_.push(now_, kCommDone, cid, 0);   // the data is already here
  } else if (cc.arrived == cc.expected) {
    launch(cid);
  }
}

void Replay::launch(uint32_t cid) {
  const int32_t bi = bundle_for(colls_[cid]);
  Collective& c = colls_[cid];
  c.bundle = bi;
  const Bundle& b = *bundles_[size_t(bi)];
  for (size_t k = 0; k < b.exact_by_kind.size(); ++k) link_bytes_[k] += b.exact_by_kind[k];
  if (!(b.bytes > 0) || b.loads.empty()) {
    queue_.push(now_ + b.latency_ns, kCommDone, cid, 0);
    return;
  }
  if (b.kernel_cap_bytes_per_s > 0) {
    const int32_t first_kernel = builder_.kernel_link(0);
    for (const LinkLoad& l : b.loads)
      if (l.link >= first_kernel) net_.set_capacity(l.link, b.kernel_cap_bytes_per_s);
  }
  net_.start(now_, b.loads, b.bytes, b.flows, cid);
}

void Replay::comm_done(uint32_t cid) {
  colls_[cid].delivered = true;
  // Index-based: completing an op may start others that add collectives (and grow colls_).
  while (colls_[cid].completed < colls_[cid].members.size()) {
    const auto [slot, op, start] = colls_[cid].members[colls_[cid].completed++];
    RankState& r = ranks_[slot];
    const ir::OpInstance& inst = roles_[r.role].prog->ops[size_t(op)];
    const ir::Comm& c = std::get<ir::Comm>(roles_[r.role].prog->templates[size_t(inst.tmpl)].payload);
    const int s = int(inst.stream);
    r.stats.comm_sm_ns += double(now_ - start) * double(comm_sms(c));
    if (comm_sms(c) > 0) {
      pool_of(r).release(comm_sms(c));
      rerate(slot);
    }
    complete_op(slot, s, op, start);
  }
  if (colls_[cid].arrived == colls_[cid].expected) {
    colls_[cid].members.clear();
    free_colls_.push_back(cid);
  }
}

int32_t Replay::bundle_for(const Collective& coll) {
  auto comm_at = [&](const Collective::Member& m) -> const ir::Comm& {
    const RankState& r = ranks_[m.slot];
    return std::get<ir::Comm>(roles_[r.role].prog->templates[size_t(roles_[r.role].prog->ops[size_t(m.op)].tmpl)].payload);
  };
  const ir::Comm& front = comm_at(coll.members.front());
  const bool p2p = front.kind == ir::CommKind::Send || front.kind == ir::CommKind::Recv;
  // The key names the collective by its first member, a transfer by its send (launched once the send is
  // issued, whether or not the receive was posted first: the same loads either way).
  const Collective::Member& m0 = p2p && front.kind == ir::CommKind::Recv ? coll.members.back() : coll.members.front();
  const auto& [slot0, op0, start0] = m0;
  const RankState& r0 = ranks_[slot0];
  const ir::OpInstance& inst0 = roles_[r0.role].prog->ops[size_t(op0)];
  const ir::Comm& c0 = comm_at(m0);
  if (p2p && c0.kind != ir::CommKind::Send) throw std::logic_error("a transfer launched before its send was issued");
  // A collective's key below is a function of its first member's rank and template: remembered there.
  GroupInfo* remembered = nullptr;
  if (!p2p) {
    remembered = &ranks_[slot0].groups[size_t(roles_[r0.role].comm_index[size_t(inst0.tmpl)])];
    if (remembered->bundle >= 0) return remembered->bundle;
  }
  BundleKey key{coll.key.a, p2p ? coll.key.b : -1, c0.bytes, int32_t(comm_sms(c0)), uint8_t(c0.kind), uint8_t(c0.purpose),
                uint8_t(c0.group)};
  if (auto it = bundle_cache_.find(key); it != bundle_cache_.end()) {
    if (remembered) remembered->bundle = it->second;
    return it->second;
  }

  builder_.clear();
  auto add_member = [&](int64_t m, const ir::OpInstance& inst, const ir::Comm& c) {
    switch (c.kind) {
      case ir::CommKind::Send: builder_.p2p(m, program_.peer_rank(m, inst), double(c.bytes), comm_sms(c)); break;
      case ir::CommKind::Recv: break;
      case ir::CommKind::AllToAllV:
        program_.group_ranks(m, inst, scratch_group_);
        program_.a2a_send_bytes(m, inst, scratch_bytes_);
        builder_.all_to_all(m, scratch_group_, scratch_bytes_, c.purpose, comm_sms(c));
        break;
      case ir::CommKind::Notify:
        program_.group_ranks(m, inst, scratch_group_);
        builder_.handshake(m, scratch_group_, double(c.bytes));
        break;
      case ir::CommKind::AllReduce:
      case ir::CommKind::ReduceScatter:
      case ir::CommKind::AllGather: {
        program_.group_ranks(m, inst, scratch_group_);
        const int64_t n = int64_t(scratch_group_.size());
        const double buffer = c.kind == ir::CommKind::AllGather ? double(n) * double(c.bytes) : double(c.bytes);
        const int64_t steps = (c.kind == ir::CommKind::AllReduce ? 2 : 1) * (n - 1);
        builder_.ring(m, scratch_group_, hw::bus_bytes_factor(c.kind, n) * buffer, steps, comm_sms(c));
        break;
      }
    }
  };
  auto comm_of = [&](uint32_t slot, int32_t op) -> std::pair<const ir::OpInstance*, const ir::Comm*> {
    const RankState& r = ranks_[slot];
    const ir::OpInstance& inst = roles_[r.role].prog->ops[size_t(op)];
    return {&inst, &std::get<ir::Comm>(roles_[r.role].prog->templates[size_t(inst.tmpl)].payload)};
  };

  Bundle bundle;
  if (mode_ == Mode::Full) {
    for (const auto& [slot, op, start] : coll.members) {
      auto [inst, c] = comm_of(slot, op);
      add_member(ranks_[slot].rank, *inst, *c);
    }
    bundle = builder_.finish(nullptr);
  } else {
    // Every rank of each role taking part, each in its own copy of the collective (sim/copy_bundle.h).
    std::vector<std::vector<int64_t>> role_ranks(coll.members.size());
    std::vector<CopyMember> copies;
    for (const auto& [slot, op, start] : coll.members) {
      auto [inst, c] = comm_of(slot, op);
      const int64_t rep = ranks_[slot].rank;
      if (mode_ == Mode::Classes) {
        copies.push_back(CopyMember{inst, c, comm_sms(*c), classes_.ranks[classes_.of_rank[size_t(rep)]]});
        continue;
      }
      program_.ranks_of_role(ranks_[slot].role, role_ranks[copies.size()]);
      copies.push_back(CopyMember{inst, c, comm_sms(*c), role_ranks[copies.size()]});
    }
    bundle = CopyBundleBuilder(program_, topology_, builder_).build(copies, kept_link_);
  }
  bundles_.push_back(std::make_unique<Bundle>(std::move(bundle)));
  const int32_t id = int32_t(bundles_.size() - 1);
  bundle_cache_.emplace(key, id);
  if (remembered) remembered->bundle = id;
  return id;
}

}  // namespace tandem::sim::detail
