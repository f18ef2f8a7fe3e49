// Cross-entropy forward and backward (see cross_entropy_cpu.h).
#include "kernels/loss/cross_entropy_cpu.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

// Checks sizes and targets; returns the number of tokens that count.
int64_t check_inputs(const char* name, size_t logits_size, std::span<const int32_t> targets, size_t lse_size,
                     int64_t vocab, int32_t ignore_index) {
  const auto tokens = static_cast<int64_t>(targets.size());
  check_at_least(name, "vocab", vocab, 1);
  check_size(name, "logits", logits_size, tokens * vocab, fmt::format("[tokens={}, vocab={}]", tokens, vocab));
  check_size(name, "lse", lse_size, tokens, fmt::format("[tokens={}]", tokens));
  int64_t counted = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    const int32_t y = targets[static_cast<size_t>(t)];
    if (y == ignore_index) continue;
    check_arg(y >= 0 && y < vocab, name,
              fmt::format("targets[{}] = {} is outside [0, {}) and is not the ignore index {}", t, y, vocab,
                          ignore_index));
    ++counted;
  }
  return counted;
}

template <typename T>
double forward_impl(std::span<const T> logits, std::span<const int32_t> targets, int64_t vocab, int32_t ignore_index,
                    std::span<T> lse) {
  const int64_t counted = check_inputs("cross_entropy_forward", logits.size(), targets, lse.size(), vocab, ignore_index);
  double total = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    if (targets[t] == ignore_index) {
      lse[t] = 0;
      continue;
    }
    const T* row = logits.data() + static_cast<int64_t>(t) * vocab;
    T mx = row[0];
    for (int64_t v = 1; v < vocab; ++v) mx = std::max(mx, row[v]);
    T sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - mx);
    lse[t] = mx + std::log(sum);
    total += static_cast<double>(lse[t] - row[targets[t]]);
  }
  return counted == 0 ? 0.0 : total / static_cast<double>(counted);
}

template <typename T>
void backward_impl(std::span<const T> logits, std::span<const int32_t> targets, std::span<const T> lse, int64_t vocab,
                   int32_t ignore_index, T dloss, std::span<T> dlogits) {
  constexpr const char* kName = "cross_entropy_backward";
  const int64_t counted = check_inputs(kName, logits.size(), targets, lse.size(), vocab, ignore_index);
  check_size(kName, "dlogits", dlogits.size(), logits.size(), "[tokens, vocab]");
  const T scale = counted == 0 ? T(0) : dloss / static_cast<T>(counted);
  for (size_t t = 0; t < targets.size(); ++t) {
    T* out = dlogits.data() + static_cast<int64_t>(t) * vocab;
    if (targets[t] == ignore_index) {
      for (int64_t v = 0; v < vocab; ++v) out[v] = 0;
      continue;
    }
    const T* row = logits.data() + static_cast<int64_t>(t) * vocab;
    for (int64_t v = 0; v < vocab; ++v) out[v] = std::exp(row[v] - lse[t]) * scale;
    out[targets[t]] -= scale;
  }
}

}  // namespace

double cross_entropy_forward(std::span<const float> logits, std::span<const int32_t> targets, int64_t vocab,
                             int32_t ignore_index, std::span<float> lse) {
  return forward_impl(logits, targets, vocab, ignore_index, lse);
}
double cross_entropy_forward(std::span<const double> logits, std::span<const int32_t> targets, int64_t vocab,
                             int32_t ignore_index, std::span<double> lse) {
  return forward_impl(logits, targets, vocab, ignore_index, lse);
}
void cross_entropy_backward(std::span<const float> logits, std::span<const int32_t> targets,
                            std::span<const float> lse, int64_t vocab, int32_t ignore_index, float dloss,
                            std::span<float> dlogits) {
  backward_impl(logits, targets, lse, vocab, ignore_index, dloss, dlogits);
}
void cross_entropy_backward(std::span<const double> logits, std::span<const int32_t> targets,
                            std::span<const double> lse, int64_t vocab, int32_t ignore_index, double dloss,
                            std::span<double> dlogits) {
  backward_impl(logits, targets, lse, vocab, ignore_index, dloss, dlogits);
}

}  // namespace tandem::kernels
