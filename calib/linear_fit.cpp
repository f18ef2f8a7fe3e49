// Weighted least squares for y = a + b w, weights 1 / y^2 (see linear_fit.h): the normal equations of
// minimising sum((a u + b v - 1)^2) with u = 1 / y, v = w / y, solved in long double.
#include "calib/linear_fit.h"

#include <algorithm>
#include <cmath>

namespace tandem::calib {
namespace {

void residuals(LinearFit& f, std::span<const double> w, std::span<const double> y) {
  double sum = 0.0, worst = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double r = std::fabs(f.intercept + f.slope * w[i] - y[i]) / y[i];
    sum += r * r;
    worst = std::max(worst, r);
  }
  f.points = w.size();
  f.rms_relative_error = std::sqrt(sum / double(w.size()));
  f.max_relative_error = worst;
}

}  // namespace

std::optional<LinearFit> fit_relative(std::span<const double> w, std::span<const double> y, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<LinearFit> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (w.size() != y.size() || w.empty()) return fail("no points");
  const auto [lo, hi] = std::minmax_element(w.begin(), w.end());
  if (!(*hi > *lo)) return fail("every point has the same size: no slope to fit");
  long double suu = 0, suv = 0, svv = 0, su = 0, sv = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const long double u = 1.0L / y[i], v = (long double)w[i] / y[i];
    suu += u * u;
    suv += u * v;
    svv += v * v;
    su += u;
    sv += v;
  }
  LinearFit f;
  const long double det = suu * svv - suv * suv;
  if (det > 0) {
    f.intercept = double((su * svv - sv * suv) / det);
    f.slope = double((suu * sv - suv * su) / det);
  }
  if (!(det > 0) || f.intercept < 0) {
    // A negative fixed cost means nothing: the line through the origin that fits best.
    f.intercept = 0.0;
    f.intercept_at_zero = true;
    f.slope = double(sv / svv);
  }
  if (!(f.slope > 0) || !std::isfinite(f.slope)) return fail("the times do not grow with the size");
  residuals(f, w, y);
  return f;
}

}  // namespace tandem::calib
