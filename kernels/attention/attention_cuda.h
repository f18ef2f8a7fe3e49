// The core of MLA attention on the GPU: causal softmax attention with query-key head dim 192 and
// value head dim 128, BF16 tensors, FP32 accumulation and softmax; forward (out and the row
// log-sum-exp) and backward (dq, dk, dv). Same layouts and arguments as attention_cpu.h.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/attention/attention_cpu.h"

namespace tandem::kernels::cuda {

// The only head dims compiled (DeepSeek-V3: qk_nope 128 + qk_rope 64, v_head 128).
inline constexpr int64_t kAttentionQkDim = 192;
inline constexpr int64_t kAttentionVDim = 128;

// As attention_forward (attention_cpu.h), scale = 1/sqrt(qk_dim), on device pointers:
//   q, k [batch, seq, heads, qk_dim] BF16 bits; v, out [batch, seq, heads, v_dim] BF16 bits;
//   lse [batch, heads, seq] FP32 (natural log), kept for the backward.
// BF16 pointers 16-byte aligned, lse 4-byte aligned; shape.qk_dim == 192, shape.v_dim == 128,
// batch and heads at most 65535. Bad arguments throw std::invalid_argument before anything is
// launched. Asynchronous on `stream`.
void attention_forward_cuda(const uint16_t* q, const uint16_t* k, const uint16_t* v, const AttentionShape& shape,
                            uint16_t* out, float* lse, cudaStream_t stream = nullptr);

// As attention_backward: writes dq, dk [batch, seq, heads, qk_dim] and dv [batch, seq, heads, v_dim]
// (BF16 bits) from q, k, v, the forward's out (BF16) and lse (FP32) and dout [.., v_dim] (BF16).
// Deterministic: dq, dk and dv are each summed in a fixed order by one thread (no atomics), so two
// runs give the same bits. Takes a [batch, heads, seq] FP32 scratch from the stream-ordered
// allocator (cudaMallocAsync). Same argument rules as the forward.
void attention_backward_cuda(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* out,
                             const float* lse, const uint16_t* dout, const AttentionShape& shape, uint16_t* dq,
                             uint16_t* dk, uint16_t* dv, cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda
