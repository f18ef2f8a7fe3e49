// The MoE router on the GPU (router_cpu.h is the reference): sigmoid scores, biased group-limited
// top-k with the reference's tie rule (lower index wins) and its exact choice, normalised weights
// times the route scale; the weights' backward and the sigmoid's. FP32 throughout (the gate stays
// in FP32 in the recipe). Device pointers; every call runs on `stream` and checks its arguments
// on the host first (std::invalid_argument).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/router/router_cpu.h"

namespace tandem::kernels::cuda {

// Limits of the CUDA router (one warp per token): experts <= 1024, groups <= 64, top_k <= 32,
// besides router_forward's own rules (experts a multiple of groups, topk_groups in [1, groups],
// top_k in [1, topk_groups · experts/groups]).
inline constexpr int64_t kRouterMaxExperts = 1024;
inline constexpr int64_t kRouterMaxGroups = 64;
inline constexpr int64_t kRouterMaxTopK = 32;

// router_forward: logits [tokens, experts], bias [experts] -> scores [tokens, experts],
// topk_idx [tokens, top_k], topk_weight [tokens, top_k]. The choice uses the reference's order of
// comparisons, so the experts equal the CPU's whenever the scores do; a score may differ from the
// CPU's by an ulp or two where glibc's expf is not correctly rounded (router_rules_cuda.h). Weights are
// computed as the reference does (sum in k order, IEEE division): same bits for the same scores.
// NaN logits give some valid choice, not necessarily the reference's.
void router_forward_cuda(const float* logits, const float* bias, int64_t tokens, const RouterConfig& config,
                         float* scores, int32_t* topk_idx, float* topk_weight, cudaStream_t stream = nullptr);

// router_weights_backward (phase B, writes dscores [tokens, experts], 0 where not chosen), same
// arithmetic as the reference: bit-equal. A token with an index outside [0, experts) gets a row of
// NaN (the reference throws; the device cannot).
void router_weights_backward_cuda(const float* scores, const int32_t* topk_idx, const float* dweight, int64_t tokens,
                                  const RouterConfig& config, float* dscores, cudaStream_t stream = nullptr);

// router_sigmoid_backward: dlogits = dscores · s · (1 − s), `count` elements; bit-equal.
void router_sigmoid_backward_cuda(const float* scores, const float* dscores, int64_t count, float* dlogits,
                                  cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda
