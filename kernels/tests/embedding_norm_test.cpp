// Embedding and RMSNorm tests: hand-computed values, gradient checks of the double references
// against central differences, float against double, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/embedding/embedding_cpu.h"
#include "kernels/norm/rmsnorm_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::test;

TEST_CASE("embedding: lookup and weight gradient by hand", "[embedding]") {
  // table [3, 2] = [[1,2],[3,4],[5,6]], ids [2,0,2] -> [[5,6],[1,2],[5,6]].
  const std::vector<float> table = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> ids = {2, 0, 2};
  std::vector<float> out(6);
  embedding_forward(ids, table, 3, 2, out);
  CHECK(out == std::vector<float>{5, 6, 1, 2, 5, 6});
  // dout [[1,1],[2,2],[3,3]] into ones: row 2 += 1+3 = 4, row 0 += 2, row 1 unchanged.
  const std::vector<float> dout = {1, 1, 2, 2, 3, 3};
  std::vector<float> dtable(6, 1.0f);
  embedding_backward_weight(ids, dout, 3, 2, dtable);
  CHECK(dtable == std::vector<float>{3, 3, 1, 1, 5, 5});
  const std::vector<int32_t> bad = {0, 3};
  std::vector<float> out2(4);
  CHECK_THROWS_WITH(embedding_forward(bad, table, 3, 2, out2), Catch::Contains("ids[1] = 3 is outside the vocabulary [0, 3)"));
  CHECK_THROWS_AS(embedding_forward(ids, table, 3, 2, out2), std::invalid_argument);
}

TEST_CASE("embedding: weight gradient matches finite differences", "[embedding][grad]") {
  const int64_t vocab = 7, dim = 3;
  const std::vector<int32_t> ids = {4, 1, 4, 6, 0};
  const auto table = random_values<double>(vocab * dim, 71);
  const auto r = random_values<double>(ids.size() * dim, 72);
  auto loss = [&](const std::vector<double>& t) {
    std::vector<double> out(ids.size() * dim);
    embedding_forward(ids, t, vocab, dim, out);
    return dot(r, out);
  };
  std::vector<double> grad(vocab * dim, 0.0);
  embedding_backward_weight(ids, r, vocab, dim, grad);
  CHECK(gradients_match(grad, numeric_gradient(loss, table)));
}

TEST_CASE("rmsnorm: forward by hand", "[norm]") {
  // x = [3, 4], w = [1, 2], eps = 0: mean(x²) = (9 + 16) / 2 = 12.5, rstd = 1/sqrt(12.5) = 0.2828427;
  // y = [3 · 0.2828427 · 1, 4 · 0.2828427 · 2] = [0.8485281, 2.2627417].
  const std::vector<float> x = {3, 4}, w = {1, 2};
  std::vector<float> y(2), rstd(1);
  rmsnorm_forward(x, w, 1, 2, 0.0f, y, rstd);
  CHECK(rstd[0] == Approx(0.2828427).epsilon(1e-6));
  CHECK(y[0] == Approx(0.8485281).epsilon(1e-6));
  CHECK(y[1] == Approx(2.2627417).epsilon(1e-6));
  std::vector<float> short_w = {1};
  CHECK_THROWS_WITH(rmsnorm_forward(x, short_w, 1, 2, 0.0f, y, rstd), Catch::Contains("weight has 1 elements, expected 2"));
}

TEST_CASE("rmsnorm: input and weight gradients match finite differences", "[norm][grad]") {
  const int64_t rows = 3, dim = 5;
  const double eps = 1e-6;
  const auto x = random_values<double>(rows * dim, 81, -2.0, 2.0);
  const auto w = random_values<double>(dim, 82, 0.5, 1.5);
  const auto r = random_values<double>(rows * dim, 83);
  auto forward = [&](const std::vector<double>& xv, const std::vector<double>& wv) {
    std::vector<double> y(rows * dim), rstd(rows);
    rmsnorm_forward(xv, wv, rows, dim, eps, y, rstd);
    return dot(r, y);
  };
  std::vector<double> y(rows * dim), rstd(rows), dx(rows * dim), dw(dim, 0.0);
  rmsnorm_forward(x, w, rows, dim, eps, y, rstd);
  rmsnorm_backward_input(x, w, rstd, r, rows, dim, dx);
  rmsnorm_backward_weight(x, rstd, r, rows, dim, dw);
  CHECK(gradients_match(dx, numeric_gradient([&](const std::vector<double>& v) { return forward(v, w); }, x)));
  CHECK(gradients_match(dw, numeric_gradient([&](const std::vector<double>& v) { return forward(x, v); }, w)));

  // The float reference follows the double one to float precision.
  const std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), rf(r.begin(), r.end());
  std::vector<float> yf(rows * dim), rstdf(rows), dxf(rows * dim);
  rmsnorm_forward(xf, wf, rows, dim, 1e-6f, yf, rstdf);
  rmsnorm_backward_input(xf, wf, rstdf, rf, rows, dim, dxf);
  CHECK(max_scaled_error(to_double(yf), y, 1e-6, 1e-5) <= 1.0);
  CHECK(max_scaled_error(to_double(dxf), dx, 1e-6, 1e-5) <= 1.0);
}
