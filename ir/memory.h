// Memory per rank of a StepProgram: BF16 weights, FP32 gradients, ZeRO-1-sharded optimizer state
// (FP32 master weights and two BF16 moments) and the peak of activations kept for the backward
// pass under the chosen schedule.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/step_program.h"

namespace tandem::ir {

struct RankMemory {
  int32_t pp_index = 0;
  std::vector<int32_t> chunks;
  int64_t params = 0;                 // parameters held (this rank's experts only)
  int64_t weight_bytes = 0;           // BF16 working weights
  int64_t gradient_bytes = 0;         // FP32 gradient accumulators
  int64_t optimizer_bytes = 0;        // FP32 master + BF16 m and v, this rank's ZeRO shard
  int64_t activation_bytes_per_mb = 0;  // saved per micro-batch, largest chunk of the rank
  int32_t peak_live_micro_batches = 0;  // from the schedule (micro-batch-chunk units)
  int64_t activation_peak_bytes = 0;
  int64_t total_bytes() const { return weight_bytes + gradient_bytes + optimizer_bytes + activation_peak_bytes; }
};

std::vector<RankMemory> rank_memory(const StepProgram& program);

}  // namespace tandem::ir
