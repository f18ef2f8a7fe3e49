// The seam between `tandem` and its CUDA device module (libtandem_cuda_device.so, docs/gpu.md): the
// table the module's one exported C function returns, and the names the loader looks for. No CUDA
// header here, so the loader (app/device_option.cpp) compiles without a CUDA toolkit.
#pragma once
#include <cstdint>

#include "backend/execution/executor.h"
#include "ir/step_program.h"

namespace tandem::backend {

// Raised whenever CudaDeviceModule changes shape or meaning; the loader refuses another value.
inline constexpr uint32_t kCudaDeviceModuleAbi = 1;

// The module's file name, looked for next to the `tandem` executable.
inline constexpr const char* kCudaDeviceModuleFile = "libtandem_cuda_device.so";
// The exported C entry point, of type CudaDeviceModuleEntry.
inline constexpr const char* kCudaDeviceModuleSymbol = "tandem_cuda_device_module";

// The module takes every CPU-side function (ir, kernels, trace, backend) from the executable that
// loads it, so it belongs to one build of `tandem`: `host_build_id` is that executable's GNU build
// id (hex), which the loader compares with its own before calling anything else.
struct CudaDeviceModule {
  uint32_t abi = kCudaDeviceModuleAbi;
  const char* host_build_id = "";
  // Throws std::invalid_argument with a one-line reason when `--device cuda` cannot run the program
  // here (no usable GPU: the CUDA runtime's reason).
  void (*check_runnable)(const ir::StepProgram& program) = nullptr;
  // The staged CUDA op runner's executor parts (backend/cuda/cuda_ops.h) for the program.
  ExecutorParts (*executor_parts)(const ir::StepProgram& program) = nullptr;
};

using CudaDeviceModuleEntry = const CudaDeviceModule* (*)();

}  // namespace tandem::backend
