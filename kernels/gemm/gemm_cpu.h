// FP32 matrix products on the CPU: a naive reference and a cache-blocked, register-blocked,
// vectorised version that gives the same bits, plus span wrappers for the layouts of a linear layer.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

enum class Trans : uint8_t { N, T };

// Which inner kernel gemm_blocked runs: Auto picks AVX2 when the CPU has it (x86-64), Baseline forces
// the SSE2 / generic one (tests and benchmarks use it to show both give the same bits).
enum class GemmIsa : uint8_t { Auto, Baseline };

// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, all row-major with leading dimensions.
// op(A) is A ([m,k], lda >= k) for Trans::N and Aᵀ (A stored [k,m], lda >= m) for Trans::T; same for B.
// Every element of C is one sum s over p = 0..k-1 in increasing order, each product rounded then
// added (no fused multiply-add), then c = alpha·s when beta == 0 (C is not read) else alpha·s + beta·c.
void gemm_naive(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm_naive(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// Same contract and the same bits as gemm_naive, for any thread count (each element is computed by
// one thread in the fixed order). Packs op(B) into 8-column panels and op(A) into 6-row panels,
// blocks for the caches (kc 256, mc 96, nc 512) and runs a 6x8 register tile written with vector
// extensions (SSE2 baseline; an AVX2 clone is picked at load time on x86-64, without FMA).
// threads <= 0 means 1; small products run on one thread whatever is asked.
void gemm_blocked(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, int threads = 1,
                  GemmIsa isa = GemmIsa::Auto);

// For code written once for float and double: float goes to gemm_blocked, double to gemm_naive.
void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc, int threads = 1);
void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc, int threads = 1);

// Span wrappers (sizes checked). accumulate = false writes C, true adds into it.
// c[m,n] (+)= a[m,k] · b[k,n]          (input grad of a linear layer: dx[t,in] = dy[t,out] · W[out,in])
void matmul_nn(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m, int64_t n,
               int64_t k, bool accumulate = false, int threads = 1);
void matmul_nn(std::span<const double> a, std::span<const double> b, std::span<double> c, int64_t m, int64_t n,
               int64_t k, bool accumulate = false, int threads = 1);
// c[m,n] (+)= a[m,k] · b[n,k]ᵀ         (linear forward: y[t,out] = x[t,in] · W[out,in]ᵀ)
void matmul_nt(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m, int64_t n,
               int64_t k, bool accumulate = false, int threads = 1);
void matmul_nt(std::span<const double> a, std::span<const double> b, std::span<double> c, int64_t m, int64_t n,
               int64_t k, bool accumulate = false, int threads = 1);
// c[m,n] (+)= a[k,m]ᵀ · b[k,n]         (weight grad: dW[out,in] += dy[t,out]ᵀ · x[t,in])
void matmul_tn(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m, int64_t n,
               int64_t k, bool accumulate = false, int threads = 1);
void matmul_tn(std::span<const double> a, std::span<const double> b, std::span<double> c, int64_t m, int64_t n,
               int64_t k, bool accumulate = false, int threads = 1);

}  // namespace tandem::kernels
