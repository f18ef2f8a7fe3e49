// Device-side benchmark inputs (see bench_data_cuda.h).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <vector>
#include "kernels/bench_cuda/bench_data_cuda.h"
#include "kernels/common/cuda_check_cuda.h"

namespace tandem::kernels::cuda::bench {
namespace {

__device__ __forceinline__ uint64_t mix(uint64_t z) {  // splitmix64's finaliser
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

__device__ __forceinline__ float unit(uint64_t bits) {  // uniform in (0, 1)
  return (static_cast<float>(bits >> 40) + 0.5f) * (1.0f / 16777216.0f);
}

__global__ void fill_random_tiles_kernel(float* x, int64_t rows, int64_t cols, uint64_t seed, int exp_range) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, tile = (i % cols) / 128;
  const uint64_t tile_bits = mix(seed ^ mix(static_cast<uint64_t>(r) * 0x100000001B3ull + static_cast<uint64_t>(tile)));
  const int e = static_cast<int>(tile_bits % static_cast<uint64_t>(2 * exp_range + 1)) - exp_range;
  const uint64_t bits = mix(seed + 0x632BE59BD9B4E019ull * static_cast<uint64_t>(i + 1));
  // Box-Muller on two 24-bit uniforms.
  const float u1 = unit(bits), u2 = unit(mix(bits));
  float z = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
  if (fabsf(z) < 1.0f / 1024) z = copysignf(1.0f / 1024, z);
  x[i] = ldexpf(z, e);
}

__global__ void to_bf16_kernel(const float* x, __nv_bfloat16* out, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = __float2bfloat16_rn(x[i]);
}

unsigned blocks_for(int64_t count) { return static_cast<unsigned>((count + 255) / 256); }

}  // namespace

void fill_random_tiles(float* x, int64_t rows, int64_t cols, uint64_t seed, int exp_range, cudaStream_t stream) {
  if (rows * cols == 0) return;
  fill_random_tiles_kernel<<<blocks_for(rows * cols), 256, 0, stream>>>(x, rows, cols, seed, exp_range);
  TANDEM_CUDA_CHECK_LAUNCH();
}

void to_bf16(const float* x, uint16_t* out, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  to_bf16_kernel<<<blocks_for(count), 256, 0, stream>>>(x, reinterpret_cast<__nv_bfloat16*>(out), count);
  TANDEM_CUDA_CHECK_LAUNCH();
}

void flush_l2(void* scratch, size_t bytes, cudaStream_t stream) {
  TANDEM_CUDA_CHECK(cudaMemsetAsync(scratch, 0x5A, bytes, stream));
}

CudaTiming time_cuda(const std::function<void()>& run, int warmup, int iters, void* l2_scratch, size_t l2_scratch_bytes) {
  if (iters < 1) throw std::invalid_argument("time_cuda: iters must be at least 1");
  cudaEvent_t start, stop;
  TANDEM_CUDA_CHECK(cudaEventCreate(&start));
  TANDEM_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < warmup; ++i) run();
  std::vector<double> us;
  for (int i = 0; i < iters; ++i) {
    if (l2_scratch) flush_l2(l2_scratch, l2_scratch_bytes);
    TANDEM_CUDA_CHECK(cudaEventRecord(start));
    run();
    TANDEM_CUDA_CHECK(cudaEventRecord(stop));
    TANDEM_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    TANDEM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    us.push_back(double(ms) * 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us.front()};
}

}  // namespace tandem::kernels::cuda::bench
