// The memory-bound kernels' entry of kernels_cuda_bench: `kernels_cuda_bench memory [options]` runs
// memory_bench.cpp (router, permute, SwiGLU, RMSNorm, cross-entropy: GB/s against the HBM peak).
#pragma once

namespace tandem::kernels::cuda::bench {

// argv[0] is "memory"; returns the process status (0 ok, 1 validation failed or error, 2 no GPU).
int memory_bench_main(int argc, char** argv);

}  // namespace tandem::kernels::cuda::bench
