// The naive GEMM reference (one sequential sum per output element) and the span wrappers of
// gemm_cpu.h. The blocked version lives in gemm_blocked_cpu.cpp.
#include "kernels/gemm/gemm_cpu.h"

#include <fmt/format.h>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

template <typename T>
void gemm_naive_impl(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                     const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T s = 0;
      for (int64_t p = 0; p < k; ++p) {
        const T x = ta == Trans::N ? a[i * lda + p] : a[p * lda + i];
        const T y = tb == Trans::N ? b[p * ldb + j] : b[j * ldb + p];
        s += x * y;
      }
      T& out = c[i * ldc + j];
      out = beta == T(0) ? alpha * s : alpha * s + beta * out;
    }
  }
}

// Checks the span sizes of a matmul wrapper: a holds rows_a x cols_a, b rows_b x cols_b, c m x n.
void check_matmul(const char* name, size_t a_size, size_t b_size, size_t c_size, int64_t m, int64_t n, int64_t k,
                  bool a_transposed, bool b_transposed) {
  check_at_least(name, "m", m, 0);
  check_at_least(name, "n", n, 0);
  check_at_least(name, "k", k, 0);
  check_size(name, "a", a_size, m * k, a_transposed ? fmt::format("[k={}, m={}]", k, m) : fmt::format("[m={}, k={}]", m, k));
  check_size(name, "b", b_size, k * n, b_transposed ? fmt::format("[n={}, k={}]", n, k) : fmt::format("[k={}, n={}]", k, n));
  check_size(name, "c", c_size, m * n, fmt::format("[m={}, n={}]", m, n));
}

template <typename T>
void matmul_impl(const char* name, Trans ta, Trans tb, std::span<const T> a, std::span<const T> b, std::span<T> c,
                 int64_t m, int64_t n, int64_t k, bool accumulate, int threads) {
  check_matmul(name, a.size(), b.size(), c.size(), m, n, k, ta == Trans::T, tb == Trans::T);
  const int64_t lda = ta == Trans::N ? k : m;
  const int64_t ldb = tb == Trans::N ? n : k;
  gemm(ta, tb, m, n, k, T(1), a.data(), lda, b.data(), ldb, accumulate ? T(1) : T(0), c.data(), n, threads);
}

}  // namespace

void gemm_naive(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_naive_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_naive(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_naive_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc, int threads) {
  gemm_blocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc, int /*threads*/) {
  gemm_naive_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void matmul_nn(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m, int64_t n,
               int64_t k, bool accumulate, int threads) {
  matmul_impl("matmul_nn", Trans::N, Trans::N, a, b, c, m, n, k, accumulate, threads);
}
void matmul_nn(std::span<const double> a, std::span<const double> b, std::span<double> c, int64_t m, int64_t n,
               int64_t k, bool accumulate, int threads) {
  matmul_impl("matmul_nn", Trans::N, Trans::N, a, b, c, m, n, k, accumulate, threads);
}
void matmul_nt(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m, int64_t n,
               int64_t k, bool accumulate, int threads) {
  matmul_impl("matmul_nt", Trans::N, Trans::T, a, b, c, m, n, k, accumulate, threads);
}
void matmul_nt(std::span<const double> a, std::span<const double> b, std::span<double> c, int64_t m, int64_t n,
               int64_t k, bool accumulate, int threads) {
  matmul_impl("matmul_nt", Trans::N, Trans::T, a, b, c, m, n, k, accumulate, threads);
}
void matmul_tn(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m, int64_t n,
               int64_t k, bool accumulate, int threads) {
  matmul_impl("matmul_tn", Trans::T, Trans::N, a, b, c, m, n, k, accumulate, threads);
}
void matmul_tn(std::span<const double> a, std::span<const double> b, std::span<double> c, int64_t m, int64_t n,
               int64_t k, bool accumulate, int threads) {
  matmul_impl("matmul_tn", Trans::T, Trans::N, a, b, c, m, n, k, accumulate, threads);
}

}  // namespace tandem::kernels
