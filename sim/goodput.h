// Goodput at scale: the share of wall-clock time a synchronous training job makes progress, from its
// interruptions per GPU-hour (ir::ReliabilityConfig), checkpoint write and load times (per-rank state
// over a storage bandwidth), restart and re-warm-up, and the work lost since the last checkpoint; the
// checkpoint interval by Young/Daly or as given. The model and its sources: docs/goodput.md.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ir/reliability_config.h"
#include "ir/step_program.h"

namespace tandem::sim {

struct GoodputInputs {
  int64_t gpus = 0;
  double step_s = 0;                     // simulated step time
  double tokens_per_step = 0;
  double checkpoint_bytes_per_rank = 0;  // the largest rank's share of the checkpoint
  ir::ReliabilityConfig reliability;
};

struct Goodput {
  double unexpected_per_day = 0, planned_per_day = 0, interruptions_per_day = 0;
  double mean_time_between_interruptions_s = 0;   // of all kinds
  double checkpoint_bytes = 0;                    // whole job: gpus x the largest rank's share
  double checkpoint_write_s = 0, checkpoint_load_s = 0;
  double checkpoint_interval_s = 0;               // training time between checkpoints (0: never)
  bool interval_given = false;                    // false: Young/Daly
  double lost_work_s = 0;                         // expected per unexpected interruption
  double downtime_per_interruption_s = 0;         // restart + load + warm-up
  // Shares of wall-clock time: effective + checkpoint + lost work + downtime = 1 (when effective > 0).
  double effective_fraction = 0, checkpoint_fraction = 0, lost_work_fraction = 0, downtime_fraction = 0;
  double tokens_per_day = 0;
  double train_tokens = 0, days_to_train = 0;     // 0: no token budget given
};

Goodput goodput(const GoodputInputs& in);

// The inputs of a simulated step: the checkpoint holds each rank's optimizer state (FP32 master
// weights and both moments, ir::rank_memory; BF16 weights are recomputed from the master copy), the
// ZeRO-0 replicas of a stage sharing its write.
GoodputInputs goodput_inputs(const ir::StepProgram& program, double step_s, double tokens_per_step);

nlohmann::json to_json(const Goodput& g);
std::string to_table(const Goodput& g);

}  // namespace tandem::sim
