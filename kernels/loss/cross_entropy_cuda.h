// Cross-entropy over a large vocabulary on the GPU (cross_entropy_cpu.h is the reference): one pass
// over each row with an online max and rescaled sum of exponentials, the mean over the tokens that
// count in double, and the backward. Logits and dlogits FP32 or BF16 (ActType), FP32 arithmetic.
// Deterministic (fixed reduction orders, no atomics). Device pointers, `stream`; arguments checked
// on the host first (std::invalid_argument).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/cuda_dtype_cuda.h"

namespace tandem::kernels::cuda {

// What the forward leaves on the device for the caller and the backward.
struct CrossEntropyTotals {
  double mean_loss = 0;  // loss_sum / counted (0 when counted is 0), cross_entropy_forward's result
  double loss_sum = 0;   // Σ of the counted tokens' losses in double (fixed order, not the reference's)
  int64_t counted = 0;   // tokens whose target is not ignore_index
  int64_t invalid = 0;   // targets outside [0, vocab) other than ignore_index (the reference throws);
                         // their token_loss is NaN, so loss_sum and mean_loss are NaN too
};

// lse[t] = log Σ_v exp(logits[t, v]) (0 for ignored tokens), token_loss[t] = lse[t] − logits[t, y_t]
// (0 for ignored tokens), *totals as above. logits [tokens, vocab] of `type`, targets [tokens],
// lse and token_loss [tokens] FP32, totals one struct in device memory. The sums are blocked, so lse
// is within a few ulp of the reference's rather than equal to it.
void cross_entropy_forward_cuda(const void* logits, ActType type, const int32_t* targets, int64_t tokens, int64_t vocab,
                                int32_t ignore_index, float* lse, float* token_loss, CrossEntropyTotals* totals,
                                cudaStream_t stream = nullptr);

// Phase B, writes dlogits [tokens, vocab] of `type`: exp(logits − lse) · scale, minus scale at the
// target, scale = dloss / totals->counted (the forward's count; 0 when none); ignored rows 0, rows
// with an invalid target NaN. With the same lse the FP32 result is within a few ulp of the reference's.
void cross_entropy_backward_cuda(const void* logits, ActType type, const int32_t* targets, const float* lse,
                                 const CrossEntropyTotals* totals, int64_t tokens, int64_t vocab, int32_t ignore_index,
                                 float dloss, void* dlogits, cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda
