// BF16 GEMM through cuBLASLt (see bf16_gemm_cuda.h): one cached plan per shape.
#include <cublasLt.h>

#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/common/cuda_device_cuda.h"
#include "kernels/gemm/bf16_gemm_cuda.h"

#define TANDEM_CUBLAS_CHECK(call)                                                                          \
  do {                                                                                                     \
    const cublasStatus_t tandem_status_ = (call);                                                          \
    ::tandem::kernels::cuda::cublas_check(static_cast<int>(tandem_status_), cublasLtGetStatusName(tandem_status_), \
                                          #call, __FILE__, __LINE__);                                      \
  } while (0)

namespace tandem::kernels::cuda {
namespace {

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

void destroy(Plan& p) {
  if (p.d) cublasLtMatrixLayoutDestroy(p.d);
  if (p.b) cublasLtMatrixLayoutDestroy(p.b);
  if (p.a) cublasLtMatrixLayoutDestroy(p.a);
  if (p.desc) cublasLtMatmulDescDestroy(p.desc);
  p = {};
}

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

struct Bf16GemmRunner::Impl {
  cublasLtHandle_t lt = nullptr;
  DeviceBuffer<uint8_t> workspace;
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans;
  ~Impl() {
    for (auto& [key, plan] : plans) destroy(plan);
    if (lt) cublasLtDestroy(lt);
  }
};

Bf16GemmRunner::Bf16GemmRunner() : impl_(std::make_unique<Impl>()) {
  TANDEM_CUBLAS_CHECK(cublasLtCreate(&impl_->lt));
  impl_->workspace = DeviceBuffer<uint8_t>(kWorkspaceBytes);
}

Bf16GemmRunner::~Bf16GemmRunner() = default;

void Bf16GemmRunner::gemm_nt(const uint16_t* a, const uint16_t* b, uint16_t* d, int64_t m, int64_t n, int64_t k,
                             cudaStream_t stream) {
  if (m < 0 || n < 0 || k < 1 || k % 8 != 0 || n % 8 != 0) {
    throw std::invalid_argument("bf16 gemm_nt: need m, n >= 0, k >= 1, k % 8 == 0 and n % 8 == 0; found m=" +
                                std::to_string(m) + ", n=" + std::to_string(n) + ", k=" + std::to_string(k));
  }
  if (m == 0 || n == 0) return;
  if (!aligned16(a) || !aligned16(b) || !aligned16(d)) throw std::invalid_argument("bf16 gemm_nt: pointers must be 16-byte aligned");
  const auto key = std::make_tuple(m, n, k);
  auto it = impl_->plans.find(key);
  if (it == impl_->plans.end()) {
    Plan p;
    try {
      // Row-major d = a · bᵀ as column-major dᵀ[n, m] = op(b)·a, as in the FP8 GEMM (fp8_gemm.cu).
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
      TANDEM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k));
      TANDEM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k));
      TANDEM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, CUDA_R_16BF, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n));
      cublasLtMatmulPreference_t preference = nullptr;
      TANDEM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
      const size_t workspace_bytes = kWorkspaceBytes;
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                   &workspace_bytes, sizeof(workspace_bytes));
      if (status == CUBLAS_STATUS_SUCCESS) {
        status = cublasLtMatmulAlgoGetHeuristic(impl_->lt, p.desc, p.a, p.b, p.d, p.d, preference, 1, &result, &found);
      }
      cublasLtMatmulPreferenceDestroy(preference);
      TANDEM_CUBLAS_CHECK(status);
      if (found == 0) {
        throw std::runtime_error("cuBLASLt has no BF16 algorithm for m=" + std::to_string(m) + ", n=" + std::to_string(n) +
                                 ", k=" + std::to_string(k));
      }
      p.algo = result.algo;
    } catch (...) {
      destroy(p);
      throw;
    }
    it = impl_->plans.emplace(key, p).first;
  }
  Plan& p = it->second;
  const float alpha = 1.0f, beta = 0.0f;
  TANDEM_CUBLAS_CHECK(cublasLtMatmul(impl_->lt, p.desc, &alpha, b, p.a, a, p.b, &beta, d, p.d, d, p.d, &p.algo,
                                     impl_->workspace.data(), impl_->workspace.bytes(), stream));
}

}  // namespace tandem::kernels::cuda
