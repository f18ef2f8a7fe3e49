// RMSNorm on the GPU (rmsnorm_cpu.h is the reference): forward, input gradient (phase B) and weight
// gradient (phase W, a deterministic two-pass reduction over rows: no float atomics). Activations
// FP32 or BF16 (ActType), weight, rstd and dweight FP32, FP32 arithmetic. Device pointers, `stream`;
// arguments checked on the host first (std::invalid_argument). Every result is the same bits from
// run to run; sums are blocked, so they differ from the reference's sequential sums by rounding.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/cuda_dtype_cuda.h"

namespace tandem::kernels::cuda {

// Rows per partial sum of the weight gradient's first pass.
inline constexpr int64_t kRmsnormRowsPerPartial = 64;

// Floats of scratch rmsnorm_backward_weight_cuda needs: ceil(rows / 64) · dim.
inline int64_t rmsnorm_weight_partial_count(int64_t rows, int64_t dim) {
  return (rows + kRmsnormRowsPerPartial - 1) / kRmsnormRowsPerPartial * dim;
}

// y[r, :] = x[r, :] · rstd[r] · weight, rstd[r] = 1 / sqrt(mean_j x[r, j]² + eps) (IEEE division and
// square root). x, y [rows, dim] of `type`; weight [dim]; rstd [rows].
void rmsnorm_forward_cuda(const void* x, ActType type, const float* weight, int64_t rows, int64_t dim, float eps,
                          void* y, float* rstd, cudaStream_t stream = nullptr);

// Phase B, writes dx [rows, dim]: dx = rstd · w ∘ dy − x · rstd³ · mean_j(w_j · dy_j · x_j).
// x, dy, dx of `type`.
void rmsnorm_backward_input_cuda(const void* x, const float* weight, const float* rstd, const void* dy, ActType type,
                                 int64_t rows, int64_t dim, void* dx, cudaStream_t stream = nullptr);

// Phase W, adds into dweight [dim]: Σ_r dy[r, j] · x[r, j] · rstd[r]. First pass: each block of 64
// rows sums its rows in order into partial [ceil(rows/64), dim]; second pass: dweight[j] plus the
// partials in block order. x, dy of `type`.
void rmsnorm_backward_weight_cuda(const void* x, const float* rstd, const void* dy, ActType type, int64_t rows,
                                  int64_t dim, float* partial, float* dweight, cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda
