// Launch interface between the FP8 GEMM front end (fp8_gemm.cu: checks, cuBLASLt, the naive kernel)
// and the hand-written sm_90a kernel (fp8_gemm_wgmma.cu), kept in separate compile units.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/fp8/fp8_cpu.h"
#include "kernels/gemm/fp8_gemm_tiling.h"

namespace tandem::kernels::cuda {

// One (dense or grouped) FP8 GEMM with its operands resolved to pointers and strides; scales in
// Fp8ScaleStorage::GemmReady.
struct Fp8GemmLaunch {
  const uint8_t* a_codes = nullptr;  // [m, k]
  const float* a_scales = nullptr;   // [ceil(k/128), a_scale_ld]: a_scales[kb·a_scale_ld + row]
  int64_t a_scale_ld = 0;            // round_up(m, 4)
  const uint8_t* b_codes = nullptr;  // [groups·n, k]
  const float* b_scales = nullptr;   // per expert b_group_scales floats, the expert's GemmReady layout
  Fp8ScaleLayout b_layout = Fp8ScaleLayout::Block128x128;
  int64_t b_scale_ld = 0;            // Block128x128: round_up(ceil(k/128), 4); Tile1x128: round_up(n, 4)
  int64_t b_group_scales = 0;        // floats per expert
  int64_t m = 0, n = 0, k = 0;
  int64_t groups = 1;
  const int32_t* block_groups = nullptr;  // grouped: [m / 128], the expert of each 128-row block; else null
  uint16_t* d = nullptr;                   // [m, n] BF16 bits
};

// The hand-written kernel with the given tiling (from fp8_gemm_tiling for the device). Requires
// compute capability 9.0, b Block128x128, k % 16 == 0, 16-byte aligned code pointers.
void launch_fp8_gemm_wgmma(const Fp8GemmLaunch& launch, const Fp8GemmTiling& tiling, cudaStream_t stream);

// Whether this build holds the sm_90a kernel body (it is compiled only for sm_90a targets).
bool fp8_gemm_wgmma_compiled();

}  // namespace tandem::kernels::cuda
