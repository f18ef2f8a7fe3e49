// A hand-built program for replay tests: each rank its own role, ops added one by one with their
// stream, dependencies and matching (send/receive pairs and all-to-all groups by tag), so that a test
// can compute the expected timeline by hand.
#pragma once
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "sim/program_view.h"
#include "sim/simulate.h"

namespace tandem::sim::test {

class HandProgram final : public ProgramView {
 public:
  // How expert all-to-alls (dispatch, combine and their gradients) are deduplicated (none by default).
  ExpertRouting routing;
  // SMs the FP8 GEMMs launch on (plan.compute_sms); 0: all of the GPU's.
  int64_t compute_sms_budget = 0;

  explicit HandProgram(int64_t ranks) : programs_(size_t(ranks)), deps_(size_t(ranks)) {
    for (int64_t r = 0; r < ranks; ++r) programs_[size_t(r)].pp_index = int32_t(r);
  }

  // Adds an op to `rank`; returns its index. deps: earlier ops of the same rank.
  int32_t op(int64_t rank, ir::OpPayload payload, ir::Stream stream, ir::Phase phase = ir::Phase::F, int32_t mb = 0,
             std::vector<int32_t> deps = {}, int64_t tag = -1) {
    ir::RankProgram& p = programs_[size_t(rank)];
    ir::OpTemplate t{ir::OpRole::FfnUp, phase, ir::ChunkPart::Other, stream, -1, -1, false, std::move(payload), {}, {}};
    p.templates.push_back(std::move(t));
    p.ops.push_back(ir::OpInstance{int32_t(p.templates.size() - 1), mb, stream, tag});
    deps_[size_t(rank)].push_back(std::move(deps));
    return int32_t(p.ops.size() - 1);
  }
  // The two ends of a point-to-point transfer (tag unique per transfer), each added to its rank's
  // issue order where the test calls it.
  int32_t send(int64_t from, int64_t to, int64_t bytes, int64_t tag, int32_t mb, std::vector<int32_t> deps,
               ir::Phase phase = ir::Phase::F) {
    p2p_[tag] = {from, to};
    ir::Comm c{ir::CommKind::Send, ir::CommGroup::Pipeline, ir::CommPurpose::Activation, bytes, 2, 0};
    return op(from, c, ir::Stream::P2P, phase, mb, std::move(deps), tag);
  }
  int32_t recv(int64_t to, int64_t from, int64_t bytes, int64_t tag, int32_t mb, ir::Phase phase = ir::Phase::F) {
    p2p_[tag] = {from, to};
    ir::Comm c{ir::CommKind::Recv, ir::CommGroup::Pipeline, ir::CommPurpose::Activation, bytes, 2, 0};
    return op(to, c, ir::Stream::P2P, phase, mb, {}, tag);
  }
  // An all-to-all over `group` (each member sends `bytes_per_peer` to every other); one op per member.
  std::vector<int32_t> all_to_all(const std::vector<int64_t>& group, double bytes_per_peer, int64_t sms, int64_t tag,
                                  ir::CommPurpose purpose = ir::CommPurpose::Dispatch) {
    groups_[tag] = group;
    per_peer_[tag] = bytes_per_peer;
    std::vector<int32_t> ops;
    for (int64_t m : group) {
      ir::Comm c{ir::CommKind::AllToAllV, ir::CommGroup::Expert, purpose,
                 int64_t(bytes_per_peer * double(group.size() - 1)), int64_t(group.size()), sms};
      ops.push_back(op(m, c, ir::Stream::Comm, ir::Phase::F, 0, {}, tag));
    }
    return ops;
  }
  // DeepEP's handshake over `group` (CommKind::Notify: `counts_bytes` to each peer, 0 for a cached
  // layout), one op per member on the communication stream.
  std::vector<int32_t> notify(const std::vector<int64_t>& group, int64_t counts_bytes, int64_t sms, int64_t tag) {
    groups_[tag] = group;
    per_peer_[tag] = 0;
    std::vector<int32_t> ops;
    for (int64_t m : group) {
      ir::Comm c{ir::CommKind::Notify, ir::CommGroup::Expert, ir::CommPurpose::Dispatch, counts_bytes, int64_t(group.size()), sms};
      ops.push_back(op(m, c, ir::Stream::Comm, ir::Phase::F, 0, {}, tag));
    }
    return ops;
  }
  // A collective (all-reduce, reduce-scatter, all-gather) of `bytes` per member over `group`; one op per member.
  std::vector<int32_t> collective(const std::vector<int64_t>& group, ir::CommKind kind, int64_t bytes, int64_t sms,
                                  int64_t tag) {
    groups_[tag] = group;
    per_peer_[tag] = 0;
    std::vector<int32_t> ops;
    for (int64_t m : group) {
      ir::Comm c{kind, ir::CommGroup::Data, ir::CommPurpose::GradAllReduce, bytes, int64_t(group.size()), sms};
      ops.push_back(op(m, c, ir::Stream::Comm, ir::Phase::W, 0, {}, tag));
    }
    return ops;
  }
  // Builds the dependency tables; call once after the last op.
  void finish() {
    for (size_t r = 0; r < programs_.size(); ++r) {
      ir::RankProgram& p = programs_[r];
      p.dep_offsets = {0};
      for (const auto& d : deps_[r]) {
        p.deps.insert(p.deps.end(), d.begin(), d.end());
        p.dep_offsets.push_back(int32_t(p.deps.size()));
      }
    }
  }

  std::string name() const override { return "hand"; }
  int64_t num_ranks() const override { return int64_t(programs_.size()); }
  const std::vector<ir::RankProgram>& roles() const override { return programs_; }
  size_t role_of(int64_t rank) const override { return size_t(rank); }
  void ranks_of_role(size_t role, std::vector<int64_t>& out) const override { out = {int64_t(role)}; }
  int64_t representative(size_t role) const override { return int64_t(role); }
  int64_t peer_rank(int64_t rank, const ir::OpInstance& op) const override {
    const auto& [a, b] = p2p_.at(op.tag);
    return rank == a ? b : a;
  }
  void group_ranks(int64_t, const ir::OpInstance& op, std::vector<int64_t>& out) const override { out = groups_.at(op.tag); }
  void a2a_send_bytes(int64_t rank, const ir::OpInstance& op, std::vector<double>& out) const override {
    const auto& g = groups_.at(op.tag);
    out.assign(g.size(), per_peer_.at(op.tag));
    for (size_t i = 0; i < g.size(); ++i)
      if (g[i] == rank) out[i] = 0;
  }
  ExpertRouting expert_routing() const override { return routing; }
  int64_t compute_sms(int64_t gpu_sms) const override { return compute_sms_budget > 0 ? compute_sms_budget : gpu_sms; }
  bool balanced_routing() const override { return true; }
  double tokens_per_step() const override { return 1.0; }

 private:
  std::vector<ir::RankProgram> programs_;
  std::vector<std::vector<std::vector<int32_t>>> deps_;
  std::map<int64_t, std::pair<int64_t, int64_t>> p2p_;
  std::map<int64_t, std::vector<int64_t>> groups_;
  std::map<int64_t, double> per_peer_;
};

// A cluster of `nodes` x `gpus` H800 with one NIC per GPU, one plane per GPU index, one leaf.
inline ir::ClusterConfig test_cluster(int64_t nodes, int64_t gpus) {
  ir::ClusterConfig c;
  c.name = "test";
  c.gpu = "H800";
  c.nodes = nodes;
  c.gpus_per_node = gpus;
  c.nics_per_node = gpus;
  c.planes = gpus;
  c.nodes_per_leaf = 32;
  return c;
}

// Collects executed ops.
struct Records : OpSink {
  std::vector<OpRecord> all;
  void record(const OpRecord& r) override { all.push_back(r); }
  const OpRecord& find(int64_t rank, int32_t op) const {
    for (const OpRecord& r : all)
      if (r.rank == rank && r.op == op) return r;
    throw std::out_of_range("no record of that op");
  }
};

}  // namespace tandem::sim::test
