// The one way the commands build a scenario's StepProgram: with the cost model's op costs when hw/ is
// built, so the default layer split balances the stages the same in inspect, simulate, run and train.
#pragma once
#include "ir/scenario.h"
#include "ir/step_program.h"

namespace tandem::app {

ir::StepProgram make_step_program(ir::Scenario scenario);

}  // namespace tandem::app
