// make_step_program: ir::StepProgram with hw::modelled_op_cost (an even split without hw/).
#include "app/program_build.h"

#include <utility>

#ifdef TANDEM_HW
#include "hw/stage_cost.h"
#endif

namespace tandem::app {

ir::StepProgram make_step_program(ir::Scenario scenario) {
#ifdef TANDEM_HW
  ir::OpCostFn cost = hw::modelled_op_cost(scenario);
  return ir::StepProgram(std::move(scenario), cost);
#else
  return ir::StepProgram(std::move(scenario));
#endif
}

}  // namespace tandem::app
