// Expert load balancing of DeepSeek-V3 on the CPU: the sequence-wise balance loss (paper eq. 17-20)
// forward and backward, per-expert load counts, and the aux-loss-free bias update.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

// Per sequence b of seq tokens (T = seq, N_r = experts, K_r = top_k), with s the sigmoid scores:
//   s'[t, i] = s[t, i] / Σ_j s[t, j],  P_i = (1/T) Σ_t s'[t, i],
//   f_i = N_r / (K_r · T) · |{t : i among topk_idx[t]}|,  L_b = alpha · Σ_i f_i · P_i;
// returns the mean of L_b over the batch. scores [batch·seq, experts], topk_idx [batch·seq, top_k].
double balance_loss_forward(std::span<const float> scores, std::span<const int32_t> topk_idx, int64_t batch,
                            int64_t seq, int64_t experts, int64_t top_k, double alpha);
double balance_loss_forward(std::span<const double> scores, std::span<const int32_t> topk_idx, int64_t batch,
                            int64_t seq, int64_t experts, int64_t top_k, double alpha);

// Phase B, adds dloss · dL/dscores into dscores [batch·seq, experts] (f is a count: no gradient):
// with g_i = dloss · alpha · f_i / (T · batch) and S_t = Σ_j s[t, j],
// dscores[t, j] += (g_j − Σ_i g_i · s'[t, i]) / S_t.
void balance_loss_backward(std::span<const float> scores, std::span<const int32_t> topk_idx, int64_t batch,
                           int64_t seq, int64_t experts, int64_t top_k, double alpha, double dloss,
                           std::span<float> dscores);
void balance_loss_backward(std::span<const double> scores, std::span<const int32_t> topk_idx, int64_t batch,
                           int64_t seq, int64_t experts, int64_t top_k, double alpha, double dloss,
                           std::span<double> dscores);

// Adds to load[e] the number of (token, slot) pairs of topk_idx [tokens, top_k] that chose e.
void count_expert_load(std::span<const int32_t> topk_idx, int64_t experts, std::span<int64_t> load);

// Aux-loss-free balancing: bias[e] += gamma · sign(mean(load) − load[e]), sign(0) = 0, so an
// overloaded expert is chosen less often next step. load and bias [experts].
void update_router_bias(std::span<const int64_t> load, float gamma, std::span<float> bias);

// max(load) / mean(load), 1 when perfectly balanced (0 when no token was routed).
double expert_load_imbalance(std::span<const int64_t> load);

}  // namespace tandem::kernels
