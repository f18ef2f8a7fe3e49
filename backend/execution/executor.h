// The executor: runs a StepProgram on CPU ranks (threads) the way the simulator replays it. Each rank
// issues its op instances in exactly the program's order onto their streams, waiting (through events)
// for the ops the program says an op depends on, and nothing else. Every op's start and end come from
// events and go into a Timeline.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "backend/execution/runtime.h"
#include "ir/step_program.h"
#include "trace/timeline.h"

namespace tandem::backend {

class InProcessWorld;

// The device-specific parts of the executor. Empty members take the CPU ones: a CpuDevice per rank,
// the in-process communicator, and execute_op (ops.cpp). A CUDA backend supplies its own.
struct ExecutorParts {
  std::function<std::unique_ptr<Device>(int64_t rank)> device;
  std::function<std::unique_ptr<Communicator>(int64_t rank)> communicator;
  std::function<void(RankRuntime& rt, int32_t op, Stream& stream)> run_op;
};

// Token windows of one data-parallel replica: [micro_batches][micro_batch_seqs × (seq_len + 2)].
using ReplicaBatch = std::vector<std::vector<int32_t>>;

class Executor {
 public:
  // Throws std::invalid_argument (with what and why) for plans the CPU backend cannot run.
  Executor(const ir::StepProgram& program, const BackendOptions& options, ExecutorParts parts = {});
  ~Executor();

  const ir::StepProgram& program() const { return program_; }
  int64_t num_ranks() const { return int64_t(ranks_.size()); }
  RankRuntime& rank(int64_t r) { return *ranks_[size_t(r)]; }
  const RankRuntime& rank(int64_t r) const { return *ranks_[size_t(r)]; }

  // One training step: batches[d] feeds the ranks of replica d. Appends the ops to `timeline` when
  // given (times relative to `time_origin_ns`, the clock of cpu_clock_ns). Returns rank 0's stats
  // (every rank holds the same). Rethrows the first failure of any rank.
  StepStats run_step(const std::vector<ReplicaBatch>& batches, const StepConfig& config,
                     trace::Timeline* timeline = nullptr, int64_t time_origin_ns = 0);

  // The ops each op of role `pp_index` makes its stream wait for (ascending): of its program
  // dependencies, the latest on each other stream. With the stream order they are the program's graph.
  const std::vector<std::vector<int32_t>>& stream_waits(int32_t pp_index) const { return waits_[size_t(pp_index)]; }

 private:
  void issue(RankRuntime& rt);
  void append_timeline(trace::Timeline& tl, int64_t origin_ns) const;

  const ir::StepProgram& program_;
  BackendOptions options_;
  ExecutorParts parts_;
  std::shared_ptr<InProcessWorld> world_;   // the default communicator's shared state
  bool failed_ = false;
  std::vector<std::unique_ptr<RankRuntime>> ranks_;
  std::vector<std::vector<std::vector<int32_t>>> waits_;       // per role, per op: see stream_waits
  std::vector<std::vector<std::unique_ptr<Event>>> start_, end_;  // [rank][op]
};

// Per op of a rank program, what the executor makes its stream wait for (ascending): of the program's
// dependencies on each other stream, the latest (events complete in order on their stream; the
// stream's own order covers the rest). Throws std::logic_error on a dependency that is not earlier.
std::vector<std::vector<int32_t>> program_stream_waits(const ir::RankProgram& rp);

// Checks that the CPU backend can run the plan; the message says what and why.
void check_cpu_plan(const ir::StepProgram& program);

// Bytes the CPU backend needs for rank `rank`: parameters with gradients and optimizer state, and
// the activations of every micro-batch (the executor keeps them until the end of the step).
int64_t cpu_memory_estimate_bytes(const ir::StepProgram& program, int64_t rank);

}  // namespace tandem::backend
