// The cost the default layer split balances (ir::StepProgram's op_cost): each kernel's time in the
// default cost model on the SMs the plan gives compute, per micro-batch; communication counts nothing.
#pragma once
#include "ir/scenario.h"
#include "ir/step_program.h"

namespace tandem::hw {

// Modelled nanoseconds of one op template: compute and memory kernels by CostModel::model (the default
// model, no calibration table: the split is a function of the scenario alone) on
// ir::compute_sms_budget SMs; communication ops (all-to-all, pipeline transfers) 0, since their time
// depends on the network and DualPipe hides the all-to-all behind compute. Empty when the scenario's
// GPU is not in the catalogue (the split is then even).
ir::OpCostFn modelled_op_cost(const ir::Scenario& scenario);

}  // namespace tandem::hw
