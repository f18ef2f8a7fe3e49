// Inputs for the GPU benchmarks, made on the device: random values from a counter-based hash (the
// same seed gives the same values), normal-like with a magnitude drawn per 1x128 tile and never
// zero; BF16 copies; an L2 flush between timed runs, and the timing loop with CUDA events.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace tandem::kernels::cuda::bench {

// x[r, c] = z · 2^e, z ~ N(0, 1) with |z| >= 2^-10, e uniform in [-exp_range, exp_range] per
// (r, c / 128); x [rows, cols] row-major on the device.
void fill_random_tiles(float* x, int64_t rows, int64_t cols, uint64_t seed, int exp_range, cudaStream_t stream = nullptr);

// out[i] = the BF16 bits of x[i] (round to nearest even).
void to_bf16(const float* x, uint16_t* out, int64_t count, cudaStream_t stream = nullptr);

// Overwrites `bytes` of scratch so the next kernel finds none of its inputs in L2.
void flush_l2(void* scratch, size_t bytes, cudaStream_t stream = nullptr);

// Median and minimum, in microseconds, of `iters` runs of `run` (work enqueued on the default stream)
// timed with CUDA events, after `warmup` untimed runs; L2 is flushed before each timed run when
// `l2_scratch` is given.
struct CudaTiming {
  double median_us = 0, min_us = 0;
};
CudaTiming time_cuda(const std::function<void()>& run, int warmup, int iters, void* l2_scratch = nullptr,
                     size_t l2_scratch_bytes = 0);

}  // namespace tandem::kernels::cuda::bench
