// RMSNorm forward and backward (input grad, phase B; weight grad, phase W), CPU reference.
// Double overloads exist for the gradient checks.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

// y[r, :] = x[r, :] · rstd[r] · weight, rstd[r] = 1 / sqrt(mean_j x[r, j]² + eps).
// x, y [rows, dim]; weight [dim]; rstd [rows], kept for the backward.
void rmsnorm_forward(std::span<const float> x, std::span<const float> weight, int64_t rows, int64_t dim, float eps,
                     std::span<float> y, std::span<float> rstd);
void rmsnorm_forward(std::span<const double> x, std::span<const double> weight, int64_t rows, int64_t dim,
                     double eps, std::span<double> y, std::span<double> rstd);

// Phase B, writes dx [rows, dim]: with g = weight ∘ dy[r],
// dx[r] = rstd · g − x[r] · rstd³ · mean_j(g_j · x[r, j]).
void rmsnorm_backward_input(std::span<const float> x, std::span<const float> weight, std::span<const float> rstd,
                            std::span<const float> dy, int64_t rows, int64_t dim, std::span<float> dx);
void rmsnorm_backward_input(std::span<const double> x, std::span<const double> weight,
                            std::span<const double> rstd, std::span<const double> dy, int64_t rows, int64_t dim,
                            std::span<double> dx);

// Phase W, adds into dweight [dim]: dweight[j] += Σ_r dy[r, j] · x[r, j] · rstd[r], rows in order.
void rmsnorm_backward_weight(std::span<const float> x, std::span<const float> rstd, std::span<const float> dy,
                             int64_t rows, int64_t dim, std::span<float> dweight);
void rmsnorm_backward_weight(std::span<const double> x, std::span<const double> rstd, std::span<const double> dy,
                             int64_t rows, int64_t dim, std::span<double> dweight);

}  // namespace tandem::kernels
