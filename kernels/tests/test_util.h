// Shared test helpers for kernels_tests: seeded random inputs (never zeros), comparisons with
// tolerances, and a central-difference gradient check for functions of double vectors.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <vector>

namespace tandem::kernels::test {

// n values uniform in [lo, hi], from a fixed seed, none of magnitude below 1e-3 of the range's
// largest magnitude (so no zeros).
template <typename T = float>
std::vector<T> random_values(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  const double floor = 1e-3 * std::max(std::abs(lo), std::abs(hi));
  std::vector<T> out(n);
  for (auto& v : out) {
    double x = dist(rng);
    while (std::abs(x) < floor) x = dist(rng);
    v = static_cast<T>(x);
  }
  return out;
}

inline std::vector<double> to_double(std::span<const float> x) { return {x.begin(), x.end()}; }

// max |a - b| / (atol + rtol·|b|) over elements: <= 1 means within tolerance.
inline double max_scaled_error(std::span<const double> a, std::span<const double> b, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]) / (atol + rtol * std::abs(b[i])));
  }
  return worst;
}

// Central differences of f at x with step eps: df/dx_i ≈ (f(x + eps·e_i) − f(x − eps·e_i)) / 2eps.
inline std::vector<double> numeric_gradient(const std::function<double(const std::vector<double>&)>& f,
                                            std::vector<double> x, double eps = 1e-6) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = f(x);
    x[i] = saved - eps;
    const double down = f(x);
    x[i] = saved;
    grad[i] = (up - down) / (2 * eps);
  }
  return grad;
}

// Σ r_i · y_i: turns a vector output into the scalar the gradient checks differentiate.
inline double dot(std::span<const double> r, std::span<const double> y) {
  double s = 0;
  for (size_t i = 0; i < r.size(); ++i) s += r[i] * y[i];
  return s;
}

}  // namespace tandem::kernels::test

namespace tandem::kernels::test {

// True when the analytic gradient matches central differences: |a - n| <= 1e-7 + 1e-6·|n| everywhere
// (double-precision references, step 1e-6: difference error ~1e-10).
inline bool gradients_match(std::span<const double> analytic, std::span<const double> numeric, double rtol = 1e-6) {
  return analytic.size() == numeric.size() && max_scaled_error(analytic, numeric, 1e-7, rtol) <= 1.0;
}

}  // namespace tandem::kernels::test
