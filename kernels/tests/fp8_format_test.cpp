// FP8 and BF16 rounding tests: known E4M3 / E5M2 / BF16 values with the arithmetic in comments, every
// code round-trips, and random values and every midpoint agree with a brute-force nearest search.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/fp8/fp8_cpu.h"

using namespace tandem::kernels;

namespace {

// The nearest finite FP8 value to x by search over all codes; ties go to the even code (even
// mantissa); beyond the largest value saturates. Independent of the bit manipulation under test.
uint8_t brute_force_fp8(float x, Fp8Format f) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const double ax = std::abs(static_cast<double>(x));
  int best = 0;
  double best_err = std::numeric_limits<double>::infinity();
  for (int c = 0; c < 0x80; ++c) {
    const float v = fp8_to_float(static_cast<uint8_t>(c), f);
    if (!std::isfinite(v)) continue;
    const double err = std::abs(static_cast<double>(v) - ax);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  return static_cast<uint8_t>(sign | best);
}

}  // namespace

TEST_CASE("E4M3: known values", "[fp8]") {
  const auto f = Fp8Format::E4M3;
  CHECK(fp8_max(f) == 448.0f);
  // 448 = 1.75 · 2^8: exponent field 8+7 = 15, mantissa 6 (0.75 = 6/8): 0 1111 110 = 0x7E.
  CHECK(float_to_fp8(448.0f, f) == 0x7E);
  CHECK(fp8_to_float(0x7E, f) == 448.0f);
  // 0x7F = S.1111.111 is NaN; 0x7E is the largest finite value.
  CHECK(std::isnan(fp8_to_float(0x7F, f)));
  // Saturation: 449, 464 (midpoint 448..480), 1e6 and +inf give 448; -1e6 gives -448 (0xFE).
  CHECK(float_to_fp8(449.0f, f) == 0x7E);
  CHECK(float_to_fp8(464.0f, f) == 0x7E);
  CHECK(float_to_fp8(1e6f, f) == 0x7E);
  CHECK(float_to_fp8(std::numeric_limits<float>::infinity(), f) == 0x7E);
  CHECK(float_to_fp8(-1e6f, f) == 0xFE);
  CHECK(std::isnan(round_to_fp8(std::numeric_limits<float>::quiet_NaN(), f)));
  // 0.0625 = 2^-4: exponent field -4+7 = 3, mantissa 0: 0 0011 000 = 0x18.
  CHECK(float_to_fp8(0.0625f, f) == 0x18);
  // 1.0: exponent field 7: 0 0111 000 = 0x38. 240 = 1.875 · 2^7: field 14, mantissa 7: 0x77.
  CHECK(float_to_fp8(1.0f, f) == 0x38);
  CHECK(float_to_fp8(240.0f, f) == 0x77);
  // Ties to even: 1.0625 lies halfway between 1.0 (mantissa 0) and 1.125 (1): goes to 1.0.
  // 1.1875 lies halfway between 1.125 (1) and 1.25 (2): goes to 1.25.
  CHECK(round_to_fp8(1.0625f, f) == 1.0f);
  CHECK(round_to_fp8(1.1875f, f) == 1.25f);
  // 432 = halfway between 416 (1.625·256, mantissa 5) and 448 (mantissa 6): goes to 448.
  CHECK(round_to_fp8(432.0f, f) == 448.0f);
  // Just off the midpoint rounds to the nearer side.
  CHECK(round_to_fp8(std::nextafter(1.0625f, 2.0f), f) == 1.125f);
  CHECK(round_to_fp8(std::nextafter(1.0625f, 0.0f), f) == 1.0f);
  // Smallest normal 2^-6 = 0.015625: 0 0001 000 = 0x08. Largest subnormal 7/8 · 2^-6 = 0.013671875: 0x07.
  CHECK(float_to_fp8(0.015625f, f) == 0x08);
  CHECK(fp8_to_float(0x07, f) == 0.013671875f);
  // Smallest subnormal 2^-9 = 0.001953125: 0x01. Half of it (2^-10) ties to even: 0.
  // 1.5 · 2^-10 is past the midpoint: 2^-9. 3 · 2^-10 is halfway between codes 1 and 2: code 2 = 2^-8.
  CHECK(float_to_fp8(0.001953125f, f) == 0x01);
  CHECK(float_to_fp8(std::ldexp(1.0f, -10), f) == 0x00);
  CHECK(float_to_fp8(std::ldexp(1.5f, -10), f) == 0x01);
  CHECK(float_to_fp8(std::ldexp(3.0f, -10), f) == 0x02);
  CHECK(float_to_fp8(-std::ldexp(3.0f, -10), f) == 0x82);
  // Subnormal rounding up into the smallest normal: 15/16 · 2^-6 is halfway between 7/8 · 2^-6 (0x07,
  // odd) and 2^-6 (0x08, even): 0x08.
  CHECK(float_to_fp8(std::ldexp(15.0f, -10), f) == 0x08);
  // Far below: 1e-30 and float subnormals round to zero, keeping the sign.
  CHECK(float_to_fp8(1e-30f, f) == 0x00);
  CHECK(float_to_fp8(-1e-40f, f) == 0x80);
  CHECK(float_to_fp8(-0.0f, f) == 0x80);
}

TEST_CASE("E5M2: known values", "[fp8]") {
  const auto f = Fp8Format::E5M2;
  CHECK(fp8_max(f) == 57344.0f);
  // 57344 = 1.75 · 2^15: exponent field 30, mantissa 3: 0 11110 11 = 0x7B; 0x7C is +inf.
  CHECK(float_to_fp8(57344.0f, f) == 0x7B);
  CHECK(std::isinf(fp8_to_float(0x7C, f)));
  CHECK(std::isnan(fp8_to_float(0x7D, f)));
  CHECK(float_to_fp8(1e9f, f) == 0x7B);
  CHECK(float_to_fp8(std::numeric_limits<float>::infinity(), f) == 0x7B);
  // 1.0: exponent field 15: 0 01111 00 = 0x3C.
  CHECK(float_to_fp8(1.0f, f) == 0x3C);
  // 1.125 is halfway between 1.0 (mantissa 0) and 1.25 (1): 1.0; 1.375 between 1.25 (1) and 1.5 (2): 1.5.
  CHECK(round_to_fp8(1.125f, f) == 1.0f);
  CHECK(round_to_fp8(1.375f, f) == 1.5f);
  // Smallest subnormal 2^-16 (0x01); smallest normal 2^-14 (0 00001 00 = 0x04).
  CHECK(float_to_fp8(std::ldexp(1.0f, -16), f) == 0x01);
  CHECK(float_to_fp8(std::ldexp(1.0f, -17), f) == 0x00);
  CHECK(float_to_fp8(std::ldexp(1.0f, -14), f) == 0x04);
}

TEST_CASE("FP8: every finite code round-trips and ordering is monotonic", "[fp8]") {
  for (auto f : {Fp8Format::E4M3, Fp8Format::E5M2}) {
    float previous = -1.0f;
    for (int c = 0; c < 256; ++c) {
      const float v = fp8_to_float(static_cast<uint8_t>(c), f);
      if (!std::isfinite(v)) continue;
      INFO("format " << int(f) << " code " << c << " value " << v);
      CHECK(float_to_fp8(v, f) == static_cast<uint8_t>(c));
      if (c < 0x80) {
        CHECK(v > previous);
        previous = v;
      }
    }
  }
}

TEST_CASE("FP8: midpoints and random values match a brute-force nearest search", "[fp8]") {
  for (auto f : {Fp8Format::E4M3, Fp8Format::E5M2}) {
    // Every midpoint between neighbouring positive values is exact in float and must tie to even.
    for (int c = 0; c + 1 < 0x80; ++c) {
      const float lo = fp8_to_float(static_cast<uint8_t>(c), f);
      const float hi = fp8_to_float(static_cast<uint8_t>(c + 1), f);
      if (!std::isfinite(hi)) break;
      const float mid = (lo + hi) / 2.0f;
      INFO("format " << int(f) << " midpoint of codes " << c << "," << c + 1);
      CHECK(float_to_fp8(mid, f) == ((c & 1) ? c + 1 : c));
      CHECK(float_to_fp8(-mid, f) == (0x80 | ((c & 1) ? c + 1 : c)));
    }
    // Random magnitudes spread over the whole range, log-uniform from 2^-20 to 2^17.
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> exponent(-20.0, 17.0);
    std::bernoulli_distribution negative(0.5);
    for (int i = 0; i < 20000; ++i) {
      float x = static_cast<float>(std::exp2(exponent(rng)));
      if (negative(rng)) x = -x;
      INFO("format " << int(f) << " x " << x);
      REQUIRE(float_to_fp8(x, f) == brute_force_fp8(x, f));
    }
  }
}

TEST_CASE("BF16: round to nearest even", "[fp8][bf16]") {
  // 1.0 = 0x3F800000 -> 0x3F80.
  CHECK(float_to_bf16_bits(1.0f) == 0x3F80);
  // BF16 keeps 7 mantissa bits: near 1 the step is 2^-7. 1 + 2^-8 is halfway between 1 (even) and
  // 1 + 2^-7: 1. 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): 1 + 2^-6.
  CHECK(round_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 1.0f);
  CHECK(round_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 1.0f + std::ldexp(1.0f, -6));
  CHECK(round_to_bf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)) == 1.0f + std::ldexp(1.0f, -7));
  // 896 = 1.75 · 2^9 is exact; 128 + 2^-9 rounds to 128 (step 1 at 128).
  CHECK(round_to_bf16(896.0f) == 896.0f);
  CHECK(round_to_bf16(128.001953125f) == 128.0f);
  CHECK(round_to_bf16(-2.5f) == -2.5f);
  CHECK(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isinf(round_to_bf16(std::numeric_limits<float>::max())));  // rounds past the largest BF16
  CHECK(std::isinf(round_to_bf16(-std::numeric_limits<float>::infinity())));
  std::vector<float> v = {1.0f + std::ldexp(1.0f, -9), 3.0f};
  round_to_bf16(v);
  CHECK(v == std::vector<float>{1.0f, 3.0f});
}
