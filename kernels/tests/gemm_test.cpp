// GEMM tests: a hand-computed product, the blocked GEMM equal bit for bit to the naive one for every
// transpose, odd shapes, alpha/beta and thread counts, and the span wrappers' layouts and checks.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "kernels/gemm/gemm_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using tandem::kernels::test::random_values;

TEST_CASE("gemm_naive: 2x2 by hand, with alpha and beta", "[gemm]") {
  // A = [[1,2],[3,4]], B = [[5,6],[7,8]]: A·B = [[1·5+2·7, 1·6+2·8], [3·5+4·7, 3·6+4·8]] = [[19,22],[43,50]].
  // C = 2·A·B + 0.5·[[2,4],[6,8]] = [[39,46],[89,104]].
  const float a[] = {1, 2, 3, 4};
  const float b[] = {5, 6, 7, 8};
  float c[] = {2, 4, 6, 8};
  gemm_naive(Trans::N, Trans::N, 2, 2, 2, 2.0f, a, 2, b, 2, 0.5f, c, 2);
  CHECK(c[0] == 39.0f);
  CHECK(c[1] == 46.0f);
  CHECK(c[2] == 89.0f);
  CHECK(c[3] == 104.0f);
  // Aᵀ·B = [[1·5+3·7, 1·6+3·8], [2·5+4·7, 2·6+4·8]] = [[26,30],[38,44]]; beta 0 ignores a NaN in C.
  float d[] = {NAN, NAN, NAN, NAN};
  gemm_blocked(Trans::T, Trans::N, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, d, 2);
  CHECK(d[0] == 26.0f);
  CHECK(d[1] == 30.0f);
  CHECK(d[2] == 38.0f);
  CHECK(d[3] == 44.0f);
}

TEST_CASE("gemm_blocked equals gemm_naive bit for bit", "[gemm]") {
  struct Shape {
    int64_t m, n, k;
  };
  // Shapes cross the 6x8 tile, the 96-row, 512-column and 256-deep cache blocks and their edges.
  const Shape shapes[] = {{1, 1, 1}, {5, 7, 3}, {6, 8, 256}, {13, 17, 257}, {97, 9, 600}, {40, 530, 70}, {7, 1030, 513}};
  const Trans trans[] = {Trans::N, Trans::T};
  uint32_t seed = 1;
  for (const auto& s : shapes) {
    for (Trans ta : trans) {
      for (Trans tb : trans) {
        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.75f, 0.0f}, std::pair{1.0f, 1.0f}, std::pair{-1.5f, 0.25f}}) {
          // Leading dimensions wider than the matrix, to exercise the strides.
          const int64_t lda = (ta == Trans::N ? s.k : s.m) + 3;
          const int64_t ldb = (tb == Trans::N ? s.n : s.k) + 1;
          const int64_t ldc = s.n + 2;
          const auto a = random_values((ta == Trans::N ? s.m : s.k) * lda, seed++);
          const auto b = random_values((tb == Trans::N ? s.k : s.n) * ldb, seed++);
          const auto c0 = random_values(s.m * ldc, seed++);
          auto expected = c0;
          gemm_naive(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, expected.data(), ldc);
          for (GemmIsa isa : {GemmIsa::Auto, GemmIsa::Baseline}) {
            for (int threads : {1, 2, 3, 5}) {
              auto got = c0;
              gemm_blocked(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, got.data(), ldc,
                           threads, isa);
              INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " ta=" << int(ta) << " tb=" << int(tb)
                        << " alpha=" << alpha << " beta=" << beta << " threads=" << threads << " isa=" << int(isa));
              REQUIRE(got == expected);  // includes the padding columns between n and ldc, left untouched
            }
          }
        }
      }
    }
  }
}

TEST_CASE("gemm_blocked: many threads on a large product stay bit-identical", "[gemm]") {
  const int64_t m = 300, n = 260, k = 700;
  const auto a = random_values(m * k, 11);
  const auto b = random_values(n * k, 12);
  std::vector<float> one(m * n), many(m * n);
  gemm_blocked(Trans::N, Trans::T, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, one.data(), n, 1);
  gemm_blocked(Trans::N, Trans::T, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, many.data(), n, 7);
  CHECK(one == many);
}

TEST_CASE("gemm with k = 0 gives alpha·0 + beta·C", "[gemm]") {
  float c[] = {4, 8};
  const float dummy[] = {1};
  gemm_blocked(Trans::N, Trans::N, 1, 2, 0, 1.0f, dummy, 1, dummy, 2, 0.5f, c, 2);
  CHECK(c[0] == 2.0f);
  CHECK(c[1] == 4.0f);
}

TEST_CASE("matmul wrappers: layouts of a linear layer and size checks", "[gemm]") {
  // x [2,3] = [[1,2,3],[4,5,6]], W [out=2, in=3] = [[1,0,-1],[2,1,0]].
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<float> w = {1, 0, -1, 2, 1, 0};
  // y = x·Wᵀ: [[1-3, 2+2], [4-6, 8+5]] = [[-2,4],[-2,13]].
  std::vector<float> y(4);
  matmul_nt(x, w, y, 2, 2, 3);
  CHECK(y == std::vector<float>{-2, 4, -2, 13});
  // dx = dy·W with dy = [[1,1],[0,2]]: [[1+2, 0+1, -1+0], [0+4, 0+2, 0]] = [[3,1,-1],[4,2,0]].
  const std::vector<float> dy = {1, 1, 0, 2};
  std::vector<float> dx(6);
  matmul_nn(dy, w, dx, 2, 3, 2);
  CHECK(dx == std::vector<float>{3, 1, -1, 4, 2, 0});
  // dW += dyᵀ·x, starting from ones: dyᵀ = [[1,0],[1,2]]; dyᵀ·x = [[1,2,3],[1+8,2+10,3+12]] = [[1,2,3],[9,12,15]].
  std::vector<float> dw(6, 1.0f);
  matmul_tn(dy, x, dw, 2, 3, 2, /*accumulate=*/true);
  CHECK(dw == std::vector<float>{2, 3, 4, 10, 13, 16});
  std::vector<float> bad(5);
  CHECK_THROWS_AS(matmul_nt(x, w, bad, 2, 2, 3), std::invalid_argument);
  CHECK_THROWS_WITH(matmul_nt(x, bad, y, 2, 2, 3), Catch::Contains("b has 5 elements, expected 6"));
}
