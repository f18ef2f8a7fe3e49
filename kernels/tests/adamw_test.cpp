// AdamW and clipping tests: one step by hand (BF16 moments), moments stay BF16, first-step update of
// size lr, decoupled decay alone, clipping coefficient, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/optim/adamw_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::test;

TEST_CASE("adamw_step: one step by hand", "[optim]") {
  // lr 0.1, β1 0.9, β2 0.95, eps 1e-8, wd 0.1; p = 1, g = 0.5, m = v = 0, step 1.
  // m = bf16(0.1 · 0.5 = 0.05) = 0.050048828125 (0x3D4D); v = bf16(0.05 · 0.25 = 0.0125) = 0.01251220703125.
  // p ← 1 · (1 − 0.01) = 0.99; m̂ = m / 0.1 = 0.500488, v̂ = v / 0.05 = 0.250244, sqrt = 0.500244;
  // p ← 0.99 − 0.1 · 0.500488 / 0.500244 = 0.99 − 0.1000488 = 0.8899512 (0.889951229095459 in float
  // arithmetic, each operation rounded).
  std::vector<float> p = {1.0f}, g = {0.5f}, m = {0.0f}, v = {0.0f};
  adamw_step(p, g, m, v, 1, {0.1f, 0.9f, 0.95f, 1e-8f, 0.1f});
  CHECK(m[0] == 0.050048828125f);
  CHECK(v[0] == 0.01251220703125f);
  CHECK(p[0] == 0.889951229095459f);
}

TEST_CASE("adamw_step: BF16 moments, first-step size, decoupled decay", "[optim]") {
  const auto g = random_values(500, 211, -2.0, 2.0);
  const auto p0 = random_values(500, 212);
  std::vector<float> p = p0, m(500, 0.0f), v(500, 0.0f);
  const AdamWConfig no_decay{1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f};
  adamw_step(p, g, m, v, 1, no_decay);
  for (size_t i = 0; i < p.size(); ++i) {
    CHECK(round_to_bf16(m[i]) == m[i]);
    CHECK(round_to_bf16(v[i]) == v[i]);
    // Step 1: m̂ / sqrt(v̂) = g / |g| up to the BF16 rounding of m and v (2^-9 relative each).
    CHECK(std::abs((p0[i] - p[i]) - 1e-3f * std::copysign(1.0f, g[i])) <= 1e-3f * 0.006f);
  }
  // More steps keep the moments in BF16.
  for (int64_t step = 2; step <= 5; ++step) adamw_step(p, g, m, v, step, no_decay);
  for (size_t i = 0; i < p.size(); ++i) REQUIRE(round_to_bf16(v[i]) == v[i]);
  // Zero gradient: the moments stay 0 and only the decay acts: p ← p · (1 − lr · wd).
  std::vector<float> q = {2.0f, -4.0f}, zero(2, 0.0f), mz(2, 0.0f), vz(2, 0.0f);
  adamw_step(q, zero, mz, vz, 1, {0.5f, 0.9f, 0.95f, 1e-8f, 0.1f});
  CHECK(q == std::vector<float>{2.0f * 0.95f, -4.0f * 0.95f});
  std::vector<float> short_m(1);
  CHECK_THROWS_WITH(adamw_step(q, zero, short_m, vz, 1, {}), Catch::Contains("m has 1 elements, expected 2"));
  CHECK_THROWS_AS(adamw_step(q, zero, mz, vz, 0, {}), std::invalid_argument);
}

TEST_CASE("gradient clipping helpers", "[optim]") {
  // [3, 4] and [12]: Σ x² = 9 + 16 + 144 = 169, norm 13.
  const std::vector<float> a = {3, 4}, b = {12};
  const double norm = std::sqrt(sum_of_squares(a) + sum_of_squares(b));
  CHECK(norm == 13.0);
  // max_norm 1: factor 1 / (13 + 1e-6); max_norm 20: no clipping; max_norm 0: off.
  CHECK(clip_coefficient(norm, 1.0) == Approx(1.0 / 13.0).epsilon(1e-6));
  CHECK(clip_coefficient(norm, 20.0) == 1.0f);
  CHECK(clip_coefficient(norm, 0.0) == 1.0f);
  CHECK(std::isnan(clip_coefficient(std::nan(""), 1.0)));
  std::vector<float> x = {3, 4};
  scale_in_place(x, 0.5f);
  CHECK(x == std::vector<float>{1.5f, 2.0f});
}
