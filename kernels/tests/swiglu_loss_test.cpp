// SwiGLU and cross-entropy tests: hand-computed values, gradient checks of the double references,
// the fused layout against the separate one, ignore index and bad targets.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/loss/cross_entropy_cpu.h"
#include "kernels/swiglu/swiglu_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::test;

TEST_CASE("swiglu: values by hand", "[swiglu]") {
  // g = 1, u = 2: σ(1) = 0.7310586, silu = 0.7310586, out = 1.4621172.
  // dgate = 1 · 2 · 0.7310586 · (1 + 1 · 0.2689414) = 1.4621172 · 1.2689414 = 1.8553410; dup = silu = 0.7310586.
  const std::vector<float> g = {1.0f}, u = {2.0f}, dout = {1.0f};
  std::vector<float> out(1), dg(1), du(1);
  swiglu_forward(g, u, out);
  swiglu_backward(g, u, dout, dg, du);
  CHECK(out[0] == Approx(1.4621172).epsilon(1e-6));
  CHECK(dg[0] == Approx(1.8553410).epsilon(1e-6));
  CHECK(du[0] == Approx(0.7310586).epsilon(1e-6));
  // Large negative gates give silu -> 0 without overflow trouble.
  const std::vector<float> big = {-200.0f};
  swiglu_forward(big, u, out);
  CHECK(out[0] == 0.0f);
  std::vector<float> two(2);
  CHECK_THROWS_AS(swiglu_forward(g, two, out), std::invalid_argument);
}

TEST_CASE("swiglu: gradients match finite differences and fused equals separate", "[swiglu][grad]") {
  const int64_t rows = 3, ffn = 4;
  const auto h = random_values<double>(rows * 2 * ffn, 91, -3.0, 3.0);
  const auto r = random_values<double>(rows * ffn, 92);
  auto loss = [&](const std::vector<double>& hv) {
    std::vector<double> out(rows * ffn);
    swiglu_forward_fused(hv, rows, ffn, out);
    return dot(r, out);
  };
  std::vector<double> dh(h.size());
  swiglu_backward_fused(h, r, rows, ffn, dh);
  CHECK(gradients_match(dh, numeric_gradient(loss, h)));
  // Separate arrays: row 1's gate and up halves.
  const std::vector<double> g(h.begin() + 2 * ffn, h.begin() + 3 * ffn), u(h.begin() + 3 * ffn, h.begin() + 4 * ffn);
  const std::vector<double> d(r.begin() + ffn, r.begin() + 2 * ffn);
  std::vector<double> dg(ffn), du(ffn), fused_out(rows * ffn), out(ffn);
  swiglu_backward(g, u, d, dg, du);
  swiglu_forward(g, u, out);
  swiglu_forward_fused(h, rows, ffn, fused_out);
  CHECK(std::equal(dg.begin(), dg.end(), dh.begin() + 2 * ffn));
  CHECK(std::equal(du.begin(), du.end(), dh.begin() + 3 * ffn));
  CHECK(std::equal(out.begin(), out.end(), fused_out.begin() + ffn));
}

TEST_CASE("cross_entropy: values by hand, ignore index", "[loss]") {
  // Token 0: logits [1, 2, 3], target 2: lse = 3 + log(1 + e^-1 + e^-2) = 3.4076060, loss 0.4076060.
  // Token 1 is ignored, so the mean is token 0's loss. softmax = [0.0900306, 0.2447285, 0.6652410];
  // dlogits row 0 = softmax − onehot(2) = [0.0900306, 0.2447285, −0.3347590]; row 1 = 0.
  const std::vector<float> logits = {1, 2, 3, 5, -1, 0.5f};
  const std::vector<int32_t> targets = {2, kIgnoreIndex};
  std::vector<float> lse(2), dlogits(6);
  const double loss = cross_entropy_forward(logits, targets, 3, kIgnoreIndex, lse);
  CHECK(loss == Approx(0.4076060).epsilon(1e-6));
  CHECK(lse[0] == Approx(3.4076060).epsilon(1e-6));
  CHECK(lse[1] == 0.0f);
  cross_entropy_backward(logits, targets, lse, 3, kIgnoreIndex, 1.0f, dlogits);
  CHECK(dlogits[0] == Approx(0.0900306).epsilon(1e-5));
  CHECK(dlogits[1] == Approx(0.2447285).epsilon(1e-5));
  CHECK(dlogits[2] == Approx(-0.3347590).epsilon(1e-5));
  CHECK(dlogits[3] == 0.0f);
  // Large logits stay finite (the max is taken out before exp): [1000, 999, 998] with target 0 has loss
  // log(1 + e^-1 + e^-2) = 0.4076060, up to the float step at 1000.4 (2^-14 = 6.1e-5) in lse − logit.
  const std::vector<float> big = {1000, 999, 998};
  const std::vector<int32_t> t0 = {0};
  std::vector<float> lse1(1);
  CHECK(cross_entropy_forward(big, t0, 3, kIgnoreIndex, lse1) == Approx(0.4076060).margin(6.2e-5));
  // All ignored: loss 0.
  const std::vector<int32_t> none = {kIgnoreIndex, kIgnoreIndex};
  CHECK(cross_entropy_forward(logits, none, 3, kIgnoreIndex, lse) == 0.0);
  const std::vector<int32_t> bad = {3, 0};
  CHECK_THROWS_WITH(cross_entropy_forward(logits, bad, 3, kIgnoreIndex, lse),
                    Catch::Contains("targets[0] = 3 is outside [0, 3)"));
}

TEST_CASE("cross_entropy: gradient matches finite differences", "[loss][grad]") {
  const int64_t vocab = 6;
  const std::vector<int32_t> targets = {1, 5, kIgnoreIndex, 0};
  const auto logits = random_values<double>(targets.size() * vocab, 101, -4.0, 4.0);
  auto loss = [&](const std::vector<double>& l) {
    std::vector<double> lse(targets.size());
    return 0.3 * cross_entropy_forward(l, targets, vocab, kIgnoreIndex, lse);
  };
  std::vector<double> lse(targets.size()), dlogits(logits.size());
  cross_entropy_forward(logits, targets, vocab, kIgnoreIndex, lse);
  cross_entropy_backward(logits, targets, lse, vocab, kIgnoreIndex, 0.3, dlogits);
  CHECK(gradients_match(dlogits, numeric_gradient(loss, logits)));
}
