// FP8 block-scaled GEMM reference, dense and grouped: inputs already quantised (codes + scales),
// products summed in FP32 within each 128-deep K block, each block's sum scaled and promoted into an
// FP32 accumulator, output rounded to BF16 (or kept FP32 for weight gradients).
#pragma once
#include <cstdint>
#include <span>

#include "kernels/fp8/fp8_cpu.h"

namespace tandem::kernels {

// A quantised matrix [rows, cols], row-major, cols being the reduction dimension K of the GEMM.
struct Fp8MatrixView {
  std::span<const uint8_t> codes;  // [rows, cols]
  std::span<const float> scales;   // fp8_scale_count(layout, rows, cols)
  int64_t rows = 0;
  int64_t cols = 0;
  Fp8Format format = Fp8Format::E4M3;
  Fp8ScaleLayout layout = Fp8ScaleLayout::Tile1x128;
};

// What the GEMM does with its FP32 accumulator: round it to BF16 (forward and input-grad GEMMs),
// store it as FP32, or add it to the FP32 output (weight gradients accumulating over micro-batches).
enum class Fp8GemmOutput : uint8_t { Bf16, Fp32, AccumulateFp32 };

// d[m, n] = Σ_kb ( Σ_{k in kb} a[m,k]·b[n,k] ) · (sa(m, kb) · sb(n, kb)), kb the 128-deep K blocks in
// order, the inner sums in FP32 in increasing k (values decoded from the codes, unscaled), the outer
// accumulation in FP32 from zero. a: Tile1x128 scales (activations). b: Block128x128 (weights, the
// forward and input-grad GEMMs) or Tile1x128 (the weight-grad GEMM, both operands tiled along tokens).
// a.cols == b.cols == k; d [a.rows, b.rows]. Deterministic for any thread count.
void fp8_gemm_nt(const Fp8MatrixView& a, const Fp8MatrixView& b, std::span<float> d,
                 Fp8GemmOutput output = Fp8GemmOutput::Bf16, int threads = 1);

// Grouped (MoE) version over contiguous expert segments: rows [offsets[g], offsets[g+1]) of a use
// expert g's weight. a [m, k] with m = offsets[groups]; b holds the experts stacked, rows = groups·n,
// with each expert's scales contiguous in turn: fp8_scale_count(b.layout, n, k) per expert (for
// Block128x128 that is [groups, ceil(n/128), ceil(k/128)]); d [m, n]. Every offset is a multiple of 128
// (the padded permute layout gives that), offsets[0] == 0, non-decreasing.
void fp8_grouped_gemm_nt(const Fp8MatrixView& a, const Fp8MatrixView& b, int64_t groups,
                         std::span<const int64_t> group_offsets, std::span<float> d,
                         Fp8GemmOutput output = Fp8GemmOutput::Bf16, int threads = 1);

}  // namespace tandem::kernels
