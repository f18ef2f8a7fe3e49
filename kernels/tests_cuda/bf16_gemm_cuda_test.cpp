// The cuBLASLt BF16 GEMM (the benchmark's BF16 baseline) against the CPU FP32 GEMM on the same
// BF16-rounded inputs; and its argument checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <thread>
#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/gemm/bf16_gemm_cuda.h"
#include "kernels/gemm/gemm_cpu.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;

TEST_CASE("bf16 GEMM (cuBLASLt) against the CPU GEMM", "[cuda][gemm]") {
  if (!gpu_available()) return;
  Bf16GemmRunner runner;
  for (const auto& [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{128, 256, 512}, {200, 264, 400}, {1, 64, 8}}) {
    INFO("m=" << m << " n=" << n << " k=" << k);
    auto a = random_matrix(m, k, case_seed("a"), 2), b = random_matrix(n, k, case_seed("b"), 2);
    round_to_bf16(a);
    round_to_bf16(b);
    std::vector<uint16_t> a_bits(a.size()), b_bits(b.size());
    for (size_t i = 0; i < a.size(); ++i) a_bits[i] = float_to_bf16_bits(a[i]);
    for (size_t i = 0; i < b.size(); ++i) b_bits[i] = float_to_bf16_bits(b[i]);
    std::vector<float> ref(static_cast<size_t>(m * n)), magnitude(ref.size());
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    matmul_nt(a, b, ref, m, n, k, false, threads);
    std::vector<float> a_abs(a), b_abs(b);
    for (auto& v : a_abs) v = std::abs(v);
    for (auto& v : b_abs) v = std::abs(v);
    matmul_nt(a_abs, b_abs, magnitude, m, n, k, false, threads);

    auto da = to_device(a_bits), db = to_device(b_bits);
    auto d = poisoned<uint16_t>(ref.size() + 64);
    runner.gemm_nt(da.data(), db.data(), d.data(), m, n, k);
    const auto out = to_host(d);
    // BF16 output: within one BF16 step (2^-7 relative) of the FP32 reference, plus FP32 summation
    // order (k·2^-24 of Σ|a·b|, taken as 1e-5).
    int64_t bad = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const float got = bf16_bits_to_float(out[i]);
      const double tolerance = std::ldexp(std::abs(double(ref[i])), -7) + 1e-5 * magnitude[i];
      if (!(std::abs(double(got) - ref[i]) <= tolerance) && ++bad <= 3) {
        INFO("element " << i << ": " << got << " vs " << ref[i]);
        CHECK(false);
      }
    }
    CHECK(bad == 0);
    int64_t guard_written = 0;
    for (size_t i = ref.size(); i < out.size(); ++i) guard_written += out[i] != 0xFFFF;
    CHECK(guard_written == 0);
  }
}

TEST_CASE("bf16 GEMM (cuBLASLt): bad arguments", "[cuda][gemm]") {
  if (!gpu_available()) return;  // the runner needs a device (it creates a cuBLASLt handle)
  Bf16GemmRunner runner;
  alignas(16) static uint16_t buffer[64];
  CHECK_THROWS_WITH(runner.gemm_nt(buffer, buffer, buffer, 4, 8, 12), Catch::Contains("k % 8 == 0"));
  CHECK_THROWS_WITH(runner.gemm_nt(buffer, buffer, buffer, 4, 6, 8), Catch::Contains("n=6"));
  CHECK_THROWS_WITH(runner.gemm_nt(buffer + 1, buffer, buffer, 4, 8, 8), Catch::Contains("16-byte aligned"));
}
