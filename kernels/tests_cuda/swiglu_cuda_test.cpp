// The CUDA SwiGLU against swiglu_cpu.h: separate arrays and the fused [rows, 2·ffn] layout, FP32 and
// BF16, ragged sizes, within tolerances that follow from expf's 2 ulp and fused multiply-adds; a
// case by hand (0, saturation, overflow of exp); bad arguments (no GPU needed).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/swiglu/swiglu_cpu.h"
#include "kernels/swiglu/swiglu_cuda.h"
#include "kernels/tests_cuda/compare_util.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;

namespace {

// Host vector <-> device buffer of `type` (BF16: the values must already be BF16-exact).

// |got − ref| <= 2^-19 · scale (FP32: σ from expf within 2 ulp, a few roundings, FMAs; ≈ 8 ulp of
// the terms' magnitude) plus, for BF16 outputs, one BF16 rounding (2^-8 of |ref|).
int64_t out_of_tolerance(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<float>& scale,
                         ActType type, const std::string& what) {
  const double bf16 = type == ActType::BF16 ? std::ldexp(1.0, -8) : 0.0;
  return count_mismatches(
      ref.size(),
      [&](size_t i) {
        return std::abs(double(got[i]) - ref[i]) <= std::ldexp(double(scale[i]), -19) + bf16 * std::abs(double(ref[i]));
      },
      [&](size_t i) { return fmt::format("{}[{}]: GPU {}, CPU {} (scale {})", what, i, got[i], ref[i], scale[i]); });
}

// The magnitudes the tolerances scale with: |out|, |dup| and, for dgate, the size of its terms
// |dout · up · σ| · (1 + |g · (1 − σ)|) (1 + g(1 − σ) cancels near g ≈ −1.28).
struct Scales {
  std::vector<float> out, dgate, dup;
};
Scales scales_of(const std::vector<float>& gate, const std::vector<float>& up, const std::vector<float>& dout) {
  Scales s;
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i], sg = 1.0 / (1.0 + std::exp(-g));
    s.out.push_back(static_cast<float>(std::abs(g * sg * up[i])));
    s.dgate.push_back(static_cast<float>(std::abs(dout[i] * up[i] * sg) * (1.0 + std::abs(g * (1.0 - sg)))));
    s.dup.push_back(static_cast<float>(std::abs(dout[i] * g * sg)));
  }
  return s;
}

void check_separate(int64_t count, ActType type) {
  INFO("count " << count << ", " << act_type_name(type) << ", seed " << run_seed());
  const auto round = [&](std::vector<float> a) { return type == ActType::BF16 ? rounded_to_bf16(std::move(a)) : a; };
  const auto gate = round(random_uniform(static_cast<size_t>(count), case_seed(fmt::format("g{}", count)), -8.0f, 8.0f));
  const auto up = round(random_uniform(static_cast<size_t>(count), case_seed(fmt::format("u{}", count)), -2.0f, 2.0f));
  const auto dout = round(random_uniform(static_cast<size_t>(count), case_seed(fmt::format("d{}", count)), -2.0f, 2.0f));
  const size_t n = gate.size();
  std::vector<float> out(n), dgate(n), dup(n);
  swiglu_forward(gate, up, out);
  swiglu_backward(gate, up, dout, dgate, dup);
  auto d_gate = upload_as(gate, type), d_up = upload_as(up, type), d_dout = upload_as(dout, type);
  const size_t bytes = n * static_cast<size_t>(act_type_bytes(type));
  auto d_out = poisoned<uint8_t>(bytes), d_dgate = poisoned<uint8_t>(bytes), d_dup = poisoned<uint8_t>(bytes);
  swiglu_forward_cuda(d_gate.data(), d_up.data(), type, count, d_out.data());
  swiglu_backward_cuda(d_gate.data(), d_up.data(), d_dout.data(), type, count, d_dgate.data(), d_dup.data());
  const Scales s = scales_of(gate, up, dout);
  CHECK(out_of_tolerance(download_as(d_out, n, type), out, s.out, type, "out") == 0);
  CHECK(out_of_tolerance(download_as(d_dgate, n, type), dgate, s.dgate, type, "dgate") == 0);
  CHECK(out_of_tolerance(download_as(d_dup, n, type), dup, s.dup, type, "dup") == 0);
}

void check_fused(int64_t rows, int64_t ffn, ActType type) {
  INFO("rows " << rows << ", ffn " << ffn << ", " << act_type_name(type) << ", seed " << run_seed());
  const auto round = [&](std::vector<float> a) { return type == ActType::BF16 ? rounded_to_bf16(std::move(a)) : a; };
  const auto h = round(random_uniform(static_cast<size_t>(rows * 2 * ffn), case_seed(fmt::format("h{}", rows)), -6.0f, 6.0f));
  const auto dout = round(random_uniform(static_cast<size_t>(rows * ffn), case_seed(fmt::format("d{}", rows)), -2.0f, 2.0f));
  std::vector<float> out(static_cast<size_t>(rows * ffn)), dh(h.size());
  swiglu_forward_fused(h, rows, ffn, out);
  swiglu_backward_fused(h, dout, rows, ffn, dh);
  auto d_h = upload_as(h, type), d_dout = upload_as(dout, type);
  auto d_out = poisoned<uint8_t>(out.size() * static_cast<size_t>(act_type_bytes(type)));
  auto d_dh = poisoned<uint8_t>(dh.size() * static_cast<size_t>(act_type_bytes(type)));
  swiglu_forward_fused_cuda(d_h.data(), type, rows, ffn, d_out.data());
  swiglu_backward_fused_cuda(d_h.data(), d_dout.data(), type, rows, ffn, d_dh.data());
  // The fused layout's gate, up and their gradients, split per row for the scales.
  std::vector<float> gate, up, dg, du, dgate, dup;
  const auto gpu_dh = download_as(d_dh, dh.size(), type);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < ffn; ++j) {
      const size_t gi = static_cast<size_t>(r * 2 * ffn + j), ui = gi + static_cast<size_t>(ffn);
      gate.push_back(h[gi]), up.push_back(h[ui]), dgate.push_back(dh[gi]), dup.push_back(dh[ui]);
      dg.push_back(gpu_dh[gi]), du.push_back(gpu_dh[ui]);
    }
  }
  const Scales s = scales_of(gate, up, dout);
  CHECK(out_of_tolerance(download_as(d_out, out.size(), type), out, s.out, type, "out") == 0);
  CHECK(out_of_tolerance(dg, dgate, s.dgate, type, "dgate") == 0);
  CHECK(out_of_tolerance(du, dup, s.dup, type, "dup") == 0);
}

}  // namespace

TEST_CASE("swiglu CUDA: separate arrays against the reference", "[cuda][swiglu]") {
  if (!gpu_available()) return;
  for (const ActType type : {ActType::F32, ActType::BF16}) {
    for (const int64_t count : {int64_t{1}, int64_t{255}, int64_t{100003}}) check_separate(count, type);
  }
}

TEST_CASE("swiglu CUDA: fused layout (gate and up side by side) against the reference", "[cuda][swiglu]") {
  if (!gpu_available()) return;
  for (const ActType type : {ActType::F32, ActType::BF16}) {
    check_fused(37, 300, type);
    check_fused(513, 2048, type);
    check_fused(1, 1, type);
  }
}

TEST_CASE("swiglu CUDA: by hand", "[cuda][swiglu]") {
  if (!gpu_available()) return;
  // gate 0: σ = 1/2, silu = 0: out 0, dgate = dout · up · 1/2 = 2 · 3 / 2 = 3, dup 0.
  // gate 100: exp(−100) vanishes next to 1, σ = 1: out = 100 · 0.5 = 50, dgate = 2 · 0.5 · 1 · (1 + 0) = 1,
  // dup = 2 · 100 = 200. gate −200: exp(200) overflows to inf, σ = 0: out, dgate, dup all zero.
  const std::vector<float> gate = {0.0f, 100.0f, -200.0f}, up = {3.0f, 0.5f, 1.0f}, dout = {2.0f, 2.0f, 2.0f};
  auto d_gate = to_device(gate), d_up = to_device(up), d_dout = to_device(dout);
  auto d_out = poisoned<float>(3), d_dgate = poisoned<float>(3), d_dup = poisoned<float>(3);
  swiglu_forward_cuda(d_gate.data(), d_up.data(), ActType::F32, 3, d_out.data());
  swiglu_backward_cuda(d_gate.data(), d_up.data(), d_dout.data(), ActType::F32, 3, d_dgate.data(), d_dup.data());
  CHECK(to_host(d_out) == std::vector<float>{0.0f, 50.0f, 0.0f});
  CHECK(to_host(d_dgate) == std::vector<float>{3.0f, 1.0f, 0.0f});
  CHECK(to_host(d_dup) == std::vector<float>{0.0f, 200.0f, 0.0f});
}

TEST_CASE("swiglu CUDA: bad arguments are reported before any launch", "[swiglu]") {
  // No device needed: the checks run first.
  float f = 0;
  CHECK_THROWS_WITH(swiglu_forward_cuda(&f, &f, ActType::F32, -1, &f), Catch::Contains("count must be >= 0"));
  CHECK_THROWS_WITH(swiglu_forward_cuda(&f, nullptr, ActType::F32, 4, &f), Catch::Contains("up is null"));
  CHECK_THROWS_WITH(swiglu_backward_cuda(&f, &f, &f, ActType::BF16, 4, &f, nullptr), Catch::Contains("dup is null"));
  CHECK_THROWS_WITH(swiglu_forward_fused_cuda(&f, ActType::F32, 2, -3, &f), Catch::Contains("ffn=-3"));
  CHECK_THROWS_WITH(swiglu_backward_fused_cuda(&f, nullptr, ActType::F32, 2, 3, &f), Catch::Contains("dout is null"));
  CHECK_THROWS_AS(swiglu_forward_cuda(&f, &f, static_cast<ActType>(7), 4, &f), std::invalid_argument);
  CHECK_NOTHROW(swiglu_forward_fused_cuda(nullptr, ActType::F32, 0, 16, nullptr));
}
