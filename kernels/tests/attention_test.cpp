// Attention core, RoPE and MLA layout tests: hand-computed values, causality, gradient checks of the
// double references, float against double, thread-count independence and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/attention/attention_cpu.h"
#include "kernels/attention/mla_layout_cpu.h"
#include "kernels/attention/rope_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::test;

TEST_CASE("attention_forward: two tokens by hand", "[attention]") {
  // One head, qk_dim 1 (scale 1), v_dim 1. q = [1, 2], k = [0.5, 1.5], v = [2, -1].
  // Token 0 sees only itself: out = v0 = 2, lse = q0·k0 = 0.5.
  // Token 1: s = [2·0.5, 2·1.5] = [1, 3]; P = [1, e²] / (1 + e²) = [0.1192029, 0.8807971];
  // out = 0.1192029·2 − 0.8807971 = −0.6423912; lse = log(e + e³) = 3 + log(1 + e^-2) = 3.1269280.
  const std::vector<float> q = {1, 2}, k = {0.5f, 1.5f}, v = {2, -1};
  std::vector<float> out(2), lse(2);
  attention_forward(q, k, v, {1, 2, 1, 1, 1}, out, lse);
  CHECK(out[0] == 2.0f);
  CHECK(lse[0] == 0.5f);
  CHECK(out[1] == Approx(-0.6423912).epsilon(1e-6));
  CHECK(lse[1] == Approx(3.1269280).epsilon(1e-6));
}

TEST_CASE("attention_forward: causal, and independent of the thread count", "[attention]") {
  const AttentionShape s{2, 9, 3, 6, 4};
  const int64_t nqk = s.batch * s.seq * s.heads * s.qk_dim, nv = s.batch * s.seq * s.heads * s.v_dim;
  auto q = random_values(nqk, 111), k = random_values(nqk, 112), v = random_values(nv, 113);
  std::vector<float> out(nv), lse(s.batch * s.heads * s.seq), out3(nv), lse3(lse.size());
  attention_forward(q, k, v, s, out, lse, 1);
  attention_forward(q, k, v, s, out3, lse3, 3);
  CHECK(out == out3);
  CHECK(lse == lse3);
  // Changing the last token's key and value changes only the last token's outputs.
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t i = 0; i < s.heads * s.qk_dim; ++i) k[((b * s.seq) + s.seq - 1) * s.heads * s.qk_dim + i] += 0.5f;
    for (int64_t i = 0; i < s.heads * s.v_dim; ++i) v[((b * s.seq) + s.seq - 1) * s.heads * s.v_dim + i] -= 0.5f;
  }
  std::vector<float> out2(nv), lse2(lse.size());
  attention_forward(q, k, v, s, out2, lse2);
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t t = 0; t < s.seq; ++t) {
      for (int64_t i = 0; i < s.heads * s.v_dim; ++i) {
        const int64_t idx = (b * s.seq + t) * s.heads * s.v_dim + i;
        if (t < s.seq - 1) {
          REQUIRE(out2[idx] == out[idx]);
        } else {
          REQUIRE(out2[idx] != out[idx]);
        }
      }
    }
  }
}

TEST_CASE("attention_backward: gradients match finite differences", "[attention][grad]") {
  const AttentionShape s{2, 5, 2, 3, 2};
  const int64_t nqk = s.batch * s.seq * s.heads * s.qk_dim, nv = s.batch * s.seq * s.heads * s.v_dim;
  const auto q = random_values<double>(nqk, 121, -1.5, 1.5);
  const auto k = random_values<double>(nqk, 122, -1.5, 1.5);
  const auto v = random_values<double>(nv, 123);
  const auto r = random_values<double>(nv, 124);
  auto loss = [&](const std::vector<double>& qv, const std::vector<double>& kv, const std::vector<double>& vv) {
    std::vector<double> out(nv), lse(s.batch * s.heads * s.seq);
    attention_forward(qv, kv, vv, s, out, lse);
    return dot(r, out);
  };
  std::vector<double> out(nv), lse(s.batch * s.heads * s.seq), dq(nqk), dk(nqk), dv(nv);
  attention_forward(q, k, v, s, out, lse);
  attention_backward(q, k, v, out, lse, r, s, dq, dk, dv);
  CHECK(gradients_match(dq, numeric_gradient([&](const std::vector<double>& x) { return loss(x, k, v); }, q)));
  CHECK(gradients_match(dk, numeric_gradient([&](const std::vector<double>& x) { return loss(q, x, v); }, k)));
  CHECK(gradients_match(dv, numeric_gradient([&](const std::vector<double>& x) { return loss(q, k, x); }, v)));

  // The float reference follows the double one to float precision, on any thread count.
  const std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end()), rf(r.begin(), r.end());
  std::vector<float> outf(nv), lsef(lse.size()), dqf(nqk), dkf(nqk), dvf(nv), dq2(nqk), dk2(nqk), dv2(nv);
  attention_forward(qf, kf, vf, s, outf, lsef);
  attention_backward(qf, kf, vf, outf, lsef, rf, s, dqf, dkf, dvf, 1);
  attention_backward(qf, kf, vf, outf, lsef, rf, s, dq2, dk2, dv2, 4);
  CHECK(max_scaled_error(to_double(outf), out, 1e-6, 1e-5) <= 1.0);
  CHECK(max_scaled_error(to_double(dqf), dq, 1e-6, 1e-5) <= 1.0);
  CHECK(max_scaled_error(to_double(dkf), dk, 1e-6, 1e-5) <= 1.0);
  CHECK(max_scaled_error(to_double(dvf), dv, 1e-6, 1e-5) <= 1.0);
  CHECK(dq2 == dqf);
  CHECK(dk2 == dkf);
  CHECK(dv2 == dvf);
}

TEST_CASE("attention: bad sizes are named", "[attention]") {
  std::vector<float> q(12), k(12), v(8), out(8), lse(3);
  const AttentionShape s{1, 2, 2, 3, 2};
  CHECK_THROWS_WITH(attention_forward(q, k, v, s, out, lse), Catch::Contains("lse has 3 elements, expected 4"));
  std::vector<float> lse_ok(4);
  CHECK_THROWS_WITH(attention_forward(q, k, v, {1, 2, 2, 4, 2}, out, lse_ok), Catch::Contains("q has 12 elements, expected 16"));
}

TEST_CASE("rope: rotation by hand, inverse, gradient", "[attention][rope]") {
  // rope_dim 4, theta 10000: frequencies 10000^0 = 1 and 10000^(-2/4) = 0.01.
  // Position 1, x = [1, 0, 1, 0]: y = [cos 1, sin 1, cos 0.01, sin 0.01] = [0.5403023, 0.8414710, 0.99995, 0.0099998].
  std::vector<float> cos(3 * 2), sin(3 * 2);
  rope_tables(3, 4, 10000.0, cos, sin);
  CHECK(cos[2] == Approx(0.5403023).epsilon(1e-6));
  CHECK(sin[3] == Approx(0.0099998).epsilon(1e-5));
  const std::vector<int32_t> pos = {1};
  const std::vector<float> x = {1, 0, 1, 0};
  std::vector<float> y(4);
  rope_forward(x, pos, 1, 4, cos, sin, y);
  CHECK(y[0] == Approx(0.5403023).epsilon(1e-6));
  CHECK(y[1] == Approx(0.8414710).epsilon(1e-6));
  CHECK(y[2] == Approx(0.99995).epsilon(1e-6));
  CHECK(y[3] == Approx(0.0099998).epsilon(1e-5));
  // The backward is the inverse rotation: backward(forward(x)) = x, here in place.
  rope_backward(y, pos, 1, 4, cos, sin, y);
  for (int i = 0; i < 4; ++i) CHECK(y[i] == Approx(x[i]).margin(1e-6));
  const std::vector<int32_t> far = {3};
  CHECK_THROWS_WITH(rope_forward(x, far, 1, 4, cos, sin, y), Catch::Contains("positions[0] = 3 is outside the tables' [0, 3)"));

  // Gradient check, several heads and positions, double.
  const int64_t heads = 3, dim = 6;
  const std::vector<int32_t> positions = {0, 4, 2, 7};
  std::vector<double> cd(8 * 3), sd(8 * 3);
  rope_tables(8, dim, 10000.0, cd, sd);
  const auto xd = random_values<double>(positions.size() * heads * dim, 131);
  const auto r = random_values<double>(xd.size(), 132);
  auto loss = [&](const std::vector<double>& xv) {
    std::vector<double> out(xv.size());
    rope_forward(xv, positions, heads, dim, cd, sd, out);
    return dot(r, out);
  };
  std::vector<double> dx(xd.size());
  rope_backward(r, positions, heads, dim, cd, sd, dx);
  CHECK(gradients_match(dx, numeric_gradient(loss, xd)));
}

TEST_CASE("mla layout: split/concat round trip, shared rope key and its gradient", "[attention]") {
  // x [2, 3 + 2] = [[1,2,3,4,5],[6,7,8,9,10]] -> xa [[1,2,3],[6,7,8]], xb [[4,5],[9,10]].
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::vector<float> xa(6), xb(4), back(10);
  split_columns(x, 2, 3, 2, xa, xb);
  CHECK(xa == std::vector<float>{1, 2, 3, 6, 7, 8});
  CHECK(xb == std::vector<float>{4, 5, 9, 10});
  concat_columns(xa, xb, 2, 3, 2, back);
  CHECK(back == x);
  // One token, two heads, nope 2, rope 1: k_nope [[1,2],[3,4]], k_rope [9] -> k [[1,2,9],[3,4,9]].
  // Backward of dk [[1,1,1],[2,2,2]]: dk_nope [[1,1],[2,2]], dk_rope [1 + 2] = [3].
  const std::vector<float> kn = {1, 2, 3, 4}, kr = {9};
  std::vector<float> k(6);
  concat_shared_rope(kn, kr, 1, 2, 2, 1, k);
  CHECK(k == std::vector<float>{1, 2, 9, 3, 4, 9});
  const std::vector<float> dk = {1, 1, 1, 2, 2, 2};
  std::vector<float> dkn(4), dkr(1, 42.0f);
  concat_shared_rope_backward(dk, 1, 2, 2, 1, dkn, dkr);
  CHECK(dkn == std::vector<float>{1, 1, 2, 2});
  CHECK(dkr == std::vector<float>{3});
  CHECK_THROWS_WITH(split_columns(x, 2, 3, 1, xa, xb), Catch::Contains("x has 10 elements, expected 8"));

  // Gradient of the shared rope part, double: tokens 3, heads 4, nope 2, rope 3.
  const auto rope_in = random_values<double>(3 * 3, 141);
  const auto nope_in = random_values<double>(3 * 4 * 2, 142);
  const auto r = random_values<double>(3 * 4 * 5, 143);
  auto loss = [&](const std::vector<double>& kr_v) {
    std::vector<double> kk(r.size());
    concat_shared_rope(nope_in, kr_v, 3, 4, 2, 3, kk);
    return dot(r, kk);
  };
  std::vector<double> d_nope(nope_in.size()), d_rope(rope_in.size());
  concat_shared_rope_backward(r, 3, 4, 2, 3, d_nope, d_rope);
  CHECK(gradients_match(d_rope, numeric_gradient(loss, rope_in)));
}
