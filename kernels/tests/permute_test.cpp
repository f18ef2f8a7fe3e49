// Permute/unpermute tests: the index and both directions by hand (bit-exact), the 128-row padded
// layout feeding the grouped FP8 GEMM, gradient checks of the combine, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/fp8/fp8_gemm_cpu.h"
#include "kernels/permute/permute_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::test;

namespace {
// 3 tokens, top-2, 3 experts: token 0 -> (2, 0), token 1 -> (0, 1), token 2 -> (2, 1).
const std::vector<int32_t> kTopk = {2, 0, 0, 1, 2, 1};
}  // namespace

TEST_CASE("build_permute_index: dense layout by hand", "[permute]") {
  // Pairs i = t·2 + k in order: i0→e2, i1→e0, i2→e0, i3→e1, i4→e2, i5→e1. Each expert gets 2 rows:
  // offsets [0, 2, 4, 6]; rows hold e0: i1, i2; e1: i3, i5; e2: i0, i4 -> row_source [1, 2, 3, 5, 0, 4];
  // slot_row (row of each pair) [4, 0, 1, 2, 5, 3].
  const auto index = build_permute_index(kTopk, 2, 3);
  CHECK(index.tokens == 3);
  CHECK(index.rows == 6);
  CHECK(index.expert_offsets == std::vector<int64_t>{0, 2, 4, 6});
  CHECK(index.expert_counts == std::vector<int64_t>{2, 2, 2});
  CHECK(index.row_source == std::vector<int32_t>{1, 2, 3, 5, 0, 4});
  CHECK(index.slot_row == std::vector<int64_t>{4, 0, 1, 2, 5, 3});

  // x [3, 1] = [10, 20, 30] -> permuted rows [x0, x1, x1, x2, x0, x2] = [10, 20, 20, 30, 10, 30].
  const std::vector<float> x = {10, 20, 30};
  std::vector<float> out(6);
  permute_forward(x, index, 1, out);
  CHECK(out == std::vector<float>{10, 20, 20, 30, 10, 30});
  // Backward sums each token's rows: dx = [dout4 + dout0, dout1 + dout2, dout5 + dout3] = [5+1, 2+3, 6+4].
  const std::vector<float> dout = {1, 2, 3, 4, 5, 6};
  std::vector<float> dx(3);
  permute_backward(dout, index, 1, dx);
  CHECK(dx == std::vector<float>{6, 5, 10});

  // Combine: y rows [1..6], weights [[0.5, 0.25], [1, 2], [0.125, 4]]:
  // t0 = 0.5·y4 + 0.25·y0 = 2.5 + 0.25 = 2.75; t1 = 1·y1 + 2·y2 = 2 + 6 = 8; t2 = 0.125·y5 + 4·y3 = 0.75 + 16 = 16.75.
  const std::vector<float> y = {1, 2, 3, 4, 5, 6}, w = {0.5f, 0.25f, 1, 2, 0.125f, 4};
  std::vector<float> combined(3);
  unpermute_forward(y, w, index, 1, combined);
  CHECK(combined == std::vector<float>{2.75f, 8.0f, 16.75f});
  // Backward with dout = [1, 2, 3]: dy[row of (t,k)] = w[t,k]·dout[t]: row4 = 0.5, row0 = 0.25, row1 = 2,
  // row2 = 4, row5 = 0.375, row3 = 12; dweights[t,k] = dout[t]·y[row]: [1·5, 1·1, 2·2, 2·3, 3·6, 3·4].
  const std::vector<float> dcomb = {1, 2, 3};
  std::vector<float> dy(6), dw(6);
  unpermute_backward(y, w, dcomb, index, 1, dy, dw);
  CHECK(dy == std::vector<float>{0.25f, 2, 4, 12, 0.5f, 0.375f});
  CHECK(dw == std::vector<float>{5, 1, 4, 6, 18, 12});
}

TEST_CASE("build_permute_index: padded layout zeroes its padding rows", "[permute]") {
  // align 4: each expert's 2 rows padded to 4: offsets [0, 4, 8, 12].
  const auto index = build_permute_index(kTopk, 2, 3, 4);
  CHECK(index.rows == 12);
  CHECK(index.expert_offsets == std::vector<int64_t>{0, 4, 8, 12});
  CHECK(index.row_source == std::vector<int32_t>{1, 2, -1, -1, 3, 5, -1, -1, 0, 4, -1, -1});
  const std::vector<float> x = {10, 20, 30};
  std::vector<float> out(12, std::numeric_limits<float>::quiet_NaN());  // poisoned
  permute_forward(x, index, 1, out);
  CHECK(out == std::vector<float>{10, 20, 0, 0, 20, 30, 0, 0, 10, 30, 0, 0});
  std::vector<float> y(12, 1.0f), w(6, 1.0f), dcomb(3, 1.0f), dy(12, std::numeric_limits<float>::quiet_NaN()), dw(6);
  unpermute_backward(y, w, dcomb, index, 1, dy, dw);
  CHECK(dy == std::vector<float>{1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0});
}

TEST_CASE("permute with 128-row alignment feeds the grouped FP8 GEMM", "[permute][fp8]") {
  // 40 tokens, top-2 of 4 experts; segments padded to 128 rows; padding rows give zero outputs and
  // real rows equal the dense FP8 GEMM of their token.
  const int64_t tokens = 40, top_k = 2, experts = 4, dim = 256, n = 64;
  std::vector<int32_t> topk(tokens * top_k);
  for (int64_t t = 0; t < tokens; ++t) {
    topk[t * 2] = static_cast<int32_t>(t % experts);
    topk[t * 2 + 1] = static_cast<int32_t>((t * 3 + 1) % experts);
  }
  const auto index = build_permute_index(topk, top_k, experts, 128);
  CHECK(index.rows == 4 * 128);
  const auto x = random_values(tokens * dim, 191);
  std::vector<float> xp(index.rows * dim);
  permute_forward(x, index, dim, xp);
  std::vector<uint8_t> codes(xp.size());
  std::vector<float> scales(fp8_scale_count(Fp8ScaleLayout::Tile1x128, index.rows, dim));
  quantize_fp8(xp, index.rows, dim, Fp8ScaleLayout::Tile1x128, {}, codes, scales);
  const auto w = random_values(experts * n * dim, 192, -0.1, 0.1);
  std::vector<uint8_t> wcodes(w.size());
  std::vector<float> wscales;
  for (int64_t e = 0; e < experts; ++e) {
    std::vector<float> s(fp8_scale_count(Fp8ScaleLayout::Block128x128, n, dim));
    quantize_fp8(std::span<const float>(w).subspan(e * n * dim, n * dim), n, dim, Fp8ScaleLayout::Block128x128, {},
                 std::span<uint8_t>(wcodes).subspan(e * n * dim, n * dim), s);
    wscales.insert(wscales.end(), s.begin(), s.end());
  }
  std::vector<float> d(index.rows * n);
  fp8_grouped_gemm_nt({codes, scales, index.rows, dim, Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128},
                      {wcodes, wscales, experts * n, dim, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128}, experts,
                      index.expert_offsets, d);
  const int64_t tiles = dim / 128;
  const int64_t wscales_per_expert = fp8_scale_count(Fp8ScaleLayout::Block128x128, n, dim);
  for (int64_t r = 0; r < index.rows; ++r) {
    INFO("row " << r);
    if (index.row_source[r] < 0) {
      for (int64_t j = 0; j < n; ++j) REQUIRE(d[r * n + j] == 0.0f);
      continue;
    }
    const int64_t e = r / 128;
    std::vector<float> single(n);
    fp8_gemm_nt({std::span<const uint8_t>(codes).subspan(r * dim, dim), std::span<const float>(scales).subspan(r * tiles, tiles),
                 1, dim, Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128},
                {std::span<const uint8_t>(wcodes).subspan(e * n * dim, n * dim),
                 std::span<const float>(wscales).subspan(e * wscales_per_expert, wscales_per_expert), n, dim,
                 Fp8Format::E4M3, Fp8ScaleLayout::Block128x128},
                single);
    REQUIRE(std::equal(single.begin(), single.end(), d.begin() + r * n));
  }
}

TEST_CASE("permute and unpermute: gradients match finite differences", "[permute][grad]") {
  const int64_t tokens = 5, top_k = 2, experts = 3, dim = 3;
  const std::vector<int32_t> topk = {1, 0, 2, 1, 0, 2, 1, 2, 0, 1};
  const auto index = build_permute_index(topk, top_k, experts, 4);
  const auto y = random_values<double>(index.rows * dim, 201);
  const auto w = random_values<double>(tokens * top_k, 202);
  const auto r = random_values<double>(tokens * dim, 203);
  auto loss = [&](const std::vector<double>& yv, const std::vector<double>& wv) {
    std::vector<double> out(tokens * dim);
    unpermute_forward(yv, wv, index, dim, out);
    return dot(r, out);
  };
  std::vector<double> dy(y.size()), dw(w.size());
  unpermute_backward(y, w, r, index, dim, dy, dw);
  CHECK(gradients_match(dy, numeric_gradient([&](const std::vector<double>& v) { return loss(v, w); }, y)));
  CHECK(gradients_match(dw, numeric_gradient([&](const std::vector<double>& v) { return loss(y, v); }, w)));

  const auto x = random_values<double>(tokens * dim, 204);
  const auto rp = random_values<double>(index.rows * dim, 205);
  auto ploss = [&](const std::vector<double>& xv) {
    std::vector<double> out(index.rows * dim);
    permute_forward(xv, index, dim, out);
    return dot(rp, out);
  };
  std::vector<double> dx(x.size());
  permute_backward(rp, index, dim, dx);
  CHECK(gradients_match(dx, numeric_gradient(ploss, x)));
}

TEST_CASE("permute: bad input is named", "[permute]") {
  const std::vector<int32_t> bad = {0, 3};
  CHECK_THROWS_WITH(build_permute_index(bad, 2, 3), Catch::Contains("topk_idx[0, 1] = 3 is outside [0, 3)"));
  const std::vector<int32_t> odd = {0, 1, 2};
  CHECK_THROWS_WITH(build_permute_index(odd, 2, 3), Catch::Contains("not a multiple of top_k = 2"));
  const auto index = build_permute_index(kTopk, 2, 3);
  std::vector<float> x(3), out(5);
  CHECK_THROWS_WITH(permute_forward(x, index, 1, out), Catch::Contains("out has 5 elements, expected 6"));
}
