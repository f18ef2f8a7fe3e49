// RoPE tables, forward and backward (see rope_cpu.h).
#include "kernels/attention/rope_cpu.h"

#include <fmt/format.h>

#include <cmath>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

template <typename T>
void tables_impl(int64_t positions, int64_t rope_dim, double theta, std::span<T> cos, std::span<T> sin) {
  constexpr const char* kName = "rope_tables";
  check_at_least(kName, "positions", positions, 0);
  check_at_least(kName, "rope_dim", rope_dim, 2);
  check_arg(rope_dim % 2 == 0, kName, fmt::format("rope_dim must be even, found {}", rope_dim));
  check_arg(theta > 0, kName, fmt::format("theta must be positive, found {}", theta));
  const int64_t half = rope_dim / 2;
  const std::string shape = fmt::format("[positions={}, rope_dim/2={}]", positions, half);
  check_size(kName, "cos", cos.size(), positions * half, shape);
  check_size(kName, "sin", sin.size(), positions * half, shape);
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dim));
      cos[static_cast<size_t>(p * half + i)] = static_cast<T>(std::cos(angle));
      sin[static_cast<size_t>(p * half + i)] = static_cast<T>(std::sin(angle));
    }
  }
}

// sign = +1 rotates forward, −1 backward (the transpose of the rotation).
template <typename T>
void rotate(const char* name, std::span<const T> x, std::span<const int32_t> positions, int64_t heads,
            int64_t rope_dim, std::span<const T> cos, std::span<const T> sin, std::span<T> y, T sign) {
  check_at_least(name, "heads", heads, 1);
  check_at_least(name, "rope_dim", rope_dim, 2);
  check_arg(rope_dim % 2 == 0, name, fmt::format("rope_dim must be even, found {}", rope_dim));
  const auto tokens = static_cast<int64_t>(positions.size());
  const int64_t half = rope_dim / 2;
  const std::string shape = fmt::format("[tokens={}, heads={}, rope_dim={}]", tokens, heads, rope_dim);
  check_size(name, "input", x.size(), tokens * heads * rope_dim, shape);
  check_size(name, "output", y.size(), tokens * heads * rope_dim, shape);
  check_arg(cos.size() == sin.size() && cos.size() % static_cast<size_t>(half) == 0, name,
            fmt::format("cos and sin must both be [positions, {}], found {} and {} elements", half, cos.size(), sin.size()));
  const auto max_positions = static_cast<int64_t>(cos.size()) / half;
  for (int64_t t = 0; t < tokens; ++t) {
    const int32_t pos = positions[static_cast<size_t>(t)];
    check_arg(pos >= 0 && pos < max_positions, name,
              fmt::format("positions[{}] = {} is outside the tables' [0, {})", t, pos, max_positions));
    const T* c = cos.data() + pos * half;
    const T* s = sin.data() + pos * half;
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t base = (t * heads + h) * rope_dim;
      for (int64_t i = 0; i < half; ++i) {
        const T a = x[static_cast<size_t>(base + 2 * i)], b = x[static_cast<size_t>(base + 2 * i + 1)];
        const T si = sign * s[i];
        y[static_cast<size_t>(base + 2 * i)] = a * c[i] - b * si;
        y[static_cast<size_t>(base + 2 * i + 1)] = a * si + b * c[i];
      }
    }
  }
}

}  // namespace

void rope_tables(int64_t positions, int64_t rope_dim, double theta, std::span<float> cos, std::span<float> sin) {
  tables_impl(positions, rope_dim, theta, cos, sin);
}
void rope_tables(int64_t positions, int64_t rope_dim, double theta, std::span<double> cos, std::span<double> sin) {
  tables_impl(positions, rope_dim, theta, cos, sin);
}
void rope_forward(std::span<const float> x, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                  std::span<const float> cos, std::span<const float> sin, std::span<float> y) {
  rotate("rope_forward", x, positions, heads, rope_dim, cos, sin, y, 1.0f);
}
void rope_forward(std::span<const double> x, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                  std::span<const double> cos, std::span<const double> sin, std::span<double> y) {
  rotate("rope_forward", x, positions, heads, rope_dim, cos, sin, y, 1.0);
}
void rope_backward(std::span<const float> dy, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                   std::span<const float> cos, std::span<const float> sin, std::span<float> dx) {
  rotate("rope_backward", dy, positions, heads, rope_dim, cos, sin, dx, -1.0f);
}
void rope_backward(std::span<const double> dy, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                   std::span<const double> cos, std::span<const double> sin, std::span<double> dx) {
  rotate("rope_backward", dy, positions, heads, rope_dim, cos, sin, dx, -1.0);
}

}  // namespace tandem::kernels
