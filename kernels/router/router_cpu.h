// MoE router of DeepSeek-V3 on the CPU: sigmoid scores, a per-expert bias used only for choosing,
// group-limited top-k with deterministic ties, normalised weights times the route scale; and the
// backward of the weights through the scores and the sigmoid (the choice itself has no gradient).
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

struct RouterConfig {
  int64_t experts = 0;      // routed experts (256 in DeepSeek-V3)
  int64_t top_k = 0;        // experts per token (8)
  int64_t groups = 1;       // expert groups (8); experts split into equal contiguous groups
  int64_t topk_groups = 1;  // groups kept per token (4)
  float route_scale = 1.0f; // 2.5
};

// For each token t, with s = sigmoid(logits[t]) and c = s + bias (the choice score):
//  1. group score = sum of the two largest c in the group (the one c when a group has one expert);
//  2. keep the topk_groups groups with the largest group score;
//  3. choose the top_k experts with the largest c in the kept groups, listed by descending c;
//  ties everywhere go to the lower index;
//  4. topk_weight[t, k] = route_scale · s[e_k] / Σ_k' s[e_k'] (the unbiased scores).
// logits, scores [tokens, experts]; bias [experts]; topk_idx [tokens, top_k]; topk_weight [tokens, top_k].
void router_forward(std::span<const float> logits, std::span<const float> bias, const RouterConfig& config,
                    std::span<float> scores, std::span<int32_t> topk_idx, std::span<float> topk_weight);
void router_forward(std::span<const double> logits, std::span<const double> bias, const RouterConfig& config,
                    std::span<double> scores, std::span<int32_t> topk_idx, std::span<double> topk_weight);

// Phase B, writes dscores [tokens, experts] (0 for experts not chosen): with S = Σ_k s[e_k],
// dscores[t, e_j] = route_scale / S · (dweight[t, j] − Σ_k dweight[t, k] · s[e_k] / S).
void router_weights_backward(std::span<const float> scores, std::span<const int32_t> topk_idx,
                             std::span<const float> dweight, const RouterConfig& config, std::span<float> dscores);
void router_weights_backward(std::span<const double> scores, std::span<const int32_t> topk_idx,
                             std::span<const double> dweight, const RouterConfig& config, std::span<double> dscores);

// Phase B, writes dlogits = dscores · s · (1 − s), all [tokens, experts].
void router_sigmoid_backward(std::span<const float> scores, std::span<const float> dscores, std::span<float> dlogits);
void router_sigmoid_backward(std::span<const double> scores, std::span<const double> dscores,
                             std::span<double> dlogits);

}  // namespace tandem::kernels
