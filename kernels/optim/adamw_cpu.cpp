// AdamW with BF16 moments and the gradient clipping helpers (see adamw_cpu.h).
#include "kernels/optim/adamw_cpu.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "kernels/common/bf16.h"
#include "kernels/common/check.h"

namespace tandem::kernels {

void adamw_step(std::span<float> params, std::span<const float> grads, std::span<float> m, std::span<float> v,
                int64_t step, const AdamWConfig& c) {
  constexpr const char* kName = "adamw_step";
  const auto n = static_cast<int64_t>(params.size());
  check_at_least(kName, "step", step, 1);
  check_size(kName, "grads", grads.size(), n, "[params.size()]");
  check_size(kName, "m", m.size(), n, "[params.size()]");
  check_size(kName, "v", v.size(), n, "[params.size()]");
  const auto bias1 = static_cast<float>(1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(step)));
  const auto bias2 = static_cast<float>(1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(step)));
  const float decay = 1.0f - c.lr * c.weight_decay;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grads[static_cast<size_t>(i)];
    float& mi = m[static_cast<size_t>(i)];
    float& vi = v[static_cast<size_t>(i)];
    mi = round_to_bf16(c.beta1 * mi + (1.0f - c.beta1) * g);
    vi = round_to_bf16(c.beta2 * vi + (1.0f - c.beta2) * g * g);
    float& p = params[static_cast<size_t>(i)];
    p *= decay;
    p -= c.lr * (mi / bias1) / (std::sqrt(vi / bias2) + c.eps);
  }
}

double sum_of_squares(std::span<const float> values) {
  double s = 0;
  for (float x : values) s += static_cast<double>(x) * static_cast<double>(x);
  return s;
}

float clip_coefficient(double total_norm, double max_norm) {
  if (!std::isfinite(total_norm)) return std::numeric_limits<float>::quiet_NaN();
  if (max_norm <= 0) return 1.0f;
  const double c = max_norm / (total_norm + 1e-6);
  return c < 1.0 ? static_cast<float>(c) : 1.0f;
}

void scale_in_place(std::span<float> values, float factor) {
  for (float& x : values) x *= factor;
}

}  // namespace tandem::kernels
