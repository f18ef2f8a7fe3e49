// SwiGLU of the experts on the GPU (swiglu_cpu.h is the reference): out = silu(gate) · up and its
// backward, on separate arrays and on the fused [rows, 2·ffn] output of the up-projection GEMM.
// FP32 or BF16 in and out (ActType, one for all arrays of a call), FP32 arithmetic. Device
// pointers, `stream`; arguments checked on the host first (std::invalid_argument).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/cuda_dtype_cuda.h"

namespace tandem::kernels::cuda {

// swiglu_forward: out[i] = gate[i] · σ(gate[i]) · up[i], `count` elements each. σ uses expf (within
// 2 ulp) and an IEEE division; the products may be fused (FMA): a few ulp from the reference.
void swiglu_forward_cuda(const void* gate, const void* up, ActType type, int64_t count, void* out,
                         cudaStream_t stream = nullptr);

// swiglu_backward (phase B, writes): dgate = dout · up · σ · (1 + g · (1 − σ)), dup = dout · silu(g).
void swiglu_backward_cuda(const void* gate, const void* up, const void* dout, ActType type, int64_t count, void* dgate,
                          void* dup, cudaStream_t stream = nullptr);

// Fused layout: h [rows, 2·ffn] (gate in columns [0, ffn), up in [ffn, 2·ffn)), out and dout
// [rows, ffn], dh [rows, 2·ffn].
void swiglu_forward_fused_cuda(const void* h, ActType type, int64_t rows, int64_t ffn, void* out,
                               cudaStream_t stream = nullptr);
void swiglu_backward_fused_cuda(const void* h, const void* dout, ActType type, int64_t rows, int64_t ffn, void* dh,
                                cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda
