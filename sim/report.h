// The report of a simulated step: throughput, MFU (BF16 and FP8 bases, attention counted full and
// causal), GPU-hours per trillion tokens, the phase breakdown, bubble and exposed communication,
// SM-time split, link utilisation and peak memory per stage against the GPU (out-of-memory flag).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/step_program.h"
#include "sim/simulate.h"

namespace tandem::sim {

struct StageReport {
  int64_t stage = 0;                  // pipeline position (role)
  int64_t ranks = 0;
  double bubble_s = 0, exposed_comm_s = 0;   // mean over the stage's ranks
  int64_t static_bytes = 0;           // weights, gradients, optimizer state
  int64_t activation_peak_bytes = 0;  // largest over the stage's ranks
  int64_t memory_peak_bytes = 0;      // static + activations
  bool out_of_memory = false;
};

// The layer split and how evenly it loads the pipeline stages: each stage's modelled compute time per
// micro-batch (forward + backward of the chunks it holds, in the cost model the default split balances;
// ir::StepProgram::layer_split). Empty (no split) when the program was built without op costs.
struct StageBalance {
  std::string split;                      // "balanced", "given" (plan.layers_per_stage) or "even"
  std::vector<int64_t> layers_per_chunk;  // model chunks in model order
  std::vector<int64_t> stage_layers;      // per pipeline stage: layers over the chunks it holds
  std::vector<double> stage_modelled_s;   // per pipeline stage
  double max_over_mean = 0;               // largest stage time over the mean
  int64_t pace_stage = -1;                // the stage with the largest time (the lowest on ties)
};
StageBalance stage_balance(const ir::StepProgram& program);

struct Report {
  std::string scenario, mode, gpu;
  int64_t gpus = 0;
  double step_time_s = 0, tokens_per_step = 0, tokens_per_s = 0, tokens_per_s_per_gpu = 0;
  double mfu_bf16 = 0, mfu_fp8 = 0, mfu_bf16_causal = 0, mfu_fp8_causal = 0;
  double gpu_hours_per_trillion_tokens = 0;
  double bubble_fraction = 0, exposed_comm_fraction = 0;
  // trace/'s measures, means over ranks (docs/timeline.md, "Measures"): forward + backward_input +
  // backward_weight + optimizer + other_compute + bubble + exposed comm = step time. steady_s: from a
  // rank's first backward to its last forward (overlap window).
  double forward_s = 0, backward_input_s = 0, backward_weight_s = 0, bubble_s = 0, exposed_comm_s = 0,
         steady_s = 0, optimizer_s = 0, other_compute_s = 0;
  // The compute stream's idle time by cause: waiting for a pipeline receive, an all-to-all, a
  // collective, nothing (issue gaps), and for the slowest rank after a rank's end (tail).
  double pipeline_wait_s = 0, all_to_all_wait_s = 0, collective_wait_s = 0, issue_gap_s = 0, tail_s = 0;
  double sm_compute = 0, sm_comm = 0, sm_idle = 0;   // shares of the cluster's SM-time
  double nvlink_util = 0, ib_util = 0;               // bytes moved over achievable capacity x step
  std::vector<StageReport> stages;
  StageBalance balance;                              // filled by the caller (stage_balance)
  int64_t memory_peak_bytes = 0;                     // the largest over stages
  int64_t hbm_bytes = 0;
  bool out_of_memory = false;
  // How the simulation went.
  uint64_t events = 0, transfers = 0, solves = 0, ops = 0;
  uint64_t calibrated_kernels = 0, extrapolated_kernels = 0;
  // The GPU whose fitted efficiencies this GPU's kernel and link times borrow (hw::borrows_h800_efficiencies):
  // "H800" for every other catalogue GPU, empty for the H800 itself and the host device. When set, every
  // time-derived figure rests on it and is flagged (kBorrowedEfficiencyFigures, the table's '*').
  std::string efficiency_basis;
  double wall_s = 0;   // not part of the printed report: output is identical run to run
};

// The JSON fields of the report that rest on kernel and link efficiencies (all that derive from times;
// memory and counts do not): what the report's borrowed_efficiency object lists.
inline constexpr const char* kBorrowedEfficiencyFigures[] = {
    "step_time_s", "tokens_per_s", "tokens_per_s_per_gpu", "mfu_bf16", "mfu_fp8", "mfu_bf16_causal", "mfu_fp8_causal",
    "gpu_hours_per_trillion_tokens", "bubble_fraction", "exposed_comm_fraction", "phases", "compute_idle", "sm_time",
    "links", "stages[].bubble_s", "stages[].exposed_comm_s", "stages[].activation_peak_bytes", "stage_balance.stage_modelled_s"};

Report make_report(const SimResult& r);
nlohmann::json to_json(const Report& r);
std::string to_table(const Report& r);

}  // namespace tandem::sim
