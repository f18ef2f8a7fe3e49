// The CUDA RMSNorm against rmsnorm_cpu.h's double overloads on the same (widened) inputs: forward,
// input gradient and weight gradient (accumulating), FP32 and BF16, ragged sizes, within the error
// bounds of blocked FP32 sums; the same bits on a second run; a case by hand; bad arguments.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/norm/rmsnorm_cpu.h"
#include "kernels/norm/rmsnorm_cuda.h"
#include "kernels/tests_cuda/compare_util.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;

namespace {

std::vector<double> widen(const std::vector<float>& a) { return {a.begin(), a.end()}; }

// |got − ref| <= rel · scale (+ one BF16 rounding of |ref| for BF16 outputs).
int64_t out_of_tolerance(const std::vector<float>& got, const std::vector<double>& ref, const std::vector<double>& scale,
                         double rel, bool bf16_out, const std::string& what) {
  return count_mismatches(
      ref.size(),
      [&](size_t i) {
        return std::abs(got[i] - ref[i]) <= rel * scale[i] + (bf16_out ? std::ldexp(std::abs(ref[i]), -8) : 0.0);
      },
      [&](size_t i) { return fmt::format("{}[{}]: GPU {}, reference {} (scale {})", what, i, got[i], ref[i], scale[i]); });
}

// Error bounds of the FP32 sums: a thread adds ceil(dim/256) terms in order, then 5 + 8 tree steps
// (forward and input gradient); the weight gradient adds 64 rows, then ceil(rows/64) partials. A sum
// of n terms in FP32 is within n · 2^-24 of Σ|terms| (relative); the bounds below are that n (with
// margin) times 2^-24, plus a few roundings of the elementwise steps.
void check_case(int64_t rows, int64_t dim, ActType type) {
  INFO("rows " << rows << ", dim " << dim << ", " << act_type_name(type) << ", seed " << run_seed());
  const bool bf16 = type == ActType::BF16;
  const auto round = [&](std::vector<float> a) { return bf16 ? rounded_to_bf16(std::move(a)) : a; };
  const size_t n = static_cast<size_t>(rows * dim);
  const auto x = round(random_uniform(n, case_seed(fmt::format("x{}/{}", rows, dim)), -3.0f, 3.0f));
  const auto dy = round(random_uniform(n, case_seed(fmt::format("dy{}/{}", rows, dim)), -1.0f, 1.0f));
  const auto weight = random_uniform(static_cast<size_t>(dim), case_seed("w"), 0.5f, 1.5f);
  const auto dweight0 = random_uniform(static_cast<size_t>(dim), case_seed("dw"), -1.0f, 1.0f);
  const float eps = 1e-6f;

  // Reference in double on the same values.
  std::vector<double> y(n), rstd(static_cast<size_t>(rows)), dx(n), dweight = widen(dweight0);
  rmsnorm_forward(widen(x), widen(weight), rows, dim, double(eps), y, rstd);
  rmsnorm_backward_input(widen(x), widen(weight), rstd, widen(dy), rows, dim, dx);
  rmsnorm_backward_weight(widen(x), rstd, widen(dy), rows, dim, dweight);

  auto d_x = upload_as(x, type), d_dy = upload_as(dy, type);
  auto d_w = to_device(weight);
  auto d_y = poisoned<uint8_t>(n * static_cast<size_t>(act_type_bytes(type)));
  auto d_dx = poisoned<uint8_t>(n * static_cast<size_t>(act_type_bytes(type)));
  auto d_rstd = poisoned<float>(static_cast<size_t>(rows));
  auto d_partial = poisoned<float>(static_cast<size_t>(rmsnorm_weight_partial_count(rows, dim)));
  auto d_dweight = to_device(dweight0);
  rmsnorm_forward_cuda(d_x.data(), type, d_w.data(), rows, dim, eps, d_y.data(), d_rstd.data());
  // The backward reads the GPU's rstd (as the backend does); the reference its own: both within tolerance.
  rmsnorm_backward_input_cuda(d_x.data(), d_w.data(), d_rstd.data(), d_dy.data(), type, rows, dim, d_dx.data());
  rmsnorm_backward_weight_cuda(d_x.data(), d_rstd.data(), d_dy.data(), type, rows, dim, d_partial.data(),
                               d_dweight.data());
  const auto g_y = download_as(d_y, n, type), g_dx = download_as(d_dx, n, type);
  const auto g_rstd = to_host(d_rstd), g_dweight = to_host(d_dweight);

  const double sum_terms = std::ceil(double(dim) / 256) + 16;  // terms a thread adds + the tree, with margin
  const double rel = (sum_terms + 8) * std::ldexp(1.0, -24);
  std::vector<double> s_rstd(rstd), s_y(n), s_dx(n), s_dw(static_cast<size_t>(dim));
  for (int64_t r = 0; r < rows; ++r) {
    double abs_dot = 0;
    for (int64_t j = 0; j < dim; ++j) abs_dot += std::abs(weight[j] * dy[r * dim + j] * x[r * dim + j]);
    const double s = rstd[r];
    for (int64_t j = 0; j < dim; ++j) {
      const size_t i = static_cast<size_t>(r * dim + j);
      s_y[i] = std::abs(y[i]);
      s_dx[i] = std::abs(s * weight[j] * dy[i]) + std::abs(x[i]) * s * s * s * abs_dot / double(dim);
      s_dw[static_cast<size_t>(j)] += std::abs(dy[i] * x[i] * s);
    }
  }
  for (int64_t j = 0; j < dim; ++j) s_dw[j] += std::abs(dweight0[j]);
  CHECK(out_of_tolerance(g_rstd, rstd, s_rstd, rel, false, "rstd") == 0);
  CHECK(out_of_tolerance(g_y, y, s_y, rel, bf16, "y") == 0);
  CHECK(out_of_tolerance(g_dx, dx, s_dx, 4 * rel, bf16, "dx") == 0);  // rstd enters cubed
  const double rel_w = (64.0 + std::ceil(double(rows) / 64) + 8) * std::ldexp(1.0, -24) + 2 * rel;
  CHECK(out_of_tolerance(g_dweight, dweight, s_dw, rel_w, false, "dweight") == 0);

  // Deterministic: a second run gives the same bits.
  auto d_dx2 = poisoned<uint8_t>(n * static_cast<size_t>(act_type_bytes(type)));
  auto d_dweight2 = to_device(dweight0);
  rmsnorm_backward_input_cuda(d_x.data(), d_w.data(), d_rstd.data(), d_dy.data(), type, rows, dim, d_dx2.data());
  rmsnorm_backward_weight_cuda(d_x.data(), d_rstd.data(), d_dy.data(), type, rows, dim, d_partial.data(),
                               d_dweight2.data());
  CHECK(bit_mismatches(download_as(d_dx2, n, type), g_dx, "dx (second run)") == 0);
  CHECK(bit_mismatches(to_host(d_dweight2), g_dweight, "dweight (second run)") == 0);
}

}  // namespace

TEST_CASE("rmsnorm CUDA: forward and backward against the reference", "[cuda][norm]") {
  if (!gpu_available()) return;
  for (const ActType type : {ActType::F32, ActType::BF16}) {
    check_case(1, 1, type);
    check_case(3, 255, type);
    check_case(130, 1536, type);  // q_lora_rank, rows past two partial blocks
    check_case(67, 7168, type);   // hidden
    check_case(2, 10001, type);
  }
}

TEST_CASE("rmsnorm CUDA: by hand", "[cuda][norm]") {
  if (!gpu_available()) return;
  // x = [3, 4], eps 0: mean square (9 + 16) / 2 = 12.5, rstd = 1/sqrt(12.5) = 0.28284271;
  // y = x · rstd · w with w = [1, 2]: [0.84852814, 2.2627417].
  // dweight += dy ∘ x · rstd with dy = [1, 1]: [0.84852814, 1.1313708] added to [1, 1].
  auto d_x = to_device(std::vector<float>{3, 4});
  auto d_w = to_device(std::vector<float>{1, 2});
  auto d_dy = to_device(std::vector<float>{1, 1});
  auto d_y = poisoned<float>(2), d_rstd = poisoned<float>(1), d_partial = poisoned<float>(2);
  auto d_dw = to_device(std::vector<float>{1, 1});
  rmsnorm_forward_cuda(d_x.data(), ActType::F32, d_w.data(), 1, 2, 0.0f, d_y.data(), d_rstd.data());
  rmsnorm_backward_weight_cuda(d_x.data(), d_rstd.data(), d_dy.data(), ActType::F32, 1, 2, d_partial.data(), d_dw.data());
  CHECK(to_host(d_rstd)[0] == Approx(0.28284271).epsilon(1e-6));
  const auto y = to_host(d_y), dw = to_host(d_dw);
  CHECK(y[0] == Approx(0.84852814).epsilon(1e-6));
  CHECK(y[1] == Approx(2.2627417).epsilon(1e-6));
  CHECK(dw[0] == Approx(1.84852814).epsilon(1e-6));
  CHECK(dw[1] == Approx(2.1313708).epsilon(1e-6));
}

TEST_CASE("rmsnorm CUDA: bad arguments are reported before any launch", "[norm]") {
  // No device needed: the checks run first.
  float f = 0;
  CHECK_THROWS_WITH(rmsnorm_forward_cuda(&f, ActType::F32, &f, 2, 0, 1e-6f, &f, &f), Catch::Contains("dim must be >= 1"));
  CHECK_THROWS_WITH(rmsnorm_forward_cuda(&f, ActType::F32, &f, -2, 4, 1e-6f, &f, &f), Catch::Contains("rows must be"));
  CHECK_THROWS_WITH(rmsnorm_forward_cuda(&f, ActType::BF16, nullptr, 2, 4, 1e-6f, &f, &f), Catch::Contains("weight is null"));
  CHECK_THROWS_WITH(rmsnorm_backward_input_cuda(&f, &f, &f, &f, ActType::F32, 2, 4, nullptr), Catch::Contains("dx is null"));
  CHECK_THROWS_WITH(rmsnorm_backward_weight_cuda(&f, &f, &f, ActType::F32, 2, 4, nullptr, &f), Catch::Contains("partial is null"));
  CHECK_THROWS_WITH(rmsnorm_backward_weight_cuda(&f, &f, &f, ActType::F32, int64_t{70000} * 64, 4, &f, &f),
                    Catch::Contains("65535"));
  CHECK(rmsnorm_weight_partial_count(130, 10) == 30);  // ceil(130 / 64) = 3 blocks of 10 columns
  CHECK_NOTHROW(rmsnorm_forward_cuda(nullptr, ActType::F32, nullptr, 0, 4, 1e-6f, nullptr, nullptr));
}
