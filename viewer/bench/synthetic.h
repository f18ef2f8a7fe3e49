// Synthetic pipeline-parallel timelines for the viewer benchmark and scale tests: PP stages x DP
// ranks running 1F1B with split backward (F, B, W chunks of MLA + MoE layers at kernel
// granularity), expert all-to-all on stream 1, pipeline send/recv with flows on stream 2, and the
// data-parallel reduce-scatter, optimizer and all-gather at the end. Deterministic for a seed.
#pragma once
#include <cstdint>

#include "trace/timeline.h"

namespace tandem::viewer::bench {

struct SyntheticParams {
  int pp = 4;                        // pipeline stages
  int dp = 2;                        // ranks per stage
  int micro_batches = 8;
  int layers_per_stage = 2;
  uint64_t seed = 1;
};

trace::Timeline synthetic_timeline(const SyntheticParams& p);

// Parameters whose written trace is close to `target_bytes`: `base` with dp grown (pp fixed) after
// measuring one stage's bytes per rank.
SyntheticParams params_for_bytes(SyntheticParams base, int64_t target_bytes);

}  // namespace tandem::viewer::bench
