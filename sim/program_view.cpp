// The StepProgram implementation of ProgramView.
#include "sim/program_view.h"

#include "ir/domain_layout.h"
#include "ir/memory.h"

namespace tandem::sim {

StepProgramView::StepProgramView(const ir::StepProgram& program) : program_(program) {
  for (const ir::RankMemory& m : ir::rank_memory(program))
    static_bytes_.push_back(m.weight_bytes + m.gradient_bytes + m.optimizer_bytes);
}

void StepProgramView::ranks_of_role(size_t role, std::vector<int64_t>& out) const {
  const int64_t per_stage = program_.plan().ranks_per_stage();   // a stage's ranks (dp × tp) are adjacent
  out.clear();
  for (int64_t d = 0; d < per_stage; ++d) out.push_back(int64_t(role) * per_stage + d);
}

bool StepProgramView::roles_alike_on_domains(const ir::ClusterConfig& cluster) const {
  const ir::ParallelPlan& p = program_.plan();
  // Leaf switches cut the stages too: a group inside one leaf pays the leaf's latency, one across leaves
  // the spine's, so with several leaves their boundaries must fall alike for every stage (as domains').
  const int64_t leaf = cluster.nodes_per_leaf * cluster.gpus_per_node;
  const bool one_leaf = leaf <= 0 || leaf >= cluster.world_size();
  return ir::stage_ranks_alike_on_domains(p.dp * p.tp, p.ep, cluster.domain_size()) &&
         (one_leaf || ir::stage_ranks_alike_on_domains(p.dp * p.tp, p.ep, leaf));
}

ExpertRouting StepProgramView::expert_routing() const {
  const auto& m = program_.model();
  const auto& p = program_.plan();
  ExpertRouting r;
  if (m.routed_experts <= 0 || m.experts_per_token <= 0) return r;
  r.top_k = m.experts_per_token;
  r.experts_per_rank = std::max<int64_t>(1, m.routed_experts / std::max<int64_t>(1, p.ep));
  r.max_nodes_per_token = p.max_nodes_per_token;
  return r;
}

int64_t StepProgramView::compute_sms(int64_t gpu_sms) const {
  const auto& m = program_.model();
  // The expert all-to-all exists when a layer is an MoE layer (the MTP module's is one).
  const bool expert_all_to_all = m.moe_layers() > 0 || m.mtp_depth > 0;
  return ir::compute_sms_budget(program_.plan(), gpu_sms, expert_all_to_all);
}

}  // namespace tandem::sim
