// FP8 scaling tests: scale selection for 1x128 tiles and 128x128 blocks (plain and power-of-two),
// the quantisation error bound, the exact block transpose, transpose-requantise and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/fp8/fp8_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using tandem::kernels::test::random_values;

TEST_CASE("fp8 scales: amax / 448, power-of-two rounding, zero tiles", "[fp8]") {
  const Fp8QuantConfig plain{};
  const Fp8QuantConfig pow2{Fp8Format::E4M3, true};
  // amax 3.5: 3.5 / 448 = 2^-7 exactly, already a power of two.
  CHECK(fp8_scale_for_amax(3.5f, plain) == 0.0078125f);
  CHECK(fp8_scale_for_amax(3.5f, pow2) == 0.0078125f);
  // amax 5: 5 / 448 = 0.01116..., between 2^-7 and 2^-6: rounded up to 2^-6 = 0.015625.
  CHECK(fp8_scale_for_amax(5.0f, plain) == 5.0f / 448.0f);
  CHECK(fp8_scale_for_amax(5.0f, pow2) == 0.015625f);
  // amax 0 is clamped to 1e-4.
  CHECK(fp8_scale_for_amax(0.0f, plain) == 1e-4f / 448.0f);
  // E5M2: 57344 · 2^-10 = 56 -> scale 2^-10.
  CHECK(fp8_scale_for_amax(56.0f, {Fp8Format::E5M2, false}) == std::ldexp(1.0f, -10));
}

TEST_CASE("quantize_fp8 Tile1x128: one scale per 128 elements of a row, edge tiles", "[fp8]") {
  // 2 rows x 130 cols: two tiles per row, the second 2 wide. Row 0: 0.01 everywhere except
  // x[0][5] = -3.5 (tile 0 amax 3.5) and x[0][129] = 7 (tile 1 amax 7). Row 1: all zero but x[1][0] = 1.
  const int64_t rows = 2, cols = 130;
  std::vector<float> x(rows * cols, 0.01f);
  x[5] = -3.5f;
  x[129] = 7.0f;
  for (int64_t c = 0; c < cols; ++c) x[cols + c] = 0.0f;
  x[cols] = 1.0f;
  std::vector<uint8_t> codes(rows * cols);
  std::vector<float> scales(fp8_scale_count(Fp8ScaleLayout::Tile1x128, rows, cols));
  REQUIRE(scales.size() == 4);
  quantize_fp8(x, rows, cols, Fp8ScaleLayout::Tile1x128, {}, codes, scales);
  CHECK(scales[0] == 3.5f / 448.0f);  // 2^-7
  CHECK(scales[1] == 7.0f / 448.0f);  // 2^-6
  CHECK(scales[2] == 1.0f / 448.0f);
  CHECK(scales[3] == 1e-4f / 448.0f);  // tile of zeros
  // -3.5 / 2^-7 = -448 -> 0xFE; 7 / 2^-6 = 448 -> 0x7E; 1 / (1/448) = 448 (up to the division) -> 0x7E.
  CHECK(codes[5] == 0xFE);
  CHECK(codes[129] == 0x7E);
  CHECK(codes[cols] == 0x7E);
  CHECK(codes[cols + 129] == 0x00);
  // 0.01 / 2^-7 = 1.28: E4M3 neighbours 1.25 and 1.375 -> 1.25, so 0.01 dequantises to 1.25 · 2^-7.
  std::vector<float> back(rows * cols);
  dequantize_fp8(codes, scales, rows, cols, Fp8ScaleLayout::Tile1x128, Fp8Format::E4M3, back);
  CHECK(back[0] == 1.25f * 0.0078125f);
  CHECK(back[5] == -3.5f);
  CHECK(back[129] == 7.0f);
}

TEST_CASE("quantize_fp8 Block128x128: one scale per block, edge blocks", "[fp8]") {
  // 130 x 200: blocks [2, 2]; block (0,0) amax 2 at (3,4), (0,1) amax 4 at (100,150),
  // (1,0) amax 8 at (129,0), (1,1) amax 16 at (128,199); everything else 0.5.
  const int64_t rows = 130, cols = 200;
  std::vector<float> x(rows * cols, 0.5f);
  x[3 * cols + 4] = 2.0f;
  x[100 * cols + 150] = -4.0f;
  x[129 * cols + 0] = 8.0f;
  x[128 * cols + 199] = 16.0f;
  std::vector<uint8_t> codes(rows * cols);
  std::vector<float> scales(fp8_scale_count(Fp8ScaleLayout::Block128x128, rows, cols));
  REQUIRE(scales.size() == 4);
  quantize_fp8(x, rows, cols, Fp8ScaleLayout::Block128x128, {Fp8Format::E4M3, true}, codes, scales);
  // pow2: 2/448 -> 2^-7 (2/448 = 0.00446 is between 2^-8 and 2^-7); 4/448 -> 2^-6; 8/448 -> 2^-5; 16/448 -> 2^-4.
  CHECK(scales[0] == std::ldexp(1.0f, -7));
  CHECK(scales[1] == std::ldexp(1.0f, -6));
  CHECK(scales[2] == std::ldexp(1.0f, -5));
  CHECK(scales[3] == std::ldexp(1.0f, -4));
  // With power-of-two scales and values that are FP8-representable after scaling, the round trip is exact.
  std::vector<float> back(rows * cols);
  dequantize_fp8(codes, scales, rows, cols, Fp8ScaleLayout::Block128x128, Fp8Format::E4M3, back);
  CHECK(back == x);
  CHECK(fp8_scale_index(Fp8ScaleLayout::Block128x128, rows, cols, 129, 0) == 2);
}

TEST_CASE("quantize_fp8: dequantised error within half an FP8 step", "[fp8]") {
  const int64_t rows = 37, cols = 300;
  const auto x = random_values(rows * cols, 21, -3.0, 3.0);
  for (auto layout : {Fp8ScaleLayout::Tile1x128, Fp8ScaleLayout::Block128x128}) {
    for (bool pow2 : {false, true}) {
      std::vector<uint8_t> codes(x.size());
      std::vector<float> scales(fp8_scale_count(layout, rows, cols));
      quantize_fp8(x, rows, cols, layout, {Fp8Format::E4M3, pow2}, codes, scales);
      std::vector<float> back(x.size());
      dequantize_fp8(codes, scales, rows, cols, layout, Fp8Format::E4M3, back);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const size_t i = r * cols + c;
          const float s = scales[fp8_scale_index(layout, rows, cols, r, c)];
          // E4M3 normals keep 3 mantissa bits: relative error <= 2^-4; subnormals: <= 2^-10 · scale.
          INFO("layout " << int(layout) << " pow2 " << pow2 << " at " << r << "," << c);
          REQUIRE(std::abs(back[i] - x[i]) <= std::ldexp(std::abs(x[i]), -4) + std::ldexp(s, -10) * 1.0001f);
        }
      }
    }
  }
}

TEST_CASE("transpose_fp8_blocks is exact and transpose_requantize_fp8 re-tiles along the old rows", "[fp8]") {
  const int64_t rows = 150, cols = 260;
  const auto x = random_values(rows * cols, 31, -2.0, 2.0);
  // Weights: block-scaled, transposed exactly.
  std::vector<uint8_t> codes(x.size()), codes_t(x.size());
  std::vector<float> scales(fp8_scale_count(Fp8ScaleLayout::Block128x128, rows, cols)), scales_t(scales.size());
  quantize_fp8(x, rows, cols, Fp8ScaleLayout::Block128x128, {}, codes, scales);
  transpose_fp8_blocks(codes, scales, rows, cols, codes_t, scales_t);
  std::vector<float> w(x.size()), w_t(x.size());
  dequantize_fp8(codes, scales, rows, cols, Fp8ScaleLayout::Block128x128, Fp8Format::E4M3, w);
  dequantize_fp8(codes_t, scales_t, cols, rows, Fp8ScaleLayout::Block128x128, Fp8Format::E4M3, w_t);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) REQUIRE(w_t[c * rows + r] == w[r * cols + c]);
  }
  // Activations: 1x128 tiles along cols, requantised as 1x128 tiles along rows of the transpose.
  std::vector<float> tile_scales(fp8_scale_count(Fp8ScaleLayout::Tile1x128, rows, cols));
  quantize_fp8(x, rows, cols, Fp8ScaleLayout::Tile1x128, {}, codes, tile_scales);
  std::vector<float> out_scales(fp8_scale_count(Fp8ScaleLayout::Tile1x128, cols, rows));
  REQUIRE(out_scales.size() == static_cast<size_t>(cols * 2));
  transpose_requantize_fp8(codes, tile_scales, rows, cols, {}, codes_t, out_scales);
  std::vector<float> a(x.size()), a_t(x.size());
  dequantize_fp8(codes, tile_scales, rows, cols, Fp8ScaleLayout::Tile1x128, Fp8Format::E4M3, a);
  dequantize_fp8(codes_t, out_scales, cols, rows, Fp8ScaleLayout::Tile1x128, Fp8Format::E4M3, a_t);
  for (int64_t c = 0; c < cols; ++c) {
    // The new tile scale is the amax of the dequantised column segment over 448.
    float amax = 0;
    for (int64_t r = 0; r < 128; ++r) amax = std::max(amax, std::abs(a[r * cols + c]));
    REQUIRE(out_scales[c * 2] == amax / 448.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const float s = out_scales[c * 2 + r / 128];
      REQUIRE(std::abs(a_t[c * rows + r] - a[r * cols + c]) <=
              std::ldexp(std::abs(a[r * cols + c]), -4) + std::ldexp(s, -10) * 1.0001f);
    }
  }
}

TEST_CASE("fp8 quantisation: bad sizes are named", "[fp8]") {
  std::vector<float> x(10), scales(1), small_scales(0);
  std::vector<uint8_t> codes(10), few_codes(9);
  CHECK_THROWS_WITH(quantize_fp8(x, 2, 5, Fp8ScaleLayout::Tile1x128, {}, codes, scales),
                    Catch::Contains("scales has 1 elements, expected 2"));
  CHECK_THROWS_WITH(quantize_fp8(x, 2, 5, Fp8ScaleLayout::Block128x128, {}, few_codes, scales),
                    Catch::Contains("codes has 9 elements, expected 10"));
  CHECK_THROWS_AS(dequantize_fp8(codes, small_scales, 2, 5, Fp8ScaleLayout::Block128x128, Fp8Format::E4M3, x),
                  std::invalid_argument);
  CHECK_THROWS_AS(quantize_fp8(x, -2, 5, Fp8ScaleLayout::Tile1x128, {}, codes, scales), std::invalid_argument);
}
