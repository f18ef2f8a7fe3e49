// The core of MLA attention on the CPU: causal softmax attention per sequence and head, query-key
// head dim (qk_nope + qk_rope) separate from the value head dim; forward and backward.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

struct AttentionShape {
  int64_t batch = 1;   // sequences
  int64_t seq = 0;     // tokens per sequence
  int64_t heads = 0;
  int64_t qk_dim = 0;  // qk_nope + qk_rope (128 + 64 = 192 in DeepSeek-V3)
  int64_t v_dim = 0;   // 128 in DeepSeek-V3
};

// For each sequence b, head h and query i, with scale = 1/sqrt(qk_dim):
//   s[i, j] = scale · q[b,i,h,:]·k[b,j,h,:] for j <= i,  P[i, j] = exp(s[i, j] − lse[b,h,i]),
//   out[b,i,h,:] = Σ_{j<=i} P[i, j] · v[b,j,h,:],  lse[b,h,i] = log Σ_{j<=i} exp(s[i, j]).
// q, k [batch, seq, heads, qk_dim]; v, out [batch, seq, heads, v_dim]; lse [batch, heads, seq], kept
// for the backward. Heads run in parallel on `threads` threads; the result does not depend on it.
void attention_forward(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                       const AttentionShape& shape, std::span<float> out, std::span<float> lse, int threads = 1);
void attention_forward(std::span<const double> q, std::span<const double> k, std::span<const double> v,
                       const AttentionShape& shape, std::span<double> out, std::span<double> lse, int threads = 1);

// Phase B (the core has no weights), writes dq, dk [batch, seq, heads, qk_dim] and dv [.., v_dim] from
// the forward's out and lse: P recomputed, dP = dout·vᵀ, dS = P ∘ (dP − rowsum(dout ∘ out)),
// dq = scale · dS·k, dk = scale · dSᵀ·q, dv = Pᵀ·dout.
void attention_backward(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                        std::span<const float> out, std::span<const float> lse, std::span<const float> dout,
                        const AttentionShape& shape, std::span<float> dq, std::span<float> dk, std::span<float> dv,
                        int threads = 1);
void attention_backward(std::span<const double> q, std::span<const double> k, std::span<const double> v,
                        std::span<const double> out, std::span<const double> lse, std::span<const double> dout,
                        const AttentionShape& shape, std::span<double> dq, std::span<double> dk,
                        std::span<double> dv, int threads = 1);

}  // namespace tandem::kernels
