// Checks of a StepProgram on its dependency graph (Boost.Graph): no cycle across ranks (no
// deadlock), every receive matched by a send, and the critical path length in ops.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/step_program.h"

namespace tandem::ir {

struct GraphCheck {
  bool acyclic = false;
  int64_t vertices = 0, edges = 0;
  int64_t unmatched_receives = 0, unmatched_sends = 0;
  int64_t critical_path_ops = 0;     // longest chain of dependent ops, counted in ops
  std::vector<std::string> problems; // readable descriptions (first few)
  bool ok() const { return acyclic && unmatched_receives == 0 && unmatched_sends == 0; }
};

// Checks the ranks of one data-parallel column (dp_index = column) across all pipeline positions:
// with balanced routing every column is the same graph. Collectives are joined as one vertex each.
GraphCheck check_program(const StepProgram& program, int64_t dp_column = 0);

}  // namespace tandem::ir
