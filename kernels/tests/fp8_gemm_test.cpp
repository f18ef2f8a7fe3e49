// FP8 block-scaled GEMM tests: per-block promotion by hand, BF16 output rounding, the dense GEMM
// against a double-precision product of the dequantised inputs (forward, input-grad and weight-grad
// layouts), the grouped GEMM against the dense one per expert, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/fp8/fp8_gemm_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using tandem::kernels::test::random_values;

namespace {

struct Quantised {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<float> dequantised;
  int64_t rows, cols;
  Fp8ScaleLayout layout;
  Fp8MatrixView view() const { return {codes, scales, rows, cols, Fp8Format::E4M3, layout}; }
};

Quantised quantise(const std::vector<float>& x, int64_t rows, int64_t cols, Fp8ScaleLayout layout) {
  Quantised q{std::vector<uint8_t>(x.size()), std::vector<float>(fp8_scale_count(layout, rows, cols)),
              std::vector<float>(x.size()), rows, cols, layout};
  quantize_fp8(x, rows, cols, layout, {}, q.codes, q.scales);
  dequantize_fp8(q.codes, q.scales, rows, cols, layout, Fp8Format::E4M3, q.dequantised);
  return q;
}

// Checks d against Σ_k a_deq[i,k]·b_deq[j,k] in double: each element within 2^-8 relative (BF16
// output rounding is 2^-9, FP32 sums add far less) plus 1e-6 of Σ|a·b|; and the global similarity
// 1 - 2Σxy / (Σx² + Σy²) (as DeepGEMM checks) below 1e-5.
void check_against_dequantised(const std::vector<float>& d, const Quantised& a, const Quantised& b, double rel) {
  const int64_t m = a.rows, n = b.rows, k = a.cols;
  double sxy = 0, sxx = 0, syy = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0, mag = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double t = static_cast<double>(a.dequantised[i * k + p]) * b.dequantised[j * k + p];
        ref += t;
        mag += std::abs(t);
      }
      const double got = d[i * n + j];
      INFO("element " << i << "," << j << " got " << got << " reference " << ref);
      REQUIRE(std::abs(got - ref) <= rel * std::abs(ref) + 1e-6 * mag);
      sxy += got * ref;
      sxx += got * got;
      syy += ref * ref;
    }
  }
  CHECK(1.0 - 2.0 * sxy / (sxx + syy) < 1e-5);
}

}  // namespace

TEST_CASE("fp8_gemm_nt: per-block promotion and BF16 output by hand", "[fp8]") {
  // k = 256: two K blocks. a [1, 256]: block 0 all 1.0 (code 0x38) with scale 2, block 1 all 0.5
  // (code 0x30) with scale 3. b [1, 256], 128x128 blocks: all 1.0, block scales 0.5 and 4.
  // d = (128 · 1 · 1)·(2 · 0.5) + (128 · 0.5 · 1)·(3 · 4) = 128 + 768 = 896 = 1.75 · 2^9, exact in BF16.
  std::vector<uint8_t> a_codes(256, 0x38), b_codes(256, 0x38);
  for (int p = 128; p < 256; ++p) a_codes[p] = 0x30;
  const std::vector<float> a_scales = {2.0f, 3.0f}, b_scales = {0.5f, 4.0f};
  const Fp8MatrixView a{a_codes, a_scales, 1, 256, Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128};
  const Fp8MatrixView b{b_codes, b_scales, 1, 256, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128};
  std::vector<float> d(1);
  fp8_gemm_nt(a, b, d);
  CHECK(d[0] == 896.0f);

  // Block 0 as before but scales 1 and 1 (sum 128); block 1 all zero but a[128] = 2^-9 (code 0x01):
  // d = 128 + 2^-9 = 128.001953125 in FP32; BF16 has step 1 at 128, so the BF16 output is 128.
  std::fill(a_codes.begin() + 128, a_codes.end(), 0x00);
  a_codes[128] = 0x01;
  const std::vector<float> ones = {1.0f, 1.0f};
  const Fp8MatrixView a2{a_codes, ones, 1, 256, Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128};
  const Fp8MatrixView b2{b_codes, ones, 1, 256, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128};
  fp8_gemm_nt(a2, b2, d, Fp8GemmOutput::Bf16);
  CHECK(d[0] == 128.0f);
  fp8_gemm_nt(a2, b2, d, Fp8GemmOutput::Fp32);
  CHECK(d[0] == 128.001953125f);
  d[0] = 1.0f;
  fp8_gemm_nt(a2, b2, d, Fp8GemmOutput::AccumulateFp32);
  CHECK(d[0] == 129.001953125f);
}

TEST_CASE("fp8_gemm_nt: forward layout against the dequantised product", "[fp8]") {
  // x [m, k] in 1x128 tiles times W [n, k] in 128x128 blocks; shapes with partial tiles and blocks.
  const int64_t m = 70, n = 200, k = 300;
  const auto x = random_values(m * k, 41, -4.0, 4.0);
  const auto w = random_values(n * k, 42, -0.1, 0.1);
  const auto qa = quantise(x, m, k, Fp8ScaleLayout::Tile1x128);
  const auto qb = quantise(w, n, k, Fp8ScaleLayout::Block128x128);
  std::vector<float> d(m * n), d_threads(m * n);
  fp8_gemm_nt(qa.view(), qb.view(), d);
  check_against_dequantised(d, qa, qb, std::ldexp(1.0, -8));
  fp8_gemm_nt(qa.view(), qb.view(), d_threads, Fp8GemmOutput::Bf16, 3);
  CHECK(d == d_threads);
  // FP32 output: only FP32 summation differences remain.
  fp8_gemm_nt(qa.view(), qb.view(), d, Fp8GemmOutput::Fp32);
  check_against_dequantised(d, qa, qb, 1e-5);
}

TEST_CASE("fp8_gemm_nt: input-grad and weight-grad layouts", "[fp8]") {
  const int64_t tokens = 160, in = 144, out = 136;
  const auto dy = random_values(tokens * out, 51, -1e-3, 1e-3);
  const auto w = random_values(out * in, 52, -0.05, 0.05);
  const auto x = random_values(tokens * in, 53, -2.0, 2.0);
  // dx[t, in] = dy[t, out] · W[out, in]: a = dy (tiles along out), b = Wᵀ [in, out] from the exact block transpose.
  const auto qdy = quantise(dy, tokens, out, Fp8ScaleLayout::Tile1x128);
  const auto qw = quantise(w, out, in, Fp8ScaleLayout::Block128x128);
  Quantised qwt{std::vector<uint8_t>(w.size()), std::vector<float>(qw.scales.size()), std::vector<float>(w.size()),
                in, out, Fp8ScaleLayout::Block128x128};
  transpose_fp8_blocks(qw.codes, qw.scales, out, in, qwt.codes, qwt.scales);
  dequantize_fp8(qwt.codes, qwt.scales, in, out, Fp8ScaleLayout::Block128x128, Fp8Format::E4M3, qwt.dequantised);
  std::vector<float> dx(tokens * in);
  fp8_gemm_nt(qdy.view(), qwt.view(), dx);
  check_against_dequantised(dx, qdy, qwt, std::ldexp(1.0, -8));
  // dW[out, in] += dyᵀ[out, t] · x[t, in]: both operands re-tiled along tokens by transpose-requantise.
  auto requantise_t = [](const Quantised& q) {
    Quantised t{std::vector<uint8_t>(q.codes.size()),
                std::vector<float>(fp8_scale_count(Fp8ScaleLayout::Tile1x128, q.cols, q.rows)),
                std::vector<float>(q.codes.size()), q.cols, q.rows, Fp8ScaleLayout::Tile1x128};
    transpose_requantize_fp8(q.codes, q.scales, q.rows, q.cols, {}, t.codes, t.scales);
    dequantize_fp8(t.codes, t.scales, t.rows, t.cols, t.layout, Fp8Format::E4M3, t.dequantised);
    return t;
  };
  const auto qdyt = requantise_t(qdy);
  const auto qx = quantise(x, tokens, in, Fp8ScaleLayout::Tile1x128);
  const auto qxt = requantise_t(qx);
  std::vector<float> dw(out * in, 0.0f);
  fp8_gemm_nt(qdyt.view(), qxt.view(), dw, Fp8GemmOutput::AccumulateFp32);
  check_against_dequantised(dw, qdyt, qxt, 1e-5);
}

TEST_CASE("fp8_grouped_gemm_nt: each expert segment equals the dense GEMM", "[fp8]") {
  // Three experts with segments of 128, 0 and 256 rows: offsets {0, 128, 128, 384}.
  const int64_t groups = 3, n = 72, k = 260;
  const std::vector<int64_t> offsets = {0, 128, 128, 384};
  const int64_t m = offsets.back();
  const auto x = random_values(m * k, 61, -1.0, 1.0);
  const auto w = random_values(groups * n * k, 62, -0.2, 0.2);
  const auto qa = quantise(x, m, k, Fp8ScaleLayout::Tile1x128);
  // Experts quantised one by one, their codes and scales stacked.
  std::vector<Quantised> experts;
  std::vector<uint8_t> b_codes;
  std::vector<float> b_scales;
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<float> wg(w.begin() + g * n * k, w.begin() + (g + 1) * n * k);
    experts.push_back(quantise(wg, n, k, Fp8ScaleLayout::Block128x128));
    b_codes.insert(b_codes.end(), experts.back().codes.begin(), experts.back().codes.end());
    b_scales.insert(b_scales.end(), experts.back().scales.begin(), experts.back().scales.end());
  }
  const Fp8MatrixView b{b_codes, b_scales, groups * n, k, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128};
  std::vector<float> d(m * n);
  fp8_grouped_gemm_nt(qa.view(), b, groups, offsets, d);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t rows = offsets[g + 1] - offsets[g];
    if (rows == 0) continue;
    const int64_t tiles = (k + 127) / 128;
    const Fp8MatrixView ag{std::span<const uint8_t>(qa.codes).subspan(offsets[g] * k, rows * k),
                           std::span<const float>(qa.scales).subspan(offsets[g] * tiles, rows * tiles), rows, k,
                           Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128};
    std::vector<float> dg(rows * n);
    fp8_gemm_nt(ag, experts[g].view(), dg);
    CHECK(std::equal(dg.begin(), dg.end(), d.begin() + offsets[g] * n));
  }
  // Bad offsets: not a multiple of 128, decreasing, not ending at m.
  const std::vector<int64_t> unaligned = {0, 100, 128, 384};
  CHECK_THROWS_WITH(fp8_grouped_gemm_nt(qa.view(), b, groups, unaligned, d),
                    Catch::Contains("group_offsets[1] = 100 is not a multiple of 128"));
  const std::vector<int64_t> decreasing = {0, 256, 128, 384};
  CHECK_THROWS_WITH(fp8_grouped_gemm_nt(qa.view(), b, groups, decreasing, d), Catch::Contains("must not decrease"));
  const std::vector<int64_t> short_end = {0, 128, 128, 256};
  CHECK_THROWS_WITH(fp8_grouped_gemm_nt(qa.view(), b, groups, short_end, d), Catch::Contains("must equal a.rows"));
}

TEST_CASE("fp8_gemm_nt: bad input is named", "[fp8]") {
  std::vector<uint8_t> codes(256, 0x38);
  std::vector<float> scales(2, 1.0f), one_scale(1, 1.0f), d(1);
  const Fp8MatrixView a{codes, scales, 1, 256, Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128};
  const Fp8MatrixView b_bad_scales{codes, one_scale, 1, 256, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128};
  CHECK_THROWS_WITH(fp8_gemm_nt(a, b_bad_scales, d), Catch::Contains("b.scales has 1 elements, expected 2"));
  const Fp8MatrixView b_wrong_k{std::span<const uint8_t>(codes).first(128), one_scale, 1, 128, Fp8Format::E4M3,
                                Fp8ScaleLayout::Block128x128};
  CHECK_THROWS_WITH(fp8_gemm_nt(a, b_wrong_k, d), Catch::Contains("a.cols (256) must equal b.cols (128)"));
  const Fp8MatrixView a_blocks{codes, scales, 1, 256, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128};
  CHECK_THROWS_WITH(fp8_gemm_nt(a_blocks, a, d), Catch::Contains("a must have Tile1x128 scales"));
}
