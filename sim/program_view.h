// What the replay needs from a training-step program, as one interface: the shared per-role
// programs, which role a rank plays, and the cross-rank matching of its communication. The
// StepProgram of ir/ is the implementation the product uses; tests may hand-build small programs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/step_program.h"

namespace tandem::sim {

// How routed tokens spread over an expert-parallel group (for DeepEP's node deduplication).
// top_k == 0: not an expert all-to-all model (plain per-peer transfers).
struct ExpertRouting {
  int64_t top_k = 0;
  int64_t experts_per_rank = 1;
  int64_t max_nodes_per_token = 0;   // 0: no node limit
};

class ProgramView {
 public:
  virtual ~ProgramView() = default;
  virtual std::string name() const = 0;
  virtual int64_t num_ranks() const = 0;
  virtual const std::vector<ir::RankProgram>& roles() const = 0;
  virtual size_t role_of(int64_t rank) const = 0;
  // The ranks playing `role`, ascending; the first is its representative on the symmetric path.
  virtual void ranks_of_role(size_t role, std::vector<int64_t>& out) const = 0;
  virtual int64_t representative(size_t role) const = 0;
  virtual int64_t peer_rank(int64_t rank, const ir::OpInstance& op) const = 0;
  virtual void group_ranks(int64_t rank, const ir::OpInstance& op, std::vector<int64_t>& out) const = 0;
  // A name for the group of a collective op, when the program has one (kind >= 0): equal keys, equal
  // group_ranks, so that what is derived from a group is derived once.
  virtual ir::StepProgram::GroupKey group_key(int64_t /*rank*/, const ir::OpInstance& /*op*/) const { return {}; }
  virtual void a2a_send_bytes(int64_t rank, const ir::OpInstance& op, std::vector<double>& out) const = 0;
  // True when every rank of a role sends and receives the same bytes (the symmetric path's premise).
  virtual bool balanced_routing() const = 0;
  virtual ExpertRouting expert_routing() const { return {}; }
  // Whether every rank of a role sits alike on the cluster's scale-up domains and leaf switches (the
  // symmetric and class paths' condition beside balanced routing; ir/domain_layout.h).
  virtual bool roles_alike_on_domains(const ir::ClusterConfig& /*cluster*/) const { return true; }
  // SMs the FP8 GEMMs launch on, on a GPU of `gpu_sms` SMs (DeepGEMM's set_num_sms); such a kernel
  // gets the smaller of this and what communication kernels leave. Must lie in 1..gpu_sms.
  virtual int64_t compute_sms(int64_t gpu_sms) const { return gpu_sms; }
  // Bytes resident for the whole step on a rank of `role`: weights, gradients, optimizer state.
  virtual int64_t static_bytes(size_t /*role*/) const { return 0; }
  virtual double tokens_per_step() const = 0;
};

// The product's program: a view of an ir::StepProgram (which must outlive it).
class StepProgramView final : public ProgramView {
 public:
  explicit StepProgramView(const ir::StepProgram& program);
  std::string name() const override { return program_.scenario().name; }
  int64_t num_ranks() const override { return program_.num_ranks(); }
  const std::vector<ir::RankProgram>& roles() const override { return program_.roles(); }
  size_t role_of(int64_t rank) const override { return size_t(rank / program_.plan().ranks_per_stage()); }
  void ranks_of_role(size_t role, std::vector<int64_t>& out) const override;
  int64_t representative(size_t role) const override { return int64_t(role) * program_.plan().ranks_per_stage(); }
  int64_t peer_rank(int64_t rank, const ir::OpInstance& op) const override { return program_.peer_rank(rank, op); }
  void group_ranks(int64_t rank, const ir::OpInstance& op, std::vector<int64_t>& out) const override {
    out = program_.group_ranks(rank, op);
  }
  ir::StepProgram::GroupKey group_key(int64_t rank, const ir::OpInstance& op) const override {
    return program_.group_key(rank, op);
  }
  void a2a_send_bytes(int64_t rank, const ir::OpInstance& op, std::vector<double>& out) const override {
    out = program_.a2a_send_bytes(rank, op);
  }
  bool balanced_routing() const override { return program_.plan().routing.kind == ir::RoutingKind::Balanced; }
  bool roles_alike_on_domains(const ir::ClusterConfig& cluster) const override;
  ExpertRouting expert_routing() const override;
  int64_t compute_sms(int64_t gpu_sms) const override;
  int64_t static_bytes(size_t role) const override { return static_bytes_[role]; }
  double tokens_per_step() const override { return double(program_.plan().global_batch_tokens()); }
  const ir::StepProgram& program() const { return program_; }

 private:
  const ir::StepProgram& program_;
  std::vector<int64_t> static_bytes_;
};

}  // namespace tandem::sim
