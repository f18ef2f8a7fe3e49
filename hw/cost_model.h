// Cost models as pure functions of an op's payload and the SMs it gets: GEMMs by DeepGEMM-style
// tiles and waves, attention by FLOPs at a published efficiency, memory-bound kernels by HBM bytes;
// communication kernels by the bandwidth their SMs can push; collectives by nccl-tests bus factors.
#pragma once
#include <cstdint>

#include "hw/gpu_catalogue.h"
#include "ir/op.h"

namespace tandem::hw {

class CalibrationTable;
struct HostSpec;

// Defaults and where each comes from (docs/simulator.md has the fit and its residuals).
struct CostParams {
  // Fitted by least squares (log error) to the 10 DeepGEMM FP8 points of ../shared/data/h800-published.json
  // (README of 2025-02-25) with the tile model below; every point within 9%.
  double gemm_mainloop_efficiency = 0.725;   // of the per-SM tensor peak inside a tile's k-loop
  // The FP8 weight-gradient GEMM (Gemm::accumulate: DeepGEMM's fp8_dptp128c_acc, both operands tiled
  // along the tokens, FP32 accumulation into dW): the H800 trace (../shared/data/deepseek-h800-train-
  // profile.json) shows these kernels at 485-754 TFLOPS where the forward FP8 GEMMs reach 906-1232;
  // the mainloop efficiency scaled by the ratio of the midpoints, 0.725 * 619.5 / 1069 = 0.42.
  double gemm_wgrad_mainloop_efficiency = 0.42;
  double gemm_epilogue_efficiency = 0.8;     // of the per-SM share of HBM bandwidth, storing a tile
  int64_t gemm_tile_overhead_ns = 400;       // per tile: pipeline fill, scale loads, barriers
  int64_t gemm_launch_ns = 4000;             // per GEMM kernel: launch, prologue and tail
  double hbm_efficiency = 0.85;              // fitted with the above (small-m GEMMs are HBM-bound);
                                             // FlashMLA's 3.0 of 3.35 TB/s (0.9) is the best published case
  // FlashMLA README (2025-04): 660 TFLOPS BF16 compute-bound of 989.5 -> 0.667.
  double attention_fwd_efficiency = 0.667;
  // Achieved HBM bandwidth of the memory-bound kernel families, as a share of the peak, over the bytes
  // their IR payload counts; each from kernel times of the H800 trace (../shared/data/deepseek-h800-
  // train-profile.json) of kernels whose shape the annotations and grids identify (docs/h800-pair.md).
  // RMSNorm: ln_fwd of [4096, 7168] 104-127 us, of [4096, 1536] 22-29 us, of [4096, 512] 8-10 us, ln_bwd
  // of [4096, 7168] 179 us: 0.98-1.14 TB/s over the payload's bytes (the real kernel also adds the
  // residual, which the IR fuses elsewhere) -> 1.07e12 / 3.35e12 = 0.32.
  double norm_hbm_efficiency = 0.32;
  // Per-token FP8 casts (1x128 tiles, and cast-backs to BF16): [4096, 7168] 42-53 us (89 MB: 1.9 TB/s),
  // [34688, 4096] 211 us (2.0 TB/s), cast_back of [32768, 4096] 179 us (2.25 TB/s) -> 0.6.
  double cast_hbm_efficiency = 0.6;
  // Transposing kernels (per-channel cast-and-transpose of the weight-gradient operands, FP8 weight
  // transposes): [4096, 7168] 36-47 us (2.2 TB/s), [34688, 2048] 93 us (2.3 TB/s), [34688, 7168] 276 us
  // (2.7 TB/s), batched_transpose of o_proj's [16384, 7168] FP8 weight 84 us (2.8 TB/s) -> 0.72.
  double cast_transpose_hbm_efficiency = 0.72;
  // RoPE (rotary_kernel on the query heads' and the shared key's rope columns, [4096, 129, 64] BF16 in
  // place): 126 + 5 us per pass for 135 MB -> 1.03 TB/s = 0.31.
  double rope_hbm_efficiency = 0.31;
  // The router's forward as DeepSeek's H800 profile runs it: 6 kernels (sigmoid, the groups' top-2
  // sums, the group choice, two torch.topk passes over [tokens, experts] `gatherTopK`, the balance
  // statistics `aux_fi`), the two top-k passes at the rate of `gatherTopK` over [4096, 256] FP32 in
  // 66-67 us: 4096 * 256 / 66.5 us = 1.58e10 values/s. The backward stays vector work.
  int64_t router_forward_kernels = 6;
  double router_topk_values_per_s = 1.58e10;
  // Assumption: backward attention kernels reach about 3/4 of the forward's throughput (the ratio
  // FlashAttention-2/-3 papers report); no published H800 MLA backward figure.
  double attention_bwd_efficiency = 0.5;
  // Assumption: fixed cost of a non-GEMM kernel (launch gap on a busy stream plus tail); calibrate it.
  int64_t kernel_launch_ns = 2000;
  // Assumption: a memory-bound kernel saturates HBM with half of the SMs; with fewer it slows in proportion.
  double memory_saturation_sm_fraction = 0.5;
  // Assumption: CUDA-core work (router top-k, optimizer math) reaches half of the FP32 peak.
  double vector_efficiency = 0.5;
  // DeepEP README: intranode normal kernels (EP8) move 153-158 GB/s over NVLink, measured on 24 SMs
  // (tests/test_intranode.py); DeepSeek-V3 report 3.2.2: 20 SMs suffice to fill IB and NVLink. Taken as
  // NVLink's 158 GB/s on 20 SMs: a communication kernel's SMs push 158e9 / 20 = 7.9 GB/s each.
  double comm_bytes_per_s_per_sm = 7.9e9;
  // DeepEP's internode normal kernels (an expert all-to-all whose group spans nodes): what their SMs move,
  // counted as DeepEP's benchmark counts it, one row per token and node it visits (its own node included:
  // "logical" RDMA bytes). DeepEP README, EP64 over 8 H800 nodes, 4096 tokens, hidden 7168, top-8 within
  // 4 nodes: dispatch (FP8) 46 GB/s, combine (BF16) 45 GB/s, the rows of February 2025 (the kernels of
  // DeepSeek's profile of 2025-03; the IBGDA update of 2025-04 gives 51 and 50), measured by
  // tests/test_internode.py at num_sms = 24 -> 46e9 / 24 and 45e9 / 24 per SM. Assumption: at other SM
  // counts they move in proportion (10 channels of 2 SMs at 20 SMs against 12), capped by the links.
  // docs/h800-pair.md compares the 20-SM figures with the profile's kernels.
  double deepep_dispatch_bytes_per_s_per_sm = 46e9 / 24.0;
  double deepep_combine_bytes_per_s_per_sm = 45e9 / 24.0;
};

// Where an estimate came from: the default model, a calibration point (interpolated inside the
// measured range), the default model scaled by the nearest measured point (outside the range), or
// the default model corrected by the table's fit for the op's class (no point of its shape).
enum class CostSource : uint8_t { Model, Calibrated, Extrapolated, Fitted };

struct KernelEstimate {
  int64_t ns = 0;
  CostSource source = CostSource::Model;
  bool compute_bound = false;
  int64_t tiles = 0, waves = 0;       // 0 for kernels not modelled by tiles
};

class CostModel {
 public:
  // `host`: the device is the host (gpu is its host_device_spec view): ops cost what host_cost.h says and
  // `sms` are share units of a core.
  explicit CostModel(const GpuSpec& gpu, CostParams params = {}, const CalibrationTable* calibration = nullptr,
                     const HostSpec* host = nullptr)
      : gpu_(&gpu), params_(params), calibration_(calibration), host_(host) {}

  const GpuSpec& gpu() const { return *gpu_; }
  const CostParams& params() const { return params_; }

  // Time of a compute or memory kernel on `sms` SMs (the GPU's SMs less those held by communication
  // kernels). Comm payloads are not kernels of this kind: they return 0 (see comm_kernel_bytes_per_s).
  KernelEstimate estimate(const ir::OpPayload& op, int64_t sms) const;
  // The default model only (no calibration).
  KernelEstimate model(const ir::OpPayload& op, int64_t sms) const;
  // The fixed launch cost the default model adds to an op (before any fit): gemm_launch_ns for GEMMs,
  // kernel_launch_ns for other kernels, 0 for communication.
  int64_t launch_ns(const ir::OpPayload& op) const;

  // Bytes per second a communication kernel holding `sms` SMs can push; 0 means no SM limit
  // (copy-engine transfers, sms == 0).
  double comm_kernel_bytes_per_s(int64_t sms) const {
    return sms > 0 ? double(sms) * params_.comm_bytes_per_s_per_sm : 0.0;
  }
  // Logical RDMA bytes per second (CostParams) of DeepEP's internode dispatch (`towards` the experts:
  // dispatch and the backward of combine) or combine kernel on `sms` SMs; 0 when sms == 0.
  double deepep_internode_bytes_per_s(int64_t sms, bool towards) const {
    const double per_sm = towards ? params_.deepep_dispatch_bytes_per_s_per_sm : params_.deepep_combine_bytes_per_s_per_sm;
    return sms > 0 ? double(sms) * per_sm : 0.0;
  }

 private:
  const GpuSpec* gpu_;
  CostParams params_;
  const CalibrationTable* calibration_;
  const HostSpec* host_;
};

// nccl-tests bus-bandwidth factors: bytes each rank moves over its bottleneck link per byte of the
// buffer. All-reduce 2(n-1)/n, reduce-scatter/all-gather/all-to-all (n-1)/n, send/receive 1.
double bus_bytes_factor(ir::CommKind kind, int64_t ranks);

}  // namespace tandem::hw
