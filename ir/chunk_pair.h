// One steady-state chunk pair of a pipeline position, as a profiler capture of one shows it: a
// DualPipe forward chunk overlapped with a backward chunk. Which ops of the rank's program belong
// to it, so a simulated timeline can be cut to the window a real profile holds.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/schedule.h"
#include "ir/step_program.h"

namespace tandem::ir {

struct ChunkPair {
  int32_t pp_index = 0;
  int32_t task = 0;        // position in the rank's chunk order (ir::chunk_order)
  ChunkTask chunks;        // kind ForwardBackward: the forward chunk fwd, the backward chunk bwd
};

// The middle overlapped pair (ChunkKind::ForwardBackward) of pipeline position `pp_index`'s chunk
// order: past the warm-up, before the cool-down. Throws std::invalid_argument naming `option` when
// the position is out of range or the schedule overlaps no forward with a backward (1f1b, zb1p).
ChunkPair steady_chunk_pair(const StepProgram& program, int64_t pp_index, const char* option);

// Per op of the position's RankProgram: whether it belongs to the pair. Forward ops (phase F) of the
// forward chunk's micro-batch and chunk, backward ops (B and W, recomputations included) of the
// backward chunk's, and the expert all-to-all of either; not the pipeline's send and receive (a
// capture of one pair leaves them out) nor step-wide ops (gradient collectives, the optimizer).
std::vector<bool> chunk_pair_ops(const StepProgram& program, const ChunkPair& pair);

}  // namespace tandem::ir
