// Helpers of backend_cuda_tests: the skips (no GPU, too few GPUs) that CTest reports as skipped, and
// small kernels (spin_kernel.cu) that make a stream busy for a while or move one value.
#pragma once
#include <catch2/catch.hpp>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <iostream>
#include <string>

#include "backend/tests_cuda/spin_kernel_cuda.h"
#include "kernels/common/cuda_device_cuda.h"

namespace tandem::backend::test {

// Usable CUDA devices (0 when the runtime cannot start).
inline int gpu_count() {
  static const kernels::cuda::CudaDeviceStatus status = kernels::cuda::cuda_device_status();
  return status.count;
}

// Prints "SKIPPED: <case>: <why>" (CTest's skip pattern) and records it as a warning.
inline void skip_case(const std::string& why) {
  const std::string message = "SKIPPED: " + Catch::getResultCapture().getCurrentTestName() + ": " + why;
  std::cout << message << "\n";
  WARN(message);
}

// True when at least `n` GPUs are usable; otherwise prints the skip. Use: if (!gpus_available(2)) return;
inline bool gpus_available(int n = 1) {
  if (gpu_count() >= n) return true;
  if (gpu_count() == 0) skip_case("no CUDA device (" + kernels::cuda::cuda_device_status().reason + ")");
  else skip_case("needs " + std::to_string(n) + " GPUs, found " + std::to_string(gpu_count()));
  return false;
}

}  // namespace tandem::backend::test
