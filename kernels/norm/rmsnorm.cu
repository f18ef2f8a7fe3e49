// CUDA RMSNorm kernels (rmsnorm_cuda.h). Forward and input gradient: one 256-thread block per row,
// each thread a strided sequential sum, then a fixed xor-shuffle tree per warp and the 8 warp sums in
// warp order. Weight gradient: a [columns/256, rows/64] grid of partial sums, then one thread per
// column adds the partials in order. No atomics: the same inputs give the same bits.
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/norm/rmsnorm_cuda.h"

namespace tandem::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// The block's sum of v, the same in every thread, in a fixed order. `scratch` holds 8 floats.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];
  return total;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_forward_kernel(const T* __restrict__ x, const float* __restrict__ weight, int64_t dim, float eps,
                           T* __restrict__ y, float* __restrict__ rstd) {
  __shared__ float scratch[kThreads / 32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * dim;
  float sum_sq = 0.0f;
  for (int64_t j = threadIdx.x; j < dim; j += kThreads) {
    const float v = act::load(xr, j);
    sum_sq += v * v;
  }
  sum_sq = block_sum(sum_sq, scratch);
  const float s = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(sum_sq, static_cast<float>(dim)), eps)));
  if (threadIdx.x == 0) rstd[r] = s;
  T* yr = y + r * dim;
  for (int64_t j = threadIdx.x; j < dim; j += kThreads) act::store(yr, j, __fmul_rn(__fmul_rn(act::load(xr, j), s), weight[j]));
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_backward_input_kernel(const T* __restrict__ x, const float* __restrict__ weight,
                                  const float* __restrict__ rstd, const T* __restrict__ dy, int64_t dim,
                                  T* __restrict__ dx) {
  __shared__ float scratch[kThreads / 32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * dim;
  const T* dyr = dy + r * dim;
  float dot = 0.0f;
  for (int64_t j = threadIdx.x; j < dim; j += kThreads) dot += weight[j] * act::load(dyr, j) * act::load(xr, j);
  dot = block_sum(dot, scratch);
  const float s = rstd[r];
  const float coef = s * s * s * dot / static_cast<float>(dim);
  T* dxr = dx + r * dim;
  for (int64_t j = threadIdx.x; j < dim; j += kThreads)
    act::store(dxr, j, s * weight[j] * act::load(dyr, j) - act::load(xr, j) * coef);
}

// partial[b, j] = Σ_{r in rows of block b, in order} dy[r, j] · x[r, j] · rstd[r].
template <typename T>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_weight_partial_kernel(const T* __restrict__ x, const float* __restrict__ rstd, const T* __restrict__ dy,
                                  int64_t rows, int64_t dim, float* __restrict__ partial) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= dim) return;
  const int64_t b = blockIdx.y;
  const int64_t r_end = (b + 1) * kRmsnormRowsPerPartial < rows ? (b + 1) * kRmsnormRowsPerPartial : rows;
  float acc = 0.0f;
  for (int64_t r = b * kRmsnormRowsPerPartial; r < r_end; ++r) acc += act::load(dy, r * dim + j) * act::load(x, r * dim + j) * rstd[r];
  partial[b * dim + j] = acc;
}

__global__ void __launch_bounds__(kThreads)
    rmsnorm_weight_final_kernel(const float* __restrict__ partial, int64_t blocks, int64_t dim,
                                float* __restrict__ dweight) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= dim) return;
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) acc += partial[b * dim + j];
  dweight[j] += acc;
}

[[noreturn]] void bad(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}

void check_pointer(const char* function, const char* name, const void* p) {
  if (p == nullptr) bad(function, std::string(name) + " is null");
}

void check_common(const char* function, ActType type, int64_t rows, int64_t dim) {
  if (type != ActType::F32 && type != ActType::BF16) bad(function, "type must be ActType::F32 or ActType::BF16");
  if (rows < 0 || rows > 0x7fffffff) bad(function, "rows must be in [0, 2^31), found " + std::to_string(rows));
  if (dim < 1) bad(function, "dim must be >= 1, found " + std::to_string(dim));
}

unsigned column_blocks(int64_t dim) { return static_cast<unsigned>((dim + kThreads - 1) / kThreads); }

}  // namespace

void rmsnorm_forward_cuda(const void* x, ActType type, const float* weight, int64_t rows, int64_t dim, float eps,
                          void* y, float* rstd, cudaStream_t stream) {
  constexpr const char* kName = "rmsnorm_forward_cuda";
  check_common(kName, type, rows, dim);
  if (rows == 0) return;
  check_pointer(kName, "x", x);
  check_pointer(kName, "weight", weight);
  check_pointer(kName, "y", y);
  check_pointer(kName, "rstd", rstd);
  const auto grid = static_cast<unsigned>(rows);
  if (type == ActType::F32) {
    rmsnorm_forward_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(x), weight, dim, eps,
                                                          static_cast<float*>(y), rstd);
  } else {
    rmsnorm_forward_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const uint16_t*>(x), weight, dim, eps,
                                                          static_cast<uint16_t*>(y), rstd);
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward_input_cuda(const void* x, const float* weight, const float* rstd, const void* dy, ActType type,
                                 int64_t rows, int64_t dim, void* dx, cudaStream_t stream) {
  constexpr const char* kName = "rmsnorm_backward_input_cuda";
  check_common(kName, type, rows, dim);
  if (rows == 0) return;
  check_pointer(kName, "x", x);
  check_pointer(kName, "weight", weight);
  check_pointer(kName, "rstd", rstd);
  check_pointer(kName, "dy", dy);
  check_pointer(kName, "dx", dx);
  const auto grid = static_cast<unsigned>(rows);
  if (type == ActType::F32) {
    rmsnorm_backward_input_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(x), weight, rstd,
                                                                 static_cast<const float*>(dy), dim, static_cast<float*>(dx));
  } else {
    rmsnorm_backward_input_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const uint16_t*>(x), weight, rstd,
                                                                 static_cast<const uint16_t*>(dy), dim,
                                                                 static_cast<uint16_t*>(dx));
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward_weight_cuda(const void* x, const float* rstd, const void* dy, ActType type, int64_t rows,
                                  int64_t dim, float* partial, float* dweight, cudaStream_t stream) {
  constexpr const char* kName = "rmsnorm_backward_weight_cuda";
  check_common(kName, type, rows, dim);
  if (rows == 0) return;  // adds nothing
  check_pointer(kName, "x", x);
  check_pointer(kName, "rstd", rstd);
  check_pointer(kName, "dy", dy);
  check_pointer(kName, "partial", partial);
  check_pointer(kName, "dweight", dweight);
  const int64_t blocks = (rows + kRmsnormRowsPerPartial - 1) / kRmsnormRowsPerPartial;
  if (blocks > 65535) bad(kName, "rows must be at most 65535 · 64, found " + std::to_string(rows));
  const dim3 grid(column_blocks(dim), static_cast<unsigned>(blocks));
  if (type == ActType::F32) {
    rmsnorm_weight_partial_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(x), rstd,
                                                                 static_cast<const float*>(dy), rows, dim, partial);
  } else {
    rmsnorm_weight_partial_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const uint16_t*>(x), rstd,
                                                                 static_cast<const uint16_t*>(dy), rows, dim, partial);
  }
  TANDEM_CUDA_CHECK_LAUNCH();
  rmsnorm_weight_final_kernel<<<column_blocks(dim), kThreads, 0, stream>>>(partial, blocks, dim, dweight);
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::kernels::cuda
