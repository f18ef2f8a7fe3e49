// BF16 GEMM through cuBLASLt with FP32 accumulation: the BF16 baseline the FP8 GEMMs are measured
// against, and the GEMM of the parts of the recipe that stay in BF16.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

namespace tandem::kernels::cuda {

class Bf16GemmRunner {
 public:
  Bf16GemmRunner();
  ~Bf16GemmRunner();
  Bf16GemmRunner(const Bf16GemmRunner&) = delete;
  Bf16GemmRunner& operator=(const Bf16GemmRunner&) = delete;

  // d[m, n] = a[m, k] · b[n, k]ᵀ; all three BF16 bits, row-major, on the device. k % 8 == 0 and
  // n % 8 == 0 (16-byte rows), pointers 16-byte aligned; throws std::invalid_argument otherwise.
  void gemm_nt(const uint16_t* a, const uint16_t* b, uint16_t* d, int64_t m, int64_t n, int64_t k,
               cudaStream_t stream = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::kernels::cuda
