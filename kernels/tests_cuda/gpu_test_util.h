// Helpers of kernels_cuda_tests: the skip when there is no usable GPU, per-run seeds (logged, and
// repeatable with TANDEM_TEST_SEED), random matrices that are never zero, device buffers filled with
// NaN before each run, and copies between host and device.
#pragma once
#include <catch2/catch.hpp>
#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/common/cuda_device_cuda.h"

namespace tandem::kernels::cuda::test {

// The run's seed: TANDEM_TEST_SEED when set, else from the clock; printed once per process.
inline uint64_t run_seed() {
  static const uint64_t seed = [] {
    uint64_t s = 0;
    if (const char* env = std::getenv("TANDEM_TEST_SEED")) {
      s = std::strtoull(env, nullptr, 10);
    } else {
      s = static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
    }
    std::cout << "kernels_cuda_tests: seed " << s << " (TANDEM_TEST_SEED=" << s << " repeats this run)\n";
    return s;
  }();
  return seed;
}

// A seed per test case and purpose, derived from the run's seed.
inline uint64_t case_seed(const std::string& purpose) {
  return run_seed() ^ (std::hash<std::string>{}(Catch::getResultCapture().getCurrentTestName() + "/" + purpose) *
                       0x9E3779B97F4A7C15ull);
}

// True when a CUDA device is usable; otherwise prints "SKIPPED: <case>: <reason>" (CTest reports
// the case as skipped) and returns false. Use as: if (!gpu_available()) return;
inline bool gpu_available() {
  static const CudaDeviceStatus status = cuda_device_status();
  if (status.count > 0) return true;
  const std::string message =
      "SKIPPED: " + Catch::getResultCapture().getCurrentTestName() + ": no CUDA device (" + status.reason + ")";
  std::cout << message << "\n";
  WARN(message);
  return false;
}

// Prints "SKIPPED: <case>: <why>" for a part that cannot run on this device (e.g. the sm_90a kernel
// on another GPU).
inline void skip_part(const std::string& why) {
  const std::string message = "SKIPPED: " + Catch::getResultCapture().getCurrentTestName() + ": " + why;
  std::cout << message << "\n";
  WARN(message);
}

// x[r, c] = N(0, 1) · 2^e with e drawn per 1x128 tile in [-exp_range, exp_range], so scales differ
// between tiles; never zero (|x| >= 2^-10 of its tile's magnitude).
inline std::vector<float> random_matrix(int64_t rows, int64_t cols, uint64_t seed, int exp_range = 8) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-exp_range, exp_range);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c0 = 0; c0 < cols; c0 += 128) {
      const float magnitude = std::ldexp(1.0f, exponent(rng));
      for (int64_t c = c0; c < std::min(cols, c0 + 128); ++c) {
        float v = normal(rng);
        while (std::abs(v) < 1.0f / 1024) v = normal(rng);
        x[static_cast<size_t>(r * cols + c)] = v * magnitude;
      }
    }
  }
  return x;
}

// A device copy of a host vector, plus `guard` elements after it; the whole buffer starts as 0xFF
// bytes (NaN for floats, BF16 and E4M3).
template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& host, size_t guard = 0) {
  DeviceBuffer<T> buffer(host.size() + guard);
  if (buffer.bytes() > 0) TANDEM_CUDA_CHECK(cudaMemset(buffer.data(), 0xFF, buffer.bytes()));
  if (!host.empty()) TANDEM_CUDA_CHECK(cudaMemcpy(buffer.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return buffer;
}

// A device buffer of `count` elements filled with 0xFF bytes (NaN): outputs are poisoned before a run.
template <typename T>
DeviceBuffer<T> poisoned(size_t count) {
  DeviceBuffer<T> buffer(count);
  if (buffer.bytes() > 0) TANDEM_CUDA_CHECK(cudaMemset(buffer.data(), 0xFF, buffer.bytes()));
  return buffer;
}

template <typename T>
std::vector<T> to_host(const DeviceBuffer<T>& buffer, size_t count) {
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<T> host(count);
  if (count > 0) TANDEM_CUDA_CHECK(cudaMemcpy(host.data(), buffer.data(), count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

template <typename T>
std::vector<T> to_host(const DeviceBuffer<T>& buffer) {
  return to_host(buffer, buffer.size());
}

}  // namespace tandem::kernels::cuda::test
