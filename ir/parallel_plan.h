// ParallelPlan: how one training step is laid out on the cluster: pipeline (pp, schedule), expert
// parallelism (ep, node-limited routing), ZeRO data parallelism, batch shape, SMs for communication
// and for compute, the FP8 precision recipe and the routing model that sets the all-to-all traffic.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/schedule.h"

namespace tandem::ir {

// Which parts of the step run in FP8 (E4M3, 1x128 activation tiles, 128x128 weight blocks) and
// which stay in BF16/FP32, as in the DeepSeek-V3 report, section 3.3.
struct PrecisionRecipe {
  bool fp8 = true;                   // FP8 GEMMs for attention/expert/dense linear layers
  int64_t activation_tile = 128;     // 1 x tile scaling of activations
  int64_t weight_block = 128;        // block x block scaling of weights
  bool fp8_dispatch = true;          // dispatch all-to-all sends FP8 activations (+ scales)
  bool bf16_combine = true;          // combine all-to-all sends BF16
  bool power_of_two_scales = false;  // scales rounded to powers of two
  // Kept in higher precision regardless of `fp8`: embedding, output head, gating, norms, attention core.
};

// Forward work re-run in the backward pass instead of kept from the forward (plan.recompute, after
// Megatron-LM's --recompute-modules), per layer. The default is DeepSeek-V3's choice (section 3.2.3):
// the RMSNorms, the MLA up-projections and the SwiGLUs. docs/schedules.md, "Recomputation".
struct RecomputeModules {
  bool norm = true;          // "norm": the layers' RMSNorms
  bool mla_up_proj = true;   // "mla_up_proj": MLA's q and kv up-projections (with their FP8 casts) and RoPE
  bool core_attn = false;    // "core_attn": the attention core
  bool moe_act = true;       // "moe_act": the SwiGLUs (routed experts, shared expert, the dense layers' FFN)
  bool mlp = false;          // "mlp": the dense layers' FFN but its down-projection (which writes the layer's output)
  bool full = false;         // "full": every compute op of a layer but the router's and the layer output's writer;
                             // the expert all-to-all is not re-run (its outputs stay saved)
  bool any() const { return norm || mla_up_proj || core_attn || moe_act || mlp || full; }
  bool operator==(const RecomputeModules&) const = default;
};
// The names plan.recompute takes, each with its field.
inline constexpr std::pair<const char*, bool RecomputeModules::*> kRecomputeModuleNames[] = {
    {"norm", &RecomputeModules::norm},       {"mla_up_proj", &RecomputeModules::mla_up_proj},
    {"core_attn", &RecomputeModules::core_attn}, {"moe_act", &RecomputeModules::moe_act},
    {"mlp", &RecomputeModules::mlp},         {"full", &RecomputeModules::full}};

enum class RoutingKind : uint8_t { Balanced, Zipf, File };

// Sets the per-expert token load and hence the per-peer bytes of dispatch and combine.
struct RoutingModel {
  RoutingKind kind = RoutingKind::Balanced;
  double zipf_exponent = 0.0;        // Zipf: load of the i-th most loaded expert ~ 1 / (i+1)^s
  std::vector<double> expert_load;   // File: relative load per routed expert (normalised on use)
  std::string load_file;             // where expert_load came from, for messages
};

struct ParallelPlan {
  int64_t pp = 1;                    // pipeline stages (ranks per pipeline)
  int64_t dp = 1;                    // data-parallel replicas of each stage
  int64_t tp = 1;                    // tensor parallelism with sequence parallelism (Megatron's; experts stay EP-split)
  int64_t ep = 1;                    // expert parallelism: ranks of one stage sharing the experts (divides dp × tp)
  int64_t zero_stage = 1;            // ZeRO stage of the data-parallel optimizer (0 or 1)
  int64_t seq_len = 4096;            // tokens per sequence
  int64_t micro_batch_seqs = 1;      // sequences per micro-batch per rank
  int64_t global_batch_seqs = 1;     // sequences per optimizer step over the whole cluster
  ScheduleKind schedule = ScheduleKind::OneFOneB;
  int64_t virtual_stages = 1;        // model chunks per rank under the interleaved schedule (Megatron's VP)
  int64_t comm_sms = 20;             // SMs the all-to-all kernels hold
  int64_t compute_sms = 0;           // SMs the FP8 GEMMs launch on (DeepGEMM's set_num_sms);
                                     // 0: the default of compute_sms_budget
  int64_t max_nodes_per_token = 4;   // node-limited routing (0: no limit)
  RecomputeModules recompute;        // recomputed in the backward instead of stored (plan.recompute)
  PrecisionRecipe precision;
  RoutingModel routing;
  std::vector<int64_t> layers_per_stage;  // model chunk layer counts; empty: even split

  int64_t world_size() const { return pp * dp * tp; }
  int64_t ranks_per_stage() const { return dp * tp; }   // ranks of one pipeline position
  int64_t micro_batch_tokens() const { return seq_len * micro_batch_seqs; }
  int64_t global_batch_tokens() const { return seq_len * global_batch_seqs; }
  // Micro-batches each pipeline processes per step.
  int64_t micro_batches() const { return global_batch_seqs / (dp * micro_batch_seqs); }
};

// SMs the plan's FP8 GEMMs (DeepGEMM) launch on, on a GPU of `gpu_sms` SMs: plan.compute_sms when
// set; otherwise gpu_sms - comm_sms when the schedule overlaps the expert all-to-all with compute
// (DualPipe, DualPipeV) and the model has one (DeepSeek-V3: deep_gemm.set_num_sms(132 - 20)), else
// all of them. A kernel gets the smaller of this and the SMs communication leaves (docs/simulator.md).
inline int64_t compute_sms_budget(const ParallelPlan& p, int64_t gpu_sms, bool expert_all_to_all) {
  if (p.compute_sms > 0) return p.compute_sms;
  const bool overlapped = p.schedule == ScheduleKind::DualPipe || p.schedule == ScheduleKind::DualPipeV;
  return overlapped && expert_all_to_all ? gpu_sms - p.comm_sms : gpu_sms;
}

}  // namespace tandem::ir
