// Host tests of the FP8 rules the CUDA kernels use (fp8_convert_cuda.h) against the CPU reference
// (fp8_cpu.h): encoding over a sweep of float bit patterns and every tie, decoding of every code,
// scales. They need no GPU: the same functions are compiled for the device.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "kernels/fp8/fp8_convert_cuda.h"
#include "kernels/fp8/fp8_cpu.h"

using namespace tandem::kernels;
namespace rules = tandem::kernels::fp8_rules;

namespace {

Fp8Format format_of(bool e4m3) { return e4m3 ? Fp8Format::E4M3 : Fp8Format::E5M2; }

// Compares encode_fp8 with float_to_fp8 on the bit pattern u; returns false (and records) on a mismatch.
bool same_encoding(uint32_t u, bool e4m3) {
  const float x = std::bit_cast<float>(u);
  const uint8_t expected = float_to_fp8(x, format_of(e4m3));
  const uint8_t got = rules::encode_fp8(x, e4m3);
  if (expected == got) return true;
  INFO("bits 0x" << std::hex << u << " value " << x << ": reference 0x" << int(expected) << ", rules 0x" << int(got));
  CHECK(got == expected);
  return false;
}

}  // namespace

TEST_CASE("fp8 rules: encoding matches float_to_fp8 over a sweep of all float bit patterns", "[fp8][rules]") {
  for (const bool e4m3 : {true, false}) {
    int mismatches = 0;
    // Every 251st pattern of the whole range (NaNs, infinities, subnormals, both signs) ...
    for (uint64_t u = 0; u <= 0xffffffffull && mismatches < 5; u += 251) mismatches += !same_encoding(static_cast<uint32_t>(u), e4m3);
    // ... and every 7th pattern with |x| in [2^-20, 2^17), where the FP8 values and their rounding live.
    for (uint32_t sign : {0u, 0x80000000u}) {
      for (uint32_t u = (127u - 20u) << 23; u < (127u + 17u) << 23 && mismatches < 5; u += 7) {
        mismatches += !same_encoding(sign | u, e4m3);
      }
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("fp8 rules: ties and their neighbours round as float_to_fp8 does", "[fp8][rules]") {
  // For every pair of adjacent non-negative finite codes: the midpoint (a tie, to the even code) and
  // the floats one ulp either side of it, with both signs; beyond the largest code, its saturation.
  for (const bool e4m3 : {true, false}) {
    const uint8_t max_code = e4m3 ? 0x7E : 0x7B;
    for (uint8_t c = 0; c < max_code; ++c) {
      const float lo = fp8_to_float(c, format_of(e4m3)), hi = fp8_to_float(static_cast<uint8_t>(c + 1), format_of(e4m3));
      const float mid = lo + (hi - lo) / 2;  // exact: FP8 values have few mantissa bits
      for (const float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
        CHECK(same_encoding(std::bit_cast<uint32_t>(x), e4m3));
        CHECK(same_encoding(std::bit_cast<uint32_t>(-x), e4m3));
      }
    }
    // Example by hand (E4M3): 1.0625 lies halfway between 1.0 (0x38) and 1.125 (0x39): ties to even, 0x38.
    if (e4m3) CHECK(rules::encode_fp8(1.0625f, true) == 0x38);
    // 500 > 448 saturates to 0x7E, -inf to 0xFE, NaN to 0x7F.
    if (e4m3) {
      CHECK(rules::encode_fp8(500.0f, true) == 0x7E);
      CHECK(rules::encode_fp8(-std::numeric_limits<float>::infinity(), true) == 0xFE);
      CHECK(rules::encode_fp8(std::numeric_limits<float>::quiet_NaN(), true) == 0x7F);
    }
  }
}

TEST_CASE("fp8 rules: decoding matches fp8_to_float for every code", "[fp8][rules]") {
  for (const bool e4m3 : {true, false}) {
    for (int c = 0; c < 256; ++c) {
      const float expected = fp8_to_float(static_cast<uint8_t>(c), format_of(e4m3));
      const float got = rules::decode_fp8(static_cast<uint8_t>(c), e4m3);
      INFO("code 0x" << std::hex << c << (e4m3 ? " E4M3" : " E5M2"));
      if (std::isnan(expected)) {
        CHECK(std::isnan(got));
      } else {
        CHECK(std::bit_cast<uint32_t>(got) == std::bit_cast<uint32_t>(expected));
      }
    }
  }
  // By hand: E4M3 0x38 = 2^(7-7)·1 = 1, 0x01 = 2^-9, 0xFE = -448; E5M2 0x7B = 57344.
  CHECK(rules::decode_fp8(0x38, true) == 1.0f);
  CHECK(rules::decode_fp8(0x01, true) == std::ldexp(1.0f, -9));
  CHECK(rules::decode_fp8(0xFE, true) == -448.0f);
  CHECK(rules::decode_fp8(0x7B, false) == 57344.0f);
}

TEST_CASE("fp8 rules: scales match fp8_scale_for_amax", "[fp8][rules]") {
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> log2_amax(-30.0f, 30.0f);
  std::vector<float> amaxes = {0.0f, 1e-5f, 1e-4f, std::nextafter(1e-4f, 0.0f), 448.0f, 1.0f, 0.5f, 3.0f,
                               std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN()};
  for (int i = 0; i < 20000; ++i) amaxes.push_back(std::exp2(log2_amax(rng)));
  for (int e = -20; e < 20; ++e) amaxes.push_back(std::ldexp(448.0f, e));  // scales that are powers of two
  for (const bool e4m3 : {true, false}) {
    for (const bool pow2 : {false, true}) {
      const Fp8QuantConfig config{format_of(e4m3), pow2};
      for (const float amax : amaxes) {
        const float expected = fp8_scale_for_amax(amax, config);
        const float got = rules::scale_for_amax(amax, e4m3, pow2);
        INFO("amax " << amax << (e4m3 ? " E4M3" : " E5M2") << (pow2 ? " pow2" : ""));
        if (std::isnan(expected)) {
          CHECK(std::isnan(got));
        } else {
          CHECK(std::bit_cast<uint32_t>(got) == std::bit_cast<uint32_t>(expected));
        }
      }
    }
  }
  // By hand: amax 448 gives scale 1 (a power of two already); amax 449 gives 449/448, rounded up to 2.
  CHECK(rules::scale_for_amax(448.0f, true, true) == 1.0f);
  CHECK(rules::scale_for_amax(449.0f, true, true) == 2.0f);
  // amax 0 is clamped to 1e-4: scale 1e-4/448.
  CHECK(rules::scale_for_amax(0.0f, true, false) == 1e-4f / 448.0f);
}

TEST_CASE("fp8 rules: NaN-propagating maximum as the reference's running maximum", "[fp8][rules]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(rules::nan_max(1.0f, 2.0f) == 2.0f);
  CHECK(rules::nan_max(2.0f, 1.0f) == 2.0f);
  CHECK(std::isnan(rules::nan_max(1.0f, nan)));
  CHECK(std::isnan(rules::nan_max(nan, 1.0f)));
  CHECK(rules::nan_max(0.0f, 0.0f) == 0.0f);
}
