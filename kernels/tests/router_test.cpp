// Router and load-balancing tests: a hand-worked biased group-limited top-k with ties, agreement with
// a sort-based re-derivation on random logits, gradient checks of the weights and the balance loss,
// the bias update and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "kernels/router/load_balance_cpu.h"
#include "kernels/router/router_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::test;

TEST_CASE("router_forward: biased group-limited top-k by hand", "[router]") {
  // 8 experts in 4 groups of 2, keep 2 groups, top 3, route scale 2.5.
  // logits [2, -2, 0.5, 0, 1, 0.3, 0.3, 1] -> s = [0.8808, 0.1192, 0.6225, 0.5, 0.7311, 0.5744, 0.5744, 0.7311].
  // bias[3] = 0.9 -> choice c = s except c3 = 1.4.
  // Group scores (sum of both members): g0 = 1.0, g1 = 0.6225 + 1.4 = 2.0225, g2 = g3 = 1.3055 (a tie,
  // bit-equal sums of the same two values): keep g1 and g2 (lower index wins the tie).
  // Experts 2..5 by c: 3 (1.4), 4 (0.7311), 2 (0.6225). Expert 0 has the highest s but its group
  // lost; expert 7 equals expert 4 but its group lost the tie.
  // Weights from the unbiased s: 2.5 · [0.5, 0.7311, 0.6225] / 1.8536 = [0.67439, 0.98604, 0.83956].
  const RouterConfig config{8, 3, 4, 2, 2.5f};
  const std::vector<float> logits = {2, -2, 0.5f, 0, 1, 0.3f, 0.3f, 1};
  std::vector<float> bias(8, 0.0f);
  bias[3] = 0.9f;
  std::vector<float> scores(8), weights(3);
  std::vector<int32_t> idx(3);
  router_forward(logits, bias, config, scores, idx, weights);
  CHECK(scores[3] == 0.5f);
  CHECK(idx == std::vector<int32_t>{3, 4, 2});
  CHECK(weights[0] == Approx(0.6743933).epsilon(1e-6));
  CHECK(weights[1] == Approx(0.9860420).epsilon(1e-6));
  CHECK(weights[2] == Approx(0.8395648).epsilon(1e-6));

  // Without the bias: groups g0 = 1.0, g1 = 1.1225, g2 = g3 = 1.3055 -> keep g2, g3; experts 4..7 with
  // c = [0.7311, 0.5744, 0.5744, 0.7311]: 4, then 7 (tie with 4, higher index), then 5 (tie with 6).
  std::fill(bias.begin(), bias.end(), 0.0f);
  router_forward(logits, bias, config, scores, idx, weights);
  CHECK(idx == std::vector<int32_t>{4, 7, 5});
  CHECK(weights[0] == weights[1]);

  // All logits equal: every score ties; the lowest indices win: experts 0, 1, 2 with 2.5 / 3 each.
  const std::vector<float> flat(8, 0.25f);
  router_forward(flat, bias, config, scores, idx, weights);
  CHECK(idx == std::vector<int32_t>{0, 1, 2});
  CHECK(weights[0] == Approx(2.5 / 3).epsilon(1e-6));
}

TEST_CASE("router_forward: agrees with a sort-based re-derivation on random logits", "[router]") {
  const RouterConfig config{64, 8, 8, 4, 2.5f};
  const int64_t tokens = 200;
  const auto logits = random_values(tokens * config.experts, 161, -3.0, 3.0);
  const auto bias = random_values(config.experts, 162, -0.3, 0.3);
  std::vector<float> scores(logits.size()), weights(tokens * config.top_k);
  std::vector<int32_t> idx(tokens * config.top_k);
  router_forward(logits, bias, config, scores, idx, weights);
  const int64_t gs = config.experts / config.groups;
  auto by_value = [](const std::vector<float>& v) {
    return [&v](int64_t a, int64_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); };
  };
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> c(config.experts), gscore(config.groups);
    for (int64_t e = 0; e < config.experts; ++e) c[e] = scores[t * config.experts + e] + bias[e];
    for (int64_t g = 0; g < config.groups; ++g) {
      std::vector<int64_t> members(gs);
      std::iota(members.begin(), members.end(), g * gs);
      std::sort(members.begin(), members.end(), by_value(c));
      gscore[g] = c[members[0]] + c[members[1]];
    }
    std::vector<int64_t> groups(config.groups);
    std::iota(groups.begin(), groups.end(), 0);
    std::sort(groups.begin(), groups.end(), by_value(gscore));
    std::vector<int64_t> eligible;
    for (int64_t g = 0; g < config.topk_groups; ++g) {
      for (int64_t i = 0; i < gs; ++i) eligible.push_back(groups[g] * gs + i);
    }
    std::sort(eligible.begin(), eligible.end(), by_value(c));
    double sum = 0;
    for (int64_t k = 0; k < config.top_k; ++k) sum += scores[t * config.experts + eligible[k]];
    for (int64_t k = 0; k < config.top_k; ++k) {
      INFO("token " << t << " slot " << k);
      REQUIRE(idx[t * config.top_k + k] == eligible[k]);
      REQUIRE(weights[t * config.top_k + k] == Approx(2.5 * scores[t * config.experts + eligible[k]] / sum).epsilon(1e-6));
    }
  }
}

TEST_CASE("router: weight gradient through scores and sigmoid matches finite differences", "[router][grad]") {
  const RouterConfig config{12, 3, 4, 2, 2.5f};
  const int64_t tokens = 5;
  const auto logits = random_values<double>(tokens * config.experts, 171, -2.0, 2.0);
  const auto bias = random_values<double>(config.experts, 172, -0.2, 0.2);
  const auto r = random_values<double>(tokens * config.top_k, 173);
  std::vector<double> scores(logits.size()), weights(r.size());
  std::vector<int32_t> idx(r.size());
  router_forward(logits, bias, config, scores, idx, weights);
  auto loss = [&](const std::vector<double>& l) {
    std::vector<double> s(l.size()), w(r.size());
    std::vector<int32_t> i(r.size());
    router_forward(l, bias, config, s, i, w);
    REQUIRE(i == idx);  // the step does not change the choice
    return dot(r, w);
  };
  std::vector<double> dscores(scores.size()), dlogits(scores.size());
  router_weights_backward(scores, idx, r, config, dscores);
  router_sigmoid_backward(scores, dscores, dlogits);
  CHECK(gradients_match(dlogits, numeric_gradient(loss, logits)));
}

TEST_CASE("balance loss: by hand and gradient", "[router][grad]") {
  // One sequence of 2 tokens, 2 experts, top-1, alpha 0.1. Scores t0 [0.6, 0.2], t1 [0.3, 0.3]; both
  // chose expert 0. f = 2 / (1 · 2) · [2, 0] = [2, 0]. s' t0 = [0.75, 0.25], t1 = [0.5, 0.5];
  // P = [(0.75 + 0.5)/2, (0.25 + 0.5)/2] = [0.625, 0.375]. L = 0.1 · (2 · 0.625 + 0 · 0.375) = 0.125.
  const std::vector<float> s = {0.6f, 0.2f, 0.3f, 0.3f};
  const std::vector<int32_t> idx = {0, 0};
  CHECK(balance_loss_forward(s, idx, 1, 2, 2, 1, 0.1) == Approx(0.125).epsilon(1e-6));

  const int64_t batch = 2, seq = 3, experts = 6, top_k = 2;
  const auto scores = random_values<double>(batch * seq * experts, 181, 0.05, 0.95);
  std::vector<int32_t> topk(batch * seq * top_k);
  for (size_t i = 0; i < topk.size(); ++i) topk[i] = static_cast<int32_t>((i * 7 + i / 2) % experts);
  auto loss = [&](const std::vector<double>& sv) { return balance_loss_forward(sv, topk, batch, seq, experts, top_k, 0.01); };
  std::vector<double> ds(scores.size(), 0.0);
  balance_loss_backward(scores, topk, batch, seq, experts, top_k, 0.01, 1.0, ds);
  CHECK(gradients_match(ds, numeric_gradient(loss, scores)));
  // It adds: a second call with dloss 2 gives three times the gradient.
  const auto once = ds;
  balance_loss_backward(scores, topk, batch, seq, experts, top_k, 0.01, 2.0, ds);
  for (size_t i = 0; i < ds.size(); ++i) CHECK(ds[i] == Approx(3 * once[i]).epsilon(1e-12));
}

TEST_CASE("expert load, bias update and imbalance", "[router]") {
  // topk_idx of 4 tokens, top-2, 4 experts: loads [4, 1, 3, 0], mean 2.
  const std::vector<int32_t> idx = {0, 2, 0, 1, 2, 0, 0, 2};
  std::vector<int64_t> load(4, 0);
  count_expert_load(idx, 4, load);
  CHECK(load == std::vector<int64_t>{4, 1, 3, 0});
  // bias += 0.001 · sign(2 − load): [−1, +1, −1, +1] · 0.001.
  std::vector<float> bias = {0.5f, 0.5f, 0.5f, 0.5f};
  update_router_bias(load, 0.001f, bias);
  CHECK(bias == std::vector<float>{0.5f - 0.001f, 0.5f + 0.001f, 0.5f - 0.001f, 0.5f + 0.001f});
  // Balanced load leaves the bias alone (sign 0).
  const std::vector<int64_t> even = {2, 2, 2, 2};
  auto same = bias;
  update_router_bias(even, 0.001f, same);
  CHECK(same == bias);
  CHECK(expert_load_imbalance(load) == 2.0);  // max 4 / mean 2
  CHECK(expert_load_imbalance(even) == 1.0);
  const std::vector<int32_t> bad = {4};
  CHECK_THROWS_WITH(count_expert_load(bad, 4, load), Catch::Contains("= 4 is outside [0, 4)"));
}

TEST_CASE("router: bad configuration is named", "[router]") {
  const std::vector<float> logits(8), bias(8);
  std::vector<float> scores(8), w(3);
  std::vector<int32_t> idx(3);
  CHECK_THROWS_WITH(router_forward(logits, bias, {8, 3, 3, 2, 1.0f}, scores, idx, w),
                    Catch::Contains("config.experts (8) must be a multiple of config.groups (3)"));
  CHECK_THROWS_WITH(router_forward(logits, bias, {8, 5, 4, 2, 1.0f}, scores, idx, w),
                    Catch::Contains("config.top_k must be in [1, topk_groups · experts/groups = 4], found 5"));
  CHECK_THROWS_WITH(router_forward(logits, bias, {8, 3, 4, 5, 1.0f}, scores, idx, w),
                    Catch::Contains("config.topk_groups must be in [1, groups = 4], found 5"));
}
