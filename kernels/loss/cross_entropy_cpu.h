// Cross-entropy of logits against target tokens, mean over the tokens that count, forward and
// backward (CPU reference), numerically stable through the log-sum-exp with the row max taken out.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

inline constexpr int32_t kIgnoreIndex = -100;

// loss_t = lse_t − logits[t, targets[t]], lse_t = log Σ_v exp(logits[t, v]); returns the mean of loss_t
// over tokens with targets[t] != ignore_index (0 when there are none), summed in double in token order.
// logits [tokens, vocab], targets [tokens], lse [tokens] (kept for the backward; 0 for ignored tokens).
// A target outside [0, vocab) other than ignore_index is an error.
double cross_entropy_forward(std::span<const float> logits, std::span<const int32_t> targets, int64_t vocab,
                             int32_t ignore_index, std::span<float> lse);
double cross_entropy_forward(std::span<const double> logits, std::span<const int32_t> targets, int64_t vocab,
                             int32_t ignore_index, std::span<double> lse);

// Phase B, writes dlogits [tokens, vocab]: dloss · (softmax(logits[t]) − onehot(targets[t])) / counted,
// counted = number of tokens not ignored; ignored rows are 0. dloss is the gradient of the mean loss
// (1 for plain training, λ for the MTP loss).
void cross_entropy_backward(std::span<const float> logits, std::span<const int32_t> targets,
                            std::span<const float> lse, int64_t vocab, int32_t ignore_index, float dloss,
                            std::span<float> dlogits);
void cross_entropy_backward(std::span<const double> logits, std::span<const int32_t> targets,
                            std::span<const double> lse, int64_t vocab, int32_t ignore_index, double dloss,
                            std::span<double> dlogits);

}  // namespace tandem::kernels
