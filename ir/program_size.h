// The size of a scenario's StepProgram, estimated before it is built (op instances and heap bytes),
// and the bound that refuses what this machine cannot hold: a plan of 2^20 micro-batches or of 2048
// stages over 4096 layers is refused in milliseconds instead of growing until memory runs out.
#pragma once
#include <cstdint>

#include "ir/scenario.h"

namespace tandem::ir {

struct ProgramSizeEstimate {
  double op_instances = 0;          // what StepProgram::total_op_instances() would return
  double bytes = 0;                 // what StepProgram::memory_footprint_bytes() would return
  double ops_per_micro_batch = 0;   // summed over the model's chunks
  double step_ops = 0;              // once per step (gradient reductions, optimizer, gathers)
};

// Counts the op templates of one dense and one MoE layer and of the model's ends by building the
// program of a one-rank, one-micro-batch scenario with two or three layers of the same shapes, then
// scales by the plan's layers, chunks and micro-batches. Costs milliseconds whatever the plan.
ProgramSizeEstimate estimate_program_size(const Scenario& s);

// The most op instances a program may have, whatever the memory (the simulator's and the
// executor's state per op adds several times the program's own bytes).
inline constexpr double kMaxProgramOps = 50e6;
// The share of this machine's physical memory a program may take.
inline constexpr double kMaxProgramMemoryShare = 0.25;

// Throws ScenarioError naming the plan's fields and the numbers when the estimate passes either bound.
void check_program_size(const Scenario& s);

}  // namespace tandem::ir
