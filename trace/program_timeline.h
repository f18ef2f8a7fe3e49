// The one way a StepProgram plus per-op times becomes a Timeline, for the simulator (`tandem simulate
// --trace`) and the executor (`tandem run/train --trace`) alike: the same op identity (pid = rank,
// `id` = position in the rank's program, `step`), process and thread names, and every op's payload in
// its args, so two traces of one scenario line up op for op and a trace alone is enough to calibrate.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>

#include "ir/step_program.h"
#include "trace/timeline.h"

namespace tandem::trace {

// The times of one op instance, by its position in the rank's RankProgram::ops.
struct OpTiming {
  int64_t start_ns = -1;            // < 0: the op did not run (left out of the timeline)
  int64_t end_ns = -1;
  int32_t sms = -1;                 // SMs it ran on (-1: not known)
  double flops = -1.0;              // measured work; < 0: the payload's (ir::op_flops)
  double bytes = -1.0;              // measured bytes; < 0: the payload's (HBM bytes, or the message size)
};

// Process and thread names of a rank's tracks, as both sides write them.
std::string rank_process_name(const ir::StepProgram& program, int64_t rank);
std::string_view stream_thread_name(int32_t stream);   // "compute", "comm", "p2p"
// The `group` arg of a communication op: "expert", "pipeline", "data", "expert_data", "shared_weight".
std::string_view comm_group_name(ir::CommGroup g);

// Metadata of a timeline of `program`: scenario, source, version and the GPU count.
void set_program_metadata(Timeline& tl, const ir::StepProgram& program, TraceSource source);

// Appends ranks' ops to a timeline and, at finish(), links each pipeline send to its receive (flow
// events) when both ends are in it. Events of a rank are ordered by (stream, start, position).
class ProgramTimelineBuilder {
 public:
  // `step`: the training step the times belong to (written as the `step` arg; 0 for a simulation).
  ProgramTimelineBuilder(Timeline& tl, const ir::StepProgram& program, int64_t step = 0);

  // `ops[i]` are the times of the rank's op i (ops.size() == program_of(rank).ops.size()).
  void add_rank(int64_t rank, std::span<const OpTiming> ops);
  void finish();

 private:
  Timeline& tl_;
  const ir::StepProgram& program_;
  int64_t step_;
  // (sender, receiver, tag) -> event index + 1 of the send and of the receive.
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::pair<uint64_t, uint64_t>> ends_;
};

// Adds the op's payload args (GEMM m/n/k/groups/dtypes/accumulate, attention shape, norm and quantize
// shapes, permute tokens/top_k/hidden, router, collective size/group, bytes per peer of an
// all-to-all, optimizer params) to `e`, the last event of `tl`.
void add_payload_args(Timeline& tl, Event& e, const ir::StepProgram& program, int64_t rank, const ir::OpInstance& op);

}  // namespace tandem::trace
