// The GPU catalogue with the public source of each number. "Dense" peaks: NVIDIA and AMD datasheets quote
// tensor-core FLOP/s with 2:4 sparsity; the dense figure is half of it. Where published figures disagree
// the comment says which one is taken.
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
    // 2039 GB/s, NVLink 3 600 GB/s; no FP8 tensor cores. 108 SMs, 40 MB L2, 1410 MHz, 164 KB smem/SM:
    // NVIDIA A100 Tensor Core GPU Architecture whitepaper.
    {"A100", 108, 1.41e9, 0.0, 312e12, 19.5e12, 80 * GiB, 2.039e12, 40 * MiB, 600e9, 167936},
    // B200 (HGX B200, 180 GB): NVIDIA HGX B200 datasheet (2024): FP8 9 PFLOPS and BF16 4.5 PFLOPS with
    // sparsity (dense 4.5 / 2.25 PFLOPS), FP32 75 TFLOPS, 180 GB HBM3e at 7.7 TB/s, NVLink 5 1.8 TB/s.
    // 148 SMs and 126 MB L2: NVIDIA Blackwell architecture technical brief; 228 KB smem/SM as Hopper.
    {"B200", 148, 1.965e9, 4500e12, 2250e12, 75e12, 180 * int64_t(1000000000), 7.7e12, 126 * MiB, 1800e9,
     233472},
    // GB200 (the Blackwell GPU of a GB200 NVL72 rack, 1.2 kW): NVIDIA GB200 NVL72 product page (2024), rack
    // figures over its 72 GPUs: FP8 720 PFLOPS and FP16/BF16 360 PFLOPS with sparsity (dense 5 / 2.5 PFLOPS per
    // GPU), FP32 5,760 TFLOPS (80 TFLOPS), HBM3e 13.4 TB at 576 TB/s (186 GB, 8 TB/s), NVLink 5 130 TB/s
    // (1.8 TB/s per GPU). The page's dense FP8 is above the HGX B200's 4.5 PFLOPS (higher power, same die);
    // some per-GPU tables list GB200 at the B200's 4.5 / 2.25 PFLOPS: we take NVIDIA's rack page. SMs, L2,
    // smem and clock as the B200 (same die; no GB200-specific figure published).
    {"GB200", 148, 1.965e9, 5000e12, 2500e12, 80e12, 186 * int64_t(1000000000), 8.0e12, 126 * MiB, 1800e9, 233472},
    // GB300 (Blackwell Ultra in a GB300 NVL72 rack, 1.4 kW): NVIDIA GB300 NVL72 product page (2025): FP8 720
    // PFLOPS and BF16 360 PFLOPS with sparsity per rack (dense 5 / 2.5 PFLOPS per GPU), up to 20 TB HBM3e at
    // 576 TB/s (279 GB usable of the 288 GB stacks, 8 TB/s per GPU; the per-GPU table of Verda's "GB300 NVL72
    // architecture" gives 279 GB and FP32 80 TFLOPS), NVLink 5 1.8 TB/s. 160 SMs: NVIDIA technical blog
    // "Inside NVIDIA Blackwell Ultra" (2025-08). L2 and smem as Blackwell (no Ultra-specific figure published).
    {"GB300", 160, 1.965e9, 5000e12, 2500e12, 80e12, 279 * int64_t(1000000000), 8.0e12, 126 * MiB, 1800e9, 233472},
    // MI300X (AMD CDNA 3, OAM): AMD Instinct MI300X data sheet (2023): 304 compute units at 2100 MHz peak,
    // FP8 2614.9 TFLOPS and BF16 1307.4 TFLOPS dense (5229.8 / 2614.9 with sparsity), FP32 vector 163.4 TFLOPS,
    // 192 GB HBM3 at 5.3 TB/s, 256 MB Infinity Cache (held here as the last-level cache), Infinity Fabric
    // 7 links x 128 GB/s = 896 GB/s peer bandwidth per GPU (a link per peer of an 8-GPU mesh, 64 GB/s each way).
    // LDS 64 KB per CU: AMD CDNA 3 ISA guide. `sms` counts CUs (docs/machines.md: CUs in the SM model).
    {"MI300X", 304, 2.1e9, 2614.9e12, 1307.4e12, 163.4e12, 192 * int64_t(1000000000), 5.3e12, 256 * MiB, 896e9, 65536,
     "CU"},
    // MI325X: AMD Instinct MI325X data sheet (2024): the MI300X's compute (304 CUs, 2100 MHz, FP8 2614.9 and
    // BF16 1307.4 TFLOPS dense, FP32 163.4 TFLOPS) with 256 GB HBM3E at 6.0 TB/s; Infinity Fabric 896 GB/s.
    {"MI325X", 304, 2.1e9, 2614.9e12, 1307.4e12, 163.4e12, 256 * int64_t(1000000000), 6.0e12, 256 * MiB, 896e9, 65536,
     "CU"},
    // MI355X (CDNA 4): AMD Instinct MI355X data sheet (2025): 256 CUs at 2400 MHz, FP8 5.0 PFLOPS dense
    // (8192 FLOP per CU per clock x 256 x 2.4 GHz = 5033 TFLOPS, ISSCC 2026 paper), BF16 2516.6 TFLOPS dense,
    // FP32 vector 157.3 TFLOPS, 288 GB HBM3E at 8 TB/s, 256 MB Infinity Cache, Infinity Fabric 7 links x
    // 153.6 GB/s = 1075.2 GB/s per GPU. LDS 160 KB per CU: AMD CDNA 4 architecture white paper.
    {"MI355X", 256, 2.4e9, 5033.2e12, 2516.6e12, 157.3e12, 288 * int64_t(1000000000), 8.0e12, 256 * MiB, 1075.2e9,
     163840, "CU"},
    // Ascend 910B (Huawei, Da Vinci): no data sheet is published; figures disagree by variant (910B1..B4) and
    // source: FP16/BF16 280 TFLOPS (ai.gitee.com "Ascend 910B" compute page), 313-320 TFLOPS elsewhere, 376 for
    // the 910C's dies (below). We take 280 TFLOPS and 64 GB HBM2e (the same gitee page). HBM 1.6 TB/s: half
    // of the 910C's 3.2 TB/s over two such dies (CloudMatrix384 paper, arXiv 2506.12708). No FP8 (cube units
    // do FP16/BF16/INT8). 24 AI cores (cube) beside 48 vector cores, 1.8 GHz, 192 MB L2, 512 KB L1 buffer per
    // core: as CANN's npu-smi and platform files report for the 910B2 (reported, not data-sheet, values).
    // HCCS: 8 NPUs fully meshed in an Atlas 800T A2 server, 7 links x 56 GB/s = 392 GB/s per NPU (reported).
    // FP32 vector peak: not published; assumption: 1/16 of the cube peak (the H800's and A100's ratio of
    // CUDA-core FP32 to tensor BF16). `sms` counts the cube AI cores.
    {"Ascend910B", 24, 1.8e9, 0.0, 280e12, 17.5e12, 64 * int64_t(1000000000), 1.6e12, 192 * MiB, 392e9, 524288,
     "AI core"},
    // Ascend 910C: two 910B-class dies in one package. CloudMatrix384 paper (Zuo et al., "Serving Large
    // Language Models on Huawei CloudMatrix384", arXiv 2506.12708, 2025): 752 TFLOPS dense FP16/BF16 per
    // package, 128 GB HBM at 3.2 TB/s, 392 GB/s of unidirectional UB bandwidth per NPU (784 GB/s both ways),
    // 400 Gb/s of RDMA per NPU. 48 AI cores (2 x 24), L2 and L1 as the 910B's (reported); FP32 vector peak as
    // for the 910B (assumption, 1/16 of the cube peak). No FP8.
    {"Ascend910C", 48, 1.8e9, 0.0, 752e12, 47e12, 128 * int64_t(1000000000), 3.2e12, 384 * MiB, 784e9, 524288,
     "AI core"},
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

bool borrows_h800_efficiencies(const GpuSpec& gpu) { return !iequal(gpu.name, kEfficiencyBasisGpu); }

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
