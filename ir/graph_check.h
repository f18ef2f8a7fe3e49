// Checks of a StepProgram: per rank program, its tensors' identity (unique names, gradient and FP8
// copy links), every op's operand slots against the table of ir/slot_rules.h and that every op's
// inputs are written before they are read; on the dependency graph
// (Boost.Graph), no cycle across ranks (no deadlock), every receive matched by a send, and the
// critical path length in ops.
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
  int64_t identity_errors = 0;       // duplicate names, gradient or FP8-copy links out of place
  int64_t slot_errors = 0;           // op templates whose operand slots are not their row's (ir/slot_rules.h)
  int64_t unwritten_reads = 0;       // inputs read before an op reached through the dependencies wrote them
  int64_t critical_path_ops = 0;     // longest chain of dependent ops, counted in ops
  std::vector<std::string> problems; // readable descriptions (first few)
  bool ok() const {
    return acyclic && unmatched_receives == 0 && unmatched_sends == 0 && identity_errors == 0 && slot_errors == 0 &&
           unwritten_reads == 0;
  }
};

// The checks of one rank program alone. Identity: no two tensors share a name; a gradient's
// gradient_of and an FP8 copy's fp8_copy_of name another tensor of the same shape. Slots: every op
// template has the operand slots its row of the slot table asks for (one error per template). Written before
// read: every input of an op that is not a weight or a step input is written by an op issued before
// it and reached through the dependencies and the stream order (Compute and Comm are in-order
// streams; pipeline transfers complete independently, so a transfer must be a direct dependency): the
// newest such writer for a value, every part issued before the op's gradient_cutoff for an
// accumulating gradient. Adds to `out`'s counts and problems.
void check_rank_program(const RankProgram& rp, GraphCheck& out);

// Checks the ranks of one data-parallel column (dp_index = column) across all pipeline positions:
// with balanced routing every column is the same graph. Collectives are joined as one vertex each.
GraphCheck check_program(const StepProgram& program, int64_t dp_column = 0);

}  // namespace tandem::ir
