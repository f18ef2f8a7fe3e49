// RMSNorm forward and backward (see rmsnorm_cpu.h). Sums run in the element type, in index order.
#include "kernels/norm/rmsnorm_cpu.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

void check_common(const char* name, size_t x_size, size_t rstd_size, int64_t rows, int64_t dim) {
  check_at_least(name, "rows", rows, 0);
  check_at_least(name, "dim", dim, 1);
  check_size(name, "x", x_size, rows * dim, fmt::format("[rows={}, dim={}]", rows, dim));
  check_size(name, "rstd", rstd_size, rows, fmt::format("[rows={}]", rows));
}

template <typename T>
void forward_impl(std::span<const T> x, std::span<const T> weight, int64_t rows, int64_t dim, T eps, std::span<T> y,
                  std::span<T> rstd) {
  constexpr const char* kName = "rmsnorm_forward";
  check_common(kName, x.size(), rstd.size(), rows, dim);
  check_size(kName, "weight", weight.size(), dim, fmt::format("[dim={}]", dim));
  check_size(kName, "y", y.size(), rows * dim, fmt::format("[rows={}, dim={}]", rows, dim));
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x.data() + r * dim;
    T sum_sq = 0;
    for (int64_t j = 0; j < dim; ++j) sum_sq += xr[j] * xr[j];
    const T s = T(1) / std::sqrt(sum_sq / static_cast<T>(dim) + eps);
    rstd[static_cast<size_t>(r)] = s;
    T* yr = y.data() + r * dim;
    for (int64_t j = 0; j < dim; ++j) yr[j] = xr[j] * s * weight[static_cast<size_t>(j)];
  }
}

template <typename T>
void backward_input_impl(std::span<const T> x, std::span<const T> weight, std::span<const T> rstd,
                         std::span<const T> dy, int64_t rows, int64_t dim, std::span<T> dx) {
  constexpr const char* kName = "rmsnorm_backward_input";
  check_common(kName, x.size(), rstd.size(), rows, dim);
  check_size(kName, "weight", weight.size(), dim, fmt::format("[dim={}]", dim));
  check_size(kName, "dy", dy.size(), rows * dim, fmt::format("[rows={}, dim={}]", rows, dim));
  check_size(kName, "dx", dx.size(), rows * dim, fmt::format("[rows={}, dim={}]", rows, dim));
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x.data() + r * dim;
    const T* dyr = dy.data() + r * dim;
    const T s = rstd[static_cast<size_t>(r)];
    T dot = 0;
    for (int64_t j = 0; j < dim; ++j) dot += weight[static_cast<size_t>(j)] * dyr[j] * xr[j];
    const T coef = s * s * s * dot / static_cast<T>(dim);
    T* dxr = dx.data() + r * dim;
    for (int64_t j = 0; j < dim; ++j) dxr[j] = s * weight[static_cast<size_t>(j)] * dyr[j] - xr[j] * coef;
  }
}

template <typename T>
void backward_weight_impl(std::span<const T> x, std::span<const T> rstd, std::span<const T> dy, int64_t rows,
                          int64_t dim, std::span<T> dweight) {
  constexpr const char* kName = "rmsnorm_backward_weight";
  check_common(kName, x.size(), rstd.size(), rows, dim);
  check_size(kName, "dy", dy.size(), rows * dim, fmt::format("[rows={}, dim={}]", rows, dim));
  check_size(kName, "dweight", dweight.size(), dim, fmt::format("[dim={}]", dim));
  for (int64_t r = 0; r < rows; ++r) {
    const T s = rstd[static_cast<size_t>(r)];
    for (int64_t j = 0; j < dim; ++j) dweight[static_cast<size_t>(j)] += dy[static_cast<size_t>(r * dim + j)] * x[static_cast<size_t>(r * dim + j)] * s;
  }
}

}  // namespace

void rmsnorm_forward(std::span<const float> x, std::span<const float> weight, int64_t rows, int64_t dim, float eps,
                     std::span<float> y, std::span<float> rstd) {
  forward_impl(x, weight, rows, dim, eps, y, rstd);
}
void rmsnorm_forward(std::span<const double> x, std::span<const double> weight, int64_t rows, int64_t dim,
                     double eps, std::span<double> y, std::span<double> rstd) {
  forward_impl(x, weight, rows, dim, eps, y, rstd);
}
void rmsnorm_backward_input(std::span<const float> x, std::span<const float> weight, std::span<const float> rstd,
                            std::span<const float> dy, int64_t rows, int64_t dim, std::span<float> dx) {
  backward_input_impl(x, weight, rstd, dy, rows, dim, dx);
}
void rmsnorm_backward_input(std::span<const double> x, std::span<const double> weight,
                            std::span<const double> rstd, std::span<const double> dy, int64_t rows, int64_t dim,
                            std::span<double> dx) {
  backward_input_impl(x, weight, rstd, dy, rows, dim, dx);
}
void rmsnorm_backward_weight(std::span<const float> x, std::span<const float> rstd, std::span<const float> dy,
                             int64_t rows, int64_t dim, std::span<float> dweight) {
  backward_weight_impl(x, rstd, dy, rows, dim, dweight);
}
void rmsnorm_backward_weight(std::span<const double> x, std::span<const double> rstd, std::span<const double> dy,
                             int64_t rows, int64_t dim, std::span<double> dweight) {
  backward_weight_impl(x, rstd, dy, rows, dim, dweight);
}

}  // namespace tandem::kernels
