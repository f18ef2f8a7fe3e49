// modelled_op_cost: the default cost model's kernel time on the plan's compute SMs, for balancing the
// stages of the default layer split.
#include "hw/stage_cost.h"

#include "hw/cost_model.h"
#include "hw/gpu_catalogue.h"

namespace tandem::hw {

ir::OpCostFn modelled_op_cost(const ir::Scenario& scenario) {
  const GpuSpec* gpu = find_gpu(scenario.cluster.gpu);
  if (!gpu) return {};
  const auto& m = scenario.model;
  // The expert all-to-all exists when a layer is an MoE layer (the MTP module's is one).
  const bool expert_all_to_all = m.moe_layers() > 0 || m.mtp_depth > 0;
  const int64_t sms = ir::compute_sms_budget(scenario.plan, gpu->sms, expert_all_to_all);
  const CostModel model(*gpu);
  return [model, sms](const ir::OpTemplate& t) -> int64_t {
    if (ir::kind_of(t.payload) == ir::OpKind::Comm) return 0;
    return model.model(t.payload, sms).ns;
  };
}

}  // namespace tandem::hw
