// Token permutation for MoE on the GPU (permute_cpu.h is the reference), bit for bit: the index
// (rows grouped by expert, stable by token then slot, segments optionally padded to align_rows), the
// permute (any element size: FP8 codes, BF16, FP32, scales) and its backward, the weighted combine
// (unpermute) and its backward. Device pointers, `stream`; arguments checked on the host first.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/cuda_device_cuda.h"
#include "kernels/common/cuda_dtype_cuda.h"

namespace tandem::kernels::cuda {

inline constexpr int64_t kPermuteMaxExperts = 4096;
inline constexpr int64_t kPermuteChunk = 256;  // pairs per chunk of the index build

// Rows the permuted buffers are allocated with, known before the routing is: tokens·top_k, plus
// experts·(align_rows − 1) when padding (each segment grows by less than align_rows). The real
// row count is expert_offsets[experts] on the device; rows past it are padding too.
TANDEM_HOST_DEVICE int64_t permute_row_capacity(int64_t tokens, int64_t top_k, int64_t experts, int64_t align_rows) {
  return tokens * top_k + (align_rows > 1 ? experts * (align_rows - 1) : 0);
}
TANDEM_HOST_DEVICE int64_t permute_chunks(int64_t pairs) { return (pairs + kPermuteChunk - 1) / kPermuteChunk; }
// Rows of expert e's segment: count rounded up to a multiple of align_rows.
TANDEM_HOST_DEVICE int64_t padded_rows(int64_t count, int64_t align_rows) {
  return (count + align_rows - 1) / align_rows * align_rows;
}
// int32 elements of the index build's scratch: one count per (chunk, expert).
inline int64_t permute_workspace_count(int64_t tokens, int64_t top_k, int64_t experts) {
  return permute_chunks(tokens * top_k) * experts;
}

// PermuteIndex on the device (field meanings as there), with the buffers the build fills.
struct PermuteIndexView {
  int64_t tokens = 0;
  int64_t top_k = 0;
  int64_t experts = 0;
  int64_t align_rows = 1;
  int64_t row_capacity = 0;           // permute_row_capacity(tokens, top_k, experts, align_rows)
  int64_t* expert_offsets = nullptr;  // [experts + 1]; [experts] = the real row count
  int64_t* expert_counts = nullptr;   // [experts]
  int32_t* row_source = nullptr;      // [row_capacity] t·top_k + k, −1 for padding (and past the real rows)
  int64_t* slot_row = nullptr;        // [tokens·top_k], −1 for a pair whose expert id is out of range
  int32_t* invalid_ids = nullptr;     // [1] expert ids outside [0, experts) (the reference throws on any)
  int32_t* workspace = nullptr;       // [permute_workspace_count(tokens, top_k, experts)]
};

// Owns the buffers of a PermuteIndexView.
class DevicePermuteIndex {
 public:
  DevicePermuteIndex(int64_t tokens, int64_t top_k, int64_t experts, int64_t align_rows);
  const PermuteIndexView& view() const { return view_; }

 private:
  DeviceBuffer<int64_t> offsets_, counts_, slot_row_;
  DeviceBuffer<int32_t> row_source_, invalid_, workspace_;
  PermuteIndexView view_;
};

// build_permute_index on the GPU: topk_idx [tokens, top_k] -> every buffer of `index`. Three
// launches: per-chunk expert counts, their prefix over chunks and the offsets, the stable scatter.
void build_permute_index_cuda(const int32_t* topk_idx, const PermuteIndexView& index, cudaStream_t stream = nullptr);

// permute_forward: out[r, :] = x[row_source[r] / top_k, :], zero rows for padding. x [tokens, dim]
// and out [row_capacity, dim] of element_bytes (1, 2 or 4) each: a copy, so any element type.
void permute_forward_cuda(const void* x, int64_t element_bytes, const PermuteIndexView& index, int64_t dim, void* out,
                          cudaStream_t stream = nullptr);

// permute_backward (phase B, writes): dx[t, :] = Σ_k dout[slot_row[t·top_k + k], :], k in order,
// FP32 sums (BF16: rounded once at the end). dout [row_capacity, dim], dx [tokens, dim] of `type`.
void permute_backward_cuda(const void* dout, ActType type, const PermuteIndexView& index, int64_t dim, void* dx,
                           cudaStream_t stream = nullptr);

// unpermute_forward, the combine: out[t, :] = Σ_k weights[t, k] · y[slot_row[t, k], :], k in order.
// y [row_capacity, dim] and out [tokens, dim] of `type`; weights [tokens, top_k] FP32.
void unpermute_forward_cuda(const void* y, ActType type, const float* weights, const PermuteIndexView& index,
                            int64_t dim, void* out, cudaStream_t stream = nullptr);

// unpermute_backward (phase B, writes): dy[slot_row[t, k], :] = weights[t, k] · dout[t, :] (padding
// rows 0) and dweights[t, k] = Σ_d dout[t, d] · y[slot_row[t, k], d], d in increasing order (the
// reference's). y, dy [row_capacity, dim], dout [tokens, dim] of `type`; weights, dweights
// [tokens, top_k] FP32. A pair without a row (invalid expert id) gets dweights NaN.
void unpermute_backward_cuda(const void* y, const float* weights, const void* dout, ActType type,
                             const PermuteIndexView& index, int64_t dim, void* dy, float* dweights,
                             cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda
