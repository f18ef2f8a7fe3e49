// Inputs for the GPU benchmarks, made on the device: random values from a counter-based hash (the
// same seed gives the same values), normal-like with a magnitude drawn per 1x128 tile and never
// zero; BF16 copies; and an L2 flush between timed runs.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace tandem::kernels::cuda::bench {

// x[r, c] = z · 2^e, z ~ N(0, 1) with |z| >= 2^-10, e uniform in [-exp_range, exp_range] per
// (r, c / 128); x [rows, cols] row-major on the device.
void fill_random_tiles(float* x, int64_t rows, int64_t cols, uint64_t seed, int exp_range, cudaStream_t stream = nullptr);

// out[i] = the BF16 bits of x[i] (round to nearest even).
void to_bf16(const float* x, uint16_t* out, int64_t count, cudaStream_t stream = nullptr);

// Overwrites `bytes` of scratch so the next kernel finds none of its inputs in L2.
void flush_l2(void* scratch, size_t bytes, cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda::bench
