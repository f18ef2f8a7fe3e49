// The GPU catalogue with the public source of each number. "Dense" peaks: NVIDIA datasheets quote
// tensor-core FLOP/s with 2:4 sparsity; the dense figure is half of it.
#include "hw/gpu_catalogue.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace tandem::hw {

namespace {

constexpr int64_t GiB = int64_t(1) << 30;
constexpr int64_t MiB = int64_t(1) << 20;

constexpr GpuSpec kCatalogue[] = {
    // H800 SXM5 (the DeepSeek-V3 machine): the H100 SXM5 die with NVLink cut to 400 GB/s.
    // ../shared/data/h800-published.json "gpu": 132 SMs, 3.35 TB/s, 989.5 TFLOPS BF16, FP8 = 2x BF16
    // (DeepSeek-V3 report 3.3.1), totalGlobalMem 84943110144 B (deepseek-ai/profile-data train.json),
    // smem 233472 B per SM; NVLink 400 GB/s (DeepSeek-V3 report 3.2.2). L2 50 MB and 1980 MHz boost:
    // NVIDIA H100 Tensor Core GPU Architecture whitepaper (same die). FP32 67 TFLOPS: H100 SXM datasheet.
    {"H800", 132, 1.98e9, 1979e12, 989.5e12, 66.9e12, 84943110144, 3.35e12, 50 * MiB, 400e9, 233472},
    // H100 SXM5 80 GB: NVIDIA H100 datasheet (2023): FP8 3958 TFLOPS and BF16 1979 TFLOPS with sparsity
    // (dense 1979 / 989.5), FP32 67 TFLOPS, 80 GB HBM3 at 3.35 TB/s, NVLink 900 GB/s; 132 SMs, 50 MB L2:
    // H100 architecture whitepaper. Memory as the driver reports it for 80 GB parts (as H800 above).
    {"H100", 132, 1.98e9, 1979e12, 989.5e12, 66.9e12, 84943110144, 3.35e12, 50 * MiB, 900e9, 233472},
    // H200 SXM 141 GB: NVIDIA H200 datasheet (2024): same compute as H100 SXM, 141 GB HBM3e at
    // 4.8 TB/s, NVLink 900 GB/s; 132 SMs and 50 MB L2 (same GH100 die).
    {"H200", 132, 1.98e9, 1979e12, 989.5e12, 66.9e12, 141 * int64_t(1000000000), 4.8e12, 50 * MiB, 900e9,
     233472},
    // H20 (China export part): 296 TFLOPS FP8 and 148 TFLOPS BF16 dense, 44 TFLOPS FP32, 96 GB HBM3 at
    // 4.0 TB/s, 60 MB L2, NVLink 900 GB/s as listed in NVIDIA's partner spec sheets and reproduced by
    // SemiAnalysis ("Nvidia's New China AI Chips Circumvent US Restrictions", 2023-11). SM count 78 and
    // 1980 MHz: the same tables (a cut GH100); treat both as reported, not datasheet, values.
    {"H20", 78, 1.98e9, 296e12, 148e12, 44e12, 96 * int64_t(1000000000), 4.0e12, 60 * MiB, 900e9, 233472},
    // A100 SXM4 80 GB: NVIDIA A100 datasheet (2021): BF16 312 TFLOPS dense, FP32 19.5 TFLOPS, 80 GB HBM2e at
    // 2039 GB/s, NVLink 600 GB/s; no FP8 tensor cores. 108 SMs, 40 MB L2, 1410 MHz, 164 KB smem/SM:
    // NVIDIA A100 Tensor Core GPU Architecture whitepaper.
    {"A100", 108, 1.41e9, 0.0, 312e12, 19.5e12, 80 * GiB, 2.039e12, 40 * MiB, 600e9, 167936},
    // B200 (HGX B200, 180 GB): NVIDIA HGX B200 datasheet (2024): FP8 9 PFLOPS and BF16 4.5 PFLOPS with
    // sparsity (dense 4.5 / 2.25 PFLOPS), FP32 75 TFLOPS, 180 GB HBM3e at 7.7 TB/s, NVLink 5 1.8 TB/s.
    // 148 SMs and 126 MB L2: NVIDIA Blackwell architecture technical brief; 228 KB smem/SM as Hopper.
    {"B200", 148, 1.965e9, 4500e12, 2250e12, 75e12, 180 * int64_t(1000000000), 7.7e12, 126 * MiB, 1800e9,
     233472},
};

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::span<const GpuSpec> gpu_catalogue() { return kCatalogue; }

const GpuSpec* find_gpu(std::string_view name) {
  for (const GpuSpec& g : kCatalogue)
    if (iequal(g.name, name)) return &g;
  return nullptr;
}

std::string gpu_names() {
  std::string out;
  for (const GpuSpec& g : kCatalogue) {
    if (!out.empty()) out += ", ";
    out += g.name;
  }
  return out;
}

const GpuSpec& gpu_spec(std::string_view name) {
  if (const GpuSpec* g = find_gpu(name)) return *g;
  throw std::invalid_argument("unknown GPU '" + std::string(name) + "': expected one of " + gpu_names());
}

double nvlink_bytes_per_s(const ir::ClusterConfig& c) {
  if (c.nvlink_bytes_per_s > 0) return c.nvlink_bytes_per_s;
  const GpuSpec* gpu = find_gpu(c.gpu);
  return gpu ? gpu->nvlink_bytes_per_s : 0.0;
}

double peak_flops(const GpuSpec& gpu, ir::DType t) {
  switch (t) {
    case ir::DType::FP8E4M3:
    case ir::DType::FP8E5M2: return gpu.fp8_flops > 0 ? gpu.fp8_flops : gpu.bf16_flops;
    case ir::DType::BF16: return gpu.bf16_flops;
    default: return gpu.fp32_flops;
  }
}

}  // namespace tandem::hw
