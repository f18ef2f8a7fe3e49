// `tandem simulate --trace`: the ranks to keep in the timeline (--trace-ranks, io/rank_list.h) and the
// chunk-pair window (--trace-pair STAGE: one steady-state DualPipe pair of one stage, re-based to its
// start, to line up with a profiler capture of one pair). The timeline itself is sim::TimelineSink's,
// built by trace/'s one builder of program timelines (the executor's too).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/rank_list.h"
#include "ir/chunk_pair.h"
#include "sim/timeline_sink.h"

namespace tandem::app {

using sim::TimelineSink;   // the simulator's timeline (sim/timeline_sink.h)

// Cuts `tl` to the ops of `pair` on rank `rank` (a rank of the pair's stage) and moves time so the
// pair starts at 0; flows are dropped (the pair's pipeline sends and receives are left out). The
// metadata says which pair was kept (trace_pair_stage, trace_pair_forward, trace_pair_backward as
// "mb M chunk C", trace_pair_start_ns: where the pair started in the step).
void keep_chunk_pair(trace::Timeline& tl, const ir::StepProgram& program, int64_t rank, const ir::ChunkPair& pair);

}  // namespace tandem::app
