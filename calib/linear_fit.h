// Least squares of y = intercept + slope * w in relative error (each point's residual divided by its
// y), the fit `tandem calibrate` makes per op class (w: the default model's time) and per link class
// (w: bus bytes), with the residuals it prints.
#pragma once
#include <optional>
#include <span>
#include <string>

namespace tandem::calib {

struct LinearFit {
  double intercept = 0.0;
  double slope = 0.0;
  bool intercept_at_zero = false;   // the free fit's intercept was negative: refitted through 0
  size_t points = 0;
  double rms_relative_error = 0.0;  // sqrt(mean(((fit - y) / y)^2))
  double max_relative_error = 0.0;  // max |fit - y| / y
};

// The fit of the points (w[i], y[i]), y[i] > 0. None, with `why` set, when the points cannot give a
// positive slope: fewer than two distinct w, or times that do not grow with w.
std::optional<LinearFit> fit_relative(std::span<const double> w, std::span<const double> y, std::string* why = nullptr);

}  // namespace tandem::calib
