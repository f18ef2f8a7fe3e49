// Error checks for CUDA runtime and cuBLAS(Lt) calls: a failing call throws std::runtime_error naming
// the call, where it was made and what the library said. Host-only; includes no device code, so
// plain C++ files (tests, benchmarks) can use it with the CUDA include path.
#pragma once
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace tandem::kernels::cuda {

// Throws unless status == cudaSuccess: "<file>:<line>: <call> failed: <error name> (<error string>)".
inline void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                           cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
}

// Throws unless status == 0 (CUBLAS_STATUS_SUCCESS); the status is an int so this header needs no
// cuBLAS include. `name` is cublasGetStatusName's text when the caller has it.
inline void cublas_check(int status, const char* name, const char* call, const char* file, int line) {
  if (status == 0) return;
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: cuBLAS status " +
                           std::to_string(status) + (name ? std::string(" (") + name + ")" : std::string()));
}

}  // namespace tandem::kernels::cuda

#define TANDEM_CUDA_CHECK(call) ::tandem::kernels::cuda::cuda_check((call), #call, __FILE__, __LINE__)
// Checks the last launch (configuration errors are reported at once, execution errors later).
#define TANDEM_CUDA_CHECK_LAUNCH() ::tandem::kernels::cuda::cuda_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
