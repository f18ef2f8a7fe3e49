// What a checkpoint records of the run that wrote it, so that it is resumed only into the same
// training: every field of the model and the plan fields that shape the step's math (sequence
// length, sequences per step, the precision recipe). The layout (pp, dp, ep, schedule, micro-batches)
// is left out: a checkpoint holds whole tensors, and one rank resumes what four wrote.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "ir/step_program.h"

namespace tandem::backend {

// {"model": {...every ModelConfig field but its name...}, "plan": {"seq_len", "global_batch_seqs", "precision": {...}}}
nlohmann::json checkpoint_fingerprint(const ir::StepProgram& program);

// The fields in which a checkpoint's fingerprint and this run's differ, as one line
// ("model.num_layers: 4 in the checkpoint, 2 in this run; ..."; at most `max_listed`, then a count),
// or "" when they agree.
std::string fingerprint_differences(const nlohmann::json& checkpoint, const nlohmann::json& run, size_t max_listed = 3);

}  // namespace tandem::backend
