// Catalogue of the GPUs the simulator models (H800, H100, H200, H20, A100, B200): SMs, dense peak
// FLOP/s per dtype, HBM capacity and bandwidth, L2, NVLink. Every number carries its public source
// in gpu_catalogue.cpp; efficiencies (what kernels really reach) live in cost_model.h, not here.
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
  int64_t sms = 0;                 // streaming multiprocessors
  double boost_clock_hz = 0;       // max boost clock the peak figures assume
  double fp8_flops = 0;            // dense tensor-core peak, FP8 (0: no FP8 tensor cores)
  double bf16_flops = 0;           // dense tensor-core peak, BF16
  double fp32_flops = 0;           // CUDA-core FP32 peak (non-tensor)
  int64_t hbm_bytes = 0;           // usable device memory
  double hbm_bytes_per_s = 0;      // peak HBM bandwidth
  int64_t l2_bytes = 0;
  double nvlink_bytes_per_s = 0;   // per GPU, both directions together (H800: 400 GB/s)
  int64_t smem_per_sm_bytes = 0;   // shared memory per SM (tile sizes of the GEMM heuristic)
};

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
