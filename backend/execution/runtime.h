// The state of one rank while the executor runs a step: its device and communicator, parameters,
// tensor values, auxiliary state kept from forward to backward, the step's data and settings, and
// what the step measured. Op implementations receive it through an OpContext.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/runtime/communicator.h"
#include "backend/runtime/device.h"
#include "backend/training/parameters.h"
#include "backend/execution/values.h"
#include "ir/step_program.h"

namespace tandem::backend {

// Settings of the backend that are not part of the scenario.
struct BackendOptions {
  uint64_t seed = 1;               // parameter initialisation
  bool exact = false;              // FP32 everywhere: no BF16 rounding and no FP8 (gradient checks)
  int gemm_threads = 1;            // threads inside one GEMM
  int64_t comm_timeout_ms = 300000;  // a collective waiting longer aborts the step as deadlocked
};

// Optimiser and guard settings of one step (the same on every rank).
struct StepConfig {
  int64_t step = 1;                // 1-based number of the step being run
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  double clip_norm = 1.0;          // <= 0: no clipping
  double spike_factor = 3.0;       // skip when loss > spike_factor × running mean (after warm-up)
  int64_t spike_warmup = 10;       // steps before the spike rule applies
  bool apply_update = true;        // false: compute gradients, change nothing (gradient checks)
  bool inject_nan = false;         // tests: the main loss's backward writes a NaN into a logit gradient
};

// Running loss statistics of the spike rule; identical on every rank, saved in checkpoints.
struct GuardState {
  double loss_mean = 0.0;          // exponential mean of accepted losses (weight 0.1 per step)
  int64_t accepted = 0;
  int64_t skipped = 0;
};

// What a step measured; after the step every rank holds the same numbers (world-reduced).
struct StepStats {
  double loss = 0;                 // main-model cross-entropy, mean over the step's tokens
  double mtp_loss = 0;             // MTP cross-entropy (unweighted mean)
  double balance_loss = 0;         // sequence-wise balance loss (weighted by alpha), summed over layers
  int64_t tokens = 0;
  double grad_norm = 0;            // global, before clipping (see docs/backend.md)
  bool skipped = false;
  std::string skip_reason;
  int64_t moe_layers = 0, experts = 0;
  std::vector<double> expert_load; // [moe layer][expert]: token-expert pairs routed this step
  double imbalance = 0;            // mean over MoE layers of max load / mean load
};

// Per executed op: what the timeline records beyond the program's own numbers.
struct OpRecord {
  double flops = -1;               // < 0: the program's op_flops
  double bytes = -1;               // < 0: the program's HBM bytes; comm ops set the bytes moved
};

class RankRuntime {
 public:
  RankRuntime(const ir::StepProgram& program, int64_t rank, const BackendOptions& options, std::unique_ptr<Device> device,
              std::unique_ptr<Communicator> comm);

  const ir::StepProgram& program;
  const int64_t rank;
  const ir::RankCoord coord;
  const ir::RankProgram& rp;
  const BackendOptions options;
  std::unique_ptr<Device> device;
  std::unique_ptr<Communicator> comm;
  ParamStore params;
  TensorStore store;

  // Step inputs: this replica's token windows, [micro_batches][micro_batch_seqs × (seq_len + 2)].
  std::vector<std::vector<int32_t>> windows;
  StepConfig config;
  GuardState guard;
  int64_t optimizer_steps = 0;     // applied updates (AdamW bias correction)
  StepStats stats;
  std::vector<OpRecord> records;   // per op of rp.ops

  // Local sums the optimizer rounds reduce over the world (reset each step).
  double local_loss_sum = 0, local_mtp_sum = 0, local_balance_sum = 0;
  int64_t local_tokens = 0, local_mtp_tokens = 0;
  std::vector<double> local_load;  // [moe layer][expert]
  int32_t optimizer_round = 0;     // optimizer ops run so far this step
  bool skip_update = false;        // decided in round 0

  // State kept from an op to a later one (routing, dispatch layout, attention statistics).
  template <typename T>
  std::shared_ptr<T> aux(const std::string& key, bool create);
  void clear_step();

  int64_t moe_layer_index(int32_t layer) const;   // -1 for dense layers
  std::vector<int> world_group() const;

 private:
  std::mutex aux_mutex_;
  std::map<std::string, std::shared_ptr<void>> aux_;
};

template <typename T>
std::shared_ptr<T> RankRuntime::aux(const std::string& key, bool create) {
  std::lock_guard lock(aux_mutex_);
  auto it = aux_.find(key);
  if (it == aux_.end()) {
    if (!create) throw std::logic_error("rank state: no '" + key + "' was kept for this op");
    it = aux_.emplace(key, std::make_shared<T>()).first;
  }
  return std::static_pointer_cast<T>(it->second);
}

// What an op implementation sees: its instance, template, stream and rank.
struct OpContext {
  RankRuntime& rt;
  int32_t index;                   // position in rp.ops (issue order)
  const ir::OpInstance& op;
  const ir::OpTemplate& t;
  Stream& stream;

  bool exact() const { return rt.options.exact; }
  // Forward semantics: a forward op, or one re-run in the backward pass (recomputation).
  bool forward() const { return t.phase == ir::Phase::F || t.recompute; }
  int32_t mb() const { return op.mb; }
  const ir::TensorInfo& info(int32_t tensor) const { return rt.rp.tensors[size_t(tensor)]; }
  // Reads a tensor for this op: a value's newest version issued before it; an accumulating gradient's
  // parts issued before the op's gradient cutoff (ir::RankProgram::gradient_cutoff), summed.
  ValuePtr read(int32_t tensor) const;
  // Writes a tensor; float data is rounded to BF16 when the tensor's dtype is BF16 (unless exact).
  void write(int32_t tensor, Value value) const;
  Param& weight(int32_t tensor) const { return rt.params.by_tensor(tensor); }
  OpRecord& record() const { return rt.records[size_t(index)]; }
  int64_t tag(int64_t sub) const { return op.tag * 8 + sub; }   // sub-transfers of one program op
  std::string where() const;       // "rank 3 op 120 L5.q_up (mb 2)" for messages
};

// Runs op `index` of the rank's program (called in stream order by the executor).
void execute_op(RankRuntime& rt, int32_t index, Stream& stream);

}  // namespace tandem::backend
