// The training loop of `tandem train`: token windows from the sampler for every data-parallel
// replica, a learning-rate schedule (linear warm-up, cosine decay), one executor step per training
// step, a JSON line per step in the log, checkpoints every K steps, and resuming from the newest one.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/training/checkpoint.h"
#include "backend/training/data/sampler.h"
#include "backend/execution/executor.h"
#include "trace/timeline.h"

namespace tandem::backend {

struct TrainOptions {
  int64_t steps = 100;               // the step the run ends at (a resumed run continues up to it)
  uint64_t seed = 1;                 // initialisation and data order
  std::string checkpoint_dir;        // empty: no checkpoints
  int64_t checkpoint_every = 0;      // 0: only at the end (when checkpoint_dir is set)
  std::string resume;                // checkpoint file or directory (newest complete checkpoint)
  std::string log_path;              // JSON lines, one per step
  int64_t trace_steps = 0;           // record the timeline of the first N steps of this run
  double lr = 3e-3;
  double min_lr_ratio = 0.1;         // cosine decay to lr × ratio at `steps`
  int64_t warmup = 20;
  StepConfig step;                   // betas, eps, weight decay, clipping, spike rule (lr/step set per step)
  int64_t inject_nan_step = -1;      // tests: a NaN enters the main loss's backward at this step
  BackendOptions backend;
  ExecutorParts parts;               // empty: the CPU device, communicator and ops (CUDA: cuda_executor_parts)
};

struct StepLog {
  int64_t step = 0;
  double lr = 0;
  double seconds = 0;
  double tokens_per_s = 0;
  StepStats stats;
};

class Trainer {
 public:
  // `data` must outlive the trainer. Throws DataError for data that does not fit the model.
  Trainer(const ir::StepProgram& program, const TrainOptions& options, const TokenFile& data, std::string data_source);
  // Loads options.resume when set. Throws CheckpointError before anything is written, also for a
  // checkpoint of another model or plan (checkpoint_fingerprint.h) or one that records neither.
  void prepare();
  // Runs steps start_step()+1 .. options.steps; on_step is called after each. A log line or a
  // checkpoint that cannot be written stops the run with io::OutputError (what was written is whole).
  std::vector<StepLog> run(const std::function<void(const StepLog&)>& on_step = {});

  int64_t start_step() const { return start_step_; }
  const std::string& resumed_from() const { return resumed_from_; }
  Executor& executor() { return *executor_; }
  trace::Timeline& timeline() { return timeline_; }
  double lr_at(int64_t step) const;
  Checkpoint checkpoint(int64_t step) const;
  // The windows of one step for every replica (advances the sampler).
  std::vector<ReplicaBatch> next_batches();

 private:
  const ir::StepProgram& program_;
  TrainOptions options_;
  const TokenFile& data_;
  std::string data_source_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<TokenSampler> sampler_;
  trace::Timeline timeline_;
  int64_t start_step_ = 0;
  int64_t trace_origin_ = 0;
  std::string resumed_from_;
};

// One JSON object (a line of the training log) for a step.
std::string step_log_json(const StepLog& log);

// The bytes of the training log at `path` that end with the line of step `step`: its leading whole lines
// that are step objects of steps up to `step` (a run killed after its last checkpoint logged steps it
// will run again once resumed; a line cut by the kill ends the kept part too). 0 when there is no such
// regular file (a FIFO or a device is not read: AppendFile::cut_back leaves those alone).
uint64_t log_bytes_through_step(const std::string& path, int64_t step);

}  // namespace tandem::backend
