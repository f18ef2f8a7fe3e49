// Helpers of the memory-bound kernels' GPU tests (router, permute, SwiGLU, RMSNorm, cross-entropy):
// random vectors that are never zero, BF16 conversions of whole vectors, device copies in an
// ActType, ulp distances and a mismatch counter that reports the first few mismatches.
#pragma once
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/common/cuda_dtype_cuda.h"
#include "kernels/tests_cuda/gpu_test_util.h"

namespace tandem::kernels::cuda::test {

// Uniform in [lo, hi), redrawn while |x| < 1e-3 · max(|lo|, |hi|) (never zero).
inline std::vector<float> random_uniform(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  const float floor = 1e-3f * std::max(std::abs(lo), std::abs(hi));
  std::vector<float> x(n);
  for (float& v : x) {
    do v = dist(rng);
    while (std::abs(v) < floor);
  }
  return x;
}

// The BF16 bits of each value (round to nearest even) and back.
inline std::vector<uint16_t> bf16_bits_of(const std::vector<float>& x) {
  std::vector<uint16_t> bits(x.size());
  for (size_t i = 0; i < x.size(); ++i) bits[i] = float_to_bf16_bits(x[i]);
  return bits;
}
inline std::vector<float> floats_of_bf16(const std::vector<uint16_t>& bits) {
  std::vector<float> x(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) x[i] = bf16_bits_to_float(bits[i]);
  return x;
}
inline std::vector<float> rounded_to_bf16(std::vector<float> x) {
  round_to_bf16(x);
  return x;
}

// A device copy of `a` stored as `type` (BF16: the values must already be BF16-exact), the rest of
// the buffer 0xFF; and back, as floats.
inline DeviceBuffer<uint8_t> upload_as(const std::vector<float>& a, ActType type) {
  std::vector<uint8_t> bytes(a.size() * static_cast<size_t>(act_type_bytes(type)));
  if (type == ActType::BF16) {
    const auto bits = bf16_bits_of(a);
    std::memcpy(bytes.data(), bits.data(), bytes.size());
  } else {
    std::memcpy(bytes.data(), a.data(), bytes.size());
  }
  return to_device(bytes);
}
inline std::vector<float> download_as(const DeviceBuffer<uint8_t>& d, size_t n, ActType type) {
  const auto bytes = to_host(d, n * static_cast<size_t>(act_type_bytes(type)));
  std::vector<float> a(n);
  if (type == ActType::BF16) {
    std::vector<uint16_t> bits(n);
    std::memcpy(bits.data(), bytes.data(), bytes.size());
    return floats_of_bf16(bits);
  }
  std::memcpy(a.data(), bytes.data(), bytes.size());
  return a;
}

// Distance in units in the last place between two finite floats (0 for +0 and -0); huge for NaN.
inline int64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return INT64_MAX;
  const auto ordered = [](float x) {
    const int32_t i = std::bit_cast<int32_t>(x);
    return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : static_cast<int64_t>(i);
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

// Counts elements for which ok(i) is false; records the first three with `describe(i)`.
template <typename Ok, typename Describe>
int64_t count_mismatches(size_t n, Ok&& ok, Describe&& describe) {
  int64_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    if (ok(i)) continue;
    if (++bad <= 3) {
      INFO(describe(i));
      CHECK(false);
    }
  }
  return bad;
}

// Bitwise equality of two float vectors (NaN payloads included); returns the mismatch count.
inline int64_t bit_mismatches(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  REQUIRE(got.size() == want.size());
  return count_mismatches(
      want.size(), [&](size_t i) { return std::bit_cast<uint32_t>(got[i]) == std::bit_cast<uint32_t>(want[i]); },
      [&](size_t i) { return fmt::format("{}[{}]: GPU {}, CPU {}", what, i, got[i], want[i]); });
}

}  // namespace tandem::kernels::cuda::test
