// SwiGLU activation of the experts: out = silu(gate) · up, forward and backward (CPU reference),
// elementwise on separate arrays and on the fused [rows, 2·ffn] output of one up-projection GEMM.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

// out[i] = silu(gate[i]) · up[i], silu(g) = g · sigmoid(g). All spans the same length.
void swiglu_forward(std::span<const float> gate, std::span<const float> up, std::span<float> out);
void swiglu_forward(std::span<const double> gate, std::span<const double> up, std::span<double> out);

// Phase B, writes: with σ = sigmoid(g), dgate = dout · up · σ · (1 + g · (1 − σ)), dup = dout · silu(g).
void swiglu_backward(std::span<const float> gate, std::span<const float> up, std::span<const float> dout,
                     std::span<float> dgate, std::span<float> dup);
void swiglu_backward(std::span<const double> gate, std::span<const double> up, std::span<const double> dout,
                     std::span<double> dgate, std::span<double> dup);

// Fused layout: h [rows, 2·ffn], gate in columns [0, ffn), up in [ffn, 2·ffn) (one GEMM with the gate
// and up weights stacked as [2·ffn, hidden]); out [rows, ffn]; dh [rows, 2·ffn].
void swiglu_forward_fused(std::span<const float> h, int64_t rows, int64_t ffn, std::span<float> out);
void swiglu_forward_fused(std::span<const double> h, int64_t rows, int64_t ffn, std::span<double> out);
void swiglu_backward_fused(std::span<const float> h, std::span<const float> dout, int64_t rows, int64_t ffn,
                           std::span<float> dh);
void swiglu_backward_fused(std::span<const double> h, std::span<const double> dout, int64_t rows, int64_t ffn,
                           std::span<double> dh);

}  // namespace tandem::kernels
