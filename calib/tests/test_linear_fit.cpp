// The least-squares fit in relative error: exact recovery of a line, the refit through 0 when the
// free intercept is negative, residuals computed by hand, and points that cannot give a slope.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "calib/linear_fit.h"

using namespace tandem::calib;

TEST_CASE("a line through exact points is recovered", "[calib][fit]") {
  // time = 5 us + w x (0.725 / 0.5): the default GEMM efficiency 0.725 against a measured 0.5.
  const double overhead = 5000.0, scale = 0.725 / 0.5;
  const std::vector<double> w = {1e3, 3.7e4, 2.2e5, 9.1e6};
  std::vector<double> y;
  for (double x : w) y.push_back(overhead + scale * x);
  const auto f = fit_relative(w, y);
  REQUIRE(f);
  CHECK(std::fabs(f->intercept - overhead) / overhead < 1e-6);
  CHECK(std::fabs(f->slope - scale) / scale < 1e-6);
  CHECK_FALSE(f->intercept_at_zero);
  CHECK(f->points == 4);
  CHECK(f->rms_relative_error < 1e-9);
  CHECK(f->max_relative_error < 1e-9);
}

TEST_CASE("residuals are relative to the measured time", "[calib][fit]") {
  // Points (1, 2), (2, 2), (3, 4): weights 1/y^2. Through the fitted line the residuals follow;
  // checked against the definition rather than a closed form.
  const std::vector<double> w = {1, 2, 3}, y = {2, 2, 4};
  const auto f = fit_relative(w, y);
  REQUIRE(f);
  double sum = 0, worst = 0;
  for (size_t i = 0; i < 3; ++i) {
    const double r = std::fabs(f->intercept + f->slope * w[i] - y[i]) / y[i];
    sum += r * r;
    worst = std::max(worst, r);
  }
  CHECK(f->rms_relative_error == Approx(std::sqrt(sum / 3)));
  CHECK(f->max_relative_error == Approx(worst));
  // The normal equations hold at the minimum: moving either parameter makes the sum larger.
  auto cost = [&](double a, double b) {
    double s = 0;
    for (size_t i = 0; i < 3; ++i) s += std::pow((a + b * w[i] - y[i]) / y[i], 2);
    return s;
  };
  const double at = cost(f->intercept, f->slope);
  CHECK(cost(f->intercept + 1e-3, f->slope) > at);
  CHECK(cost(f->intercept - 1e-3, f->slope) > at);
  CHECK(cost(f->intercept, f->slope + 1e-3) > at);
  CHECK(cost(f->intercept, f->slope - 1e-3) > at);
}

TEST_CASE("a negative intercept is refitted through the origin", "[calib][fit]") {
  // y = 2 w - 1 at w = 1, 2, 3 (y = 1, 3, 5): the free fit's intercept is -1; through 0 the slope
  // minimising sum((b w / y - 1)^2) is sum(w/y) / sum(w^2/y^2) = (1 + 2/3 + 3/5) / (1 + 4/9 + 9/25).
  const std::vector<double> w = {1, 2, 3}, y = {1, 3, 5};
  const auto f = fit_relative(w, y);
  REQUIRE(f);
  CHECK(f->intercept_at_zero);
  CHECK(f->intercept == 0.0);
  CHECK(f->slope == Approx((1.0 + 2.0 / 3 + 3.0 / 5) / (1.0 + 4.0 / 9 + 9.0 / 25)));
}

TEST_CASE("points that cannot give a slope are refused with the reason", "[calib][fit]") {
  std::string why;
  CHECK_FALSE(fit_relative(std::vector<double>{5, 5, 5}, std::vector<double>{1, 2, 3}, &why));
  CHECK(why.find("same size") != std::string::npos);
  CHECK_FALSE(fit_relative(std::vector<double>{1, 2, 3}, std::vector<double>{9, 5, 1}, &why));
  CHECK(why.find("do not grow") != std::string::npos);
  CHECK_FALSE(fit_relative(std::vector<double>{}, std::vector<double>{}, &why));
}
