// The attention entry of kernels_cuda_bench: `kernels_cuda_bench attention [options]` runs it
// (attention_bench.cpp); without the word the binary runs the FP8 GEMM benchmark as before.
#pragma once

namespace tandem::kernels::cuda::bench {

// argv[0] is "attention"; returns the process status (0 ok, 1 validation failed or error, 2 no GPU).
int attention_bench_main(int argc, char** argv);

}  // namespace tandem::kernels::cuda::bench
