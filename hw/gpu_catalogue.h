// Catalogue of the accelerators the simulator models (NVIDIA H800, H100, H200, H20, A100, B200, GB200,
// GB300; AMD MI300X, MI325X, MI355X; Huawei Ascend 910B, 910C): compute units, dense peak FLOP/s per dtype,
// HBM, L2, scale-up bandwidth. Every number carries its public source in gpu_catalogue.cpp; efficiencies
// (what kernels really reach) live in cost_model.h, fitted on the H800 only (borrows_h800_efficiencies).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ir/cluster_config.h"
#include "ir/dtype.h"

namespace tandem::hw {

struct GpuSpec {
  std::string_view name;           // catalogue key, e.g. "H800"
  int64_t sms = 0;                 // compute units the SM model schedules: SMs, AMD CUs, Ascend cube AI cores
  double boost_clock_hz = 0;       // max boost clock the peak figures assume
  double fp8_flops = 0;            // dense tensor-core peak, FP8 (0: no FP8 tensor cores)
  double bf16_flops = 0;           // dense tensor-core peak, BF16
  double fp32_flops = 0;           // CUDA-core FP32 peak (non-tensor)
  int64_t hbm_bytes = 0;           // usable device memory
  double hbm_bytes_per_s = 0;      // peak HBM bandwidth
  int64_t l2_bytes = 0;
  double nvlink_bytes_per_s = 0;   // scale-up bandwidth per GPU, both directions together (H800: 400 GB/s
                                   // NVLink; AMD: Infinity Fabric; Ascend: HCCS / UB)
  int64_t smem_per_sm_bytes = 0;   // shared memory per SM (AMD: LDS per CU; Ascend: L1 buffer per AI core)
  std::string_view compute_unit = "SM";   // what `sms` counts, for reports: "SM", "CU" or "AI core"
};

// The GPU whose published measurements the cost model's efficiencies were fitted on (hw/cost_model.h).
inline constexpr std::string_view kEfficiencyBasisGpu = "H800";
// True for every other GPU: its kernel times start from its own peaks and the H800's efficiencies, an
// assumption the simulator's report flags on every figure that rests on it.
bool borrows_h800_efficiencies(const GpuSpec& gpu);

std::span<const GpuSpec> gpu_catalogue();
// Case-insensitive lookup; nullptr when unknown.
const GpuSpec* find_gpu(std::string_view name);
// Throws std::invalid_argument naming the known GPUs when `name` is unknown.
const GpuSpec& gpu_spec(std::string_view name);
std::string gpu_names();          // "H800, H100, ..." for messages

// Dense tensor-core peak for GEMM operands of type `t`. FP8 on a GPU without FP8 tensor cores
// (A100) runs at the BF16 rate: the inputs are upcast, as a real FP8 recipe would have to.
double peak_flops(const GpuSpec& gpu, ir::DType t);

// A cluster's NVLink bandwidth per GPU (both directions): cluster.nvlink_bytes_per_s when the scenario
// sets it, else its GPU's from the catalogue (0 when the GPU is unknown). A set value that differs from
// the GPU's is allowed (what-if) and reported by `tandem simulate`, never mixed in silently.
double nvlink_bytes_per_s(const ir::ClusterConfig& c);

}  // namespace tandem::hw
