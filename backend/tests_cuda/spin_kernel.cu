// Kernels of backend_cuda_tests: a single thread that spins on the global timer, and a one-int copy.
#include "backend/tests_cuda/spin_kernel_cuda.h"

namespace tandem::backend::test {

namespace {
__device__ uint64_t global_timer_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void spin_kernel(int64_t ns) {
  const uint64_t start = global_timer_ns();
  while (global_timer_ns() - start < uint64_t(ns)) {
  }
}

__global__ void copy_int_kernel(const int* src, int* dst) { *dst = *src; }
}  // namespace

void spin_on_stream(cudaStream_t stream, int64_t ns) { spin_kernel<<<1, 1, 0, stream>>>(ns); }

void copy_int_on_stream(const int* src, int* dst, cudaStream_t stream) { copy_int_kernel<<<1, 1, 0, stream>>>(src, dst); }

}  // namespace tandem::backend::test
